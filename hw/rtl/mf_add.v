// mf_add: result = a + b correctly rounded (combinational), written from docs/semantics.md and
// docs/hardware.md.  Parameters and the rnd_mode / sat / rbits inputs: see mf_round.v.
// The exact sum is formed in a fixed-point adder wide enough for any two values of the
// format (2^EXP + MAN bits: area grows with the exponent range; this is a reference design),
// then rounded once.  Special cases (IEEE 754): NaN operand or Inf - Inf -> NaN, Inf + x -> Inf,
// an exact zero sum is +0, (-0) + (-0) = -0 (the RTL has no toward_negative mode).
module mf_add #(
  parameter EXP = 4,
  parameter MAN = 3,
  parameter BIAS = 7,
  parameter NAN_LAYOUT = 0,
  parameter INF = 1,
  parameter RBITS = 4
) (
  input  wire [EXP+MAN:0] a,
  input  wire [EXP+MAN:0] b,
  input  wire [1:0]       rnd_mode,
  input  wire [1:0]       sat,
  input  wire [RBITS-1:0] rbits,
  output wire [EXP+MAN:0] result
);
  localparam PW = MAN + (1 << EXP) + 1;   // operands aligned to the lower LSB, plus a carry
  wire [1:0] ca, cb;
  wire na, nb;
  wire [MAN:0] sa, sb;
  wire signed [31:0] la, lb;
  mf_unpack #(.EXP(EXP), .MAN(MAN), .BIAS(BIAS), .NAN_LAYOUT(NAN_LAYOUT), .INF(INF))
    ua (.x(a), .cls(ca), .neg(na), .sig(sa), .lsb(la));
  mf_unpack #(.EXP(EXP), .MAN(MAN), .BIAS(BIAS), .NAN_LAYOUT(NAN_LAYOUT), .INF(INF))
    ub (.x(b), .cls(cb), .neg(nb), .sig(sb), .lsb(lb));

  reg [1:0] cls;
  reg neg;
  reg [PW-1:0] aa, bb, p;
  reg signed [31:0] l;
  always @* begin
    // align both significands to the lower of the two LSB exponents (zeros have sig 0)
    l = (la < lb) ? la : lb;
    aa = {{(PW-MAN-1){1'b0}}, sa} << (la - l);
    bb = {{(PW-MAN-1){1'b0}}, sb} << (lb - l);
    if (ca == 2'd1) aa = {PW{1'b0}};
    if (cb == 2'd1) bb = {PW{1'b0}};
    if (na == nb) begin
      p = aa + bb;
      neg = na;
    end else if (aa >= bb) begin
      p = aa - bb;
      neg = na;
    end else begin
      p = bb - aa;
      neg = nb;
    end
    if (ca == 2'd3 || cb == 2'd3) cls = 2'd3;
    else if (ca == 2'd2 && cb == 2'd2) cls = (na == nb) ? 2'd2 : 2'd3;
    else if (ca == 2'd2 || cb == 2'd2) cls = 2'd2;
    else if (p == 0) cls = 2'd1;
    else cls = 2'd0;
    if (ca == 2'd2) neg = na;
    else if (cb == 2'd2) neg = nb;
    else if (p == 0) neg = (ca == 2'd1 && cb == 2'd1) ? (na & nb) : 1'b0;
  end
  mf_round #(.EXP(EXP), .MAN(MAN), .BIAS(BIAS), .NAN_LAYOUT(NAN_LAYOUT), .INF(INF),
             .RBITS(RBITS), .PW(PW))
    r (.cls(cls), .neg(neg), .p(p), .l(l), .rnd_mode(rnd_mode), .sat(sat), .rbits(rbits),
       .code(result));
endmodule
