// mf_round: project an exact real result into a minifloat format (combinational).
//
// Written from docs/semantics.md §1-3 and docs/hardware.md §2 (not generated from the package):
// round |x| to the format's precision with an unbounded exponent range above (subnormal
// spacing below), then saturate, then encode.  The exact value arrives as
//   cls = 0: finite, |x| = p * 2^l (p may be 0 only when cls says zero)
//   cls = 1: zero (sign neg), cls = 2: infinity (sign neg), cls = 3: NaN
// An invalid operation or a NaN operand gives the canonical *positive* NaN (docs/hardware.md
// §1: "+ for an invalid operation"); an overflowing value or an infinity that saturation turns
// into NaN keeps its sign where the layout has signed NaNs.
//
// Format parameters: EXP exponent bits (>= 1), MAN mantissa bits (>= 1), BIAS, a sign bit,
// subnormals, and NAN_LAYOUT:
//   0 "ieee":    NaN = all-ones E with M != 0 (canonical: M = 100..0), Inf = all-ones E, M = 0
//                (INF = 1; with INF = 0 that code is an ordinary finite value)
//   1 "max":     NaN = all-ones magnitude of each sign (OCP E4M3), Inf = the magnitude below
//   2 "negzero": NaN = the code 100..0 (P3109, FNUZ), no -0, Inf = all-ones magnitude
// INF: the format has +-Inf.
//
// Rounding (rnd_mode): 0 nearest_even, 1 toward_zero, 2 stochastic_a with RBITS random bits
// (rounds away when floor(nu * 2^RBITS) + rbits >= 2^RBITS; nu = (|x| - t) / (u - t)).
// Saturation (sat): 0 none (overflow -> Inf, else NaN, else max; toward_zero -> max),
// 1 finite (overflow and +-Inf -> +-max), 2 propagate (overflow -> +-max, Inf stays Inf),
// 3 nan (overflow and +-Inf -> NaN).
module mf_round #(
  parameter EXP = 4,
  parameter MAN = 3,
  parameter BIAS = 7,
  parameter NAN_LAYOUT = 0,
  parameter INF = 1,
  parameter RBITS = 4,
  parameter PW = 8        // width of the exact significand p
) (
  input  wire [1:0]         cls,
  input  wire               neg,
  input  wire [PW-1:0]      p,
  input  wire signed [31:0] l,
  input  wire [1:0]         rnd_mode,
  input  wire [1:0]         sat,
  input  wire [RBITS-1:0]   rbits,
  output reg  [EXP+MAN:0]   code
);
  localparam BITS = EXP + MAN + 1;
  localparam [BITS-1:0] SIGN_BIT = {1'b1, {(BITS-1){1'b0}}};
  localparam [BITS-2:0] TOP = {(BITS-1){1'b1}};                    // all-ones magnitude
  localparam [BITS-2:0] EXP_ONES = {{EXP{1'b1}}, {MAN{1'b0}}};      // all-ones exponent
  localparam [BITS-2:0] KMAX = (NAN_LAYOUT == 0) ? (INF ? EXP_ONES - 1 : EXP_ONES)
                             : (NAN_LAYOUT == 1) ? TOP - 1 - INF
                             : TOP - INF;
  localparam [BITS-2:0] INF_MAG = (NAN_LAYOUT == 0) ? EXP_ONES
                                : (NAN_LAYOUT == 1) ? TOP - 1 : TOP;
  localparam [BITS-2:0] QUIET = 1 << (MAN - 1);                      // M = 100..0
  localparam [BITS-1:0] NAN_CODE = (NAN_LAYOUT == 0) ? {1'b0, EXP_ONES | QUIET}
                                 : (NAN_LAYOUT == 1) ? {1'b0, TOP} : SIGN_BIT;
  localparam HAS_NEG_ZERO = (NAN_LAYOUT != 2);
  localparam EMIN = 1 - BIAS;                 // exponent of the lowest normal binade
  localparam XW = PW + RBITS + 4;             // width of the fraction arithmetic
  localparam SHIFT_MAX = PW + RBITS + 2;      // beyond this every bit of p is below nu's bits
  localparam KW = 32;

  integer i, top, ex, qexp, shift, binade;
  reg [PW-1:0] kq;
  reg [XW-1:0] rem, unit, twice_rem, frac_n;
  reg above, tie, odd, up, inward;
  reg [KW-1:0] k;
  reg [BITS-1:0] max_code, signed_nan, inf_or_nan, overflow_code;

  always @* begin
    // leading one of p
    top = 0;
    for (i = 0; i < PW; i = i + 1)
      if (p[i]) top = i;
    ex = l + top;                                   // 2^ex <= |x| < 2^(ex+1)
    qexp = ((ex > EMIN) ? ex : EMIN) - MAN;         // exponent of the quantum at |x|
    shift = qexp - l;                               // bits of p below the quantum
    if (shift > SHIFT_MAX) shift = SHIFT_MAX;
    if (shift <= 0) begin
      kq = p << (-shift);
      rem = {XW{1'b0}};
      unit = {{(XW-1){1'b0}}, 1'b1};
    end else begin
      kq = p >> shift;
      rem = {{(XW-PW){1'b0}}, p} - ({{(XW-PW){1'b0}}, kq} << shift);
      unit = {{(XW-1){1'b0}}, 1'b1} << shift;       // one quantum, in units of 2^l
    end
    // nu = rem / unit
    twice_rem = rem << 1;
    above = twice_rem > unit;
    tie = twice_rem == unit;
    frac_n = (rem << RBITS) >> ((shift > 0) ? shift : 0);   // floor(nu * 2^RBITS)
    binade = (ex > EMIN) ? ex - EMIN : 0;
    if (binade > (1 << EXP)) binade = 1 << EXP;     // far above the range: overflows anyway
    k = (binade << MAN) + {{(KW-MAN-1){1'b0}}, kq[MAN:0]};  // magnitude index of t (kq < 2^(MAN+1))
    odd = k[0];
    case (rnd_mode)
      2'd0: up = above | (tie & odd);                               // nearest_even
      2'd1: up = 1'b0;                                              // toward_zero
      2'd2: up = (frac_n + {{(XW-RBITS){1'b0}}, rbits}) >= ({{(XW-1){1'b0}}, 1'b1} << RBITS); // stochastic_a
      default: up = 1'b0;
    endcase
    k = k + {{(KW-1){1'b0}}, up};
    // saturation and encoding
    inward = (rnd_mode == 2'd1);
    max_code = {neg, KMAX};
    // the NaN an overflowing value or an infinity becomes keeps its sign (the layouts ieee
    // and max have a NaN of each sign); an invalid operation gives +NaN (cls = 3)
    signed_nan = (NAN_LAYOUT == 2) ? NAN_CODE : {neg, NAN_CODE[BITS-2:0]};
    inf_or_nan = INF ? {neg, INF_MAG} : signed_nan;
    if (sat == 2'd3) overflow_code = signed_nan;
    else if (sat == 2'd1 || sat == 2'd2 || inward) overflow_code = max_code;
    else overflow_code = inf_or_nan;
    case (cls)
      2'd3: code = NAN_CODE;
      2'd2: code = (sat == 2'd1) ? max_code : (sat == 2'd3) ? signed_nan : inf_or_nan;
      2'd1: code = (neg && HAS_NEG_ZERO) ? SIGN_BIT : {BITS{1'b0}};
      default: begin
        if (k > KMAX) code = overflow_code;
        else if (k == 0) code = (neg && HAS_NEG_ZERO) ? SIGN_BIT : {BITS{1'b0}};
        else code = {neg, k[BITS-2:0]};
      end
    endcase
  end
endmodule
