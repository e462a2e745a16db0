// mf_mul: result = a * b correctly rounded (combinational), written from docs/semantics.md and
// docs/hardware.md.  Parameters and the rnd_mode / sat / rbits inputs: see mf_round.v.
// IEEE 754 special cases: NaN operand -> NaN, 0 * Inf -> NaN, Inf * x -> Inf, 0 * x -> 0
// (sign: XOR of the operands' signs).  The exact product is rounded once.
module mf_mul #(
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
  localparam PW = 2 * (MAN + 1);
  wire [1:0] ca, cb;
  wire na, nb;
  wire [MAN:0] sa, sb;
  wire signed [31:0] la, lb;
  mf_unpack #(.EXP(EXP), .MAN(MAN), .BIAS(BIAS), .NAN_LAYOUT(NAN_LAYOUT), .INF(INF))
    ua (.x(a), .cls(ca), .neg(na), .sig(sa), .lsb(la));
  mf_unpack #(.EXP(EXP), .MAN(MAN), .BIAS(BIAS), .NAN_LAYOUT(NAN_LAYOUT), .INF(INF))
    ub (.x(b), .cls(cb), .neg(nb), .sig(sb), .lsb(lb));

  reg [1:0] cls;
  always @* begin
    if (ca == 2'd3 || cb == 2'd3) cls = 2'd3;
    else if (ca == 2'd2 || cb == 2'd2) cls = (ca == 2'd1 || cb == 2'd1) ? 2'd3 : 2'd2;
    else if (ca == 2'd1 || cb == 2'd1) cls = 2'd1;
    else cls = 2'd0;
  end
  wire [PW-1:0] p = sa * sb;
  wire signed [31:0] l = la + lb;
  mf_round #(.EXP(EXP), .MAN(MAN), .BIAS(BIAS), .NAN_LAYOUT(NAN_LAYOUT), .INF(INF),
             .RBITS(RBITS), .PW(PW))
    r (.cls(cls), .neg(na ^ nb), .p(p), .l(l), .rnd_mode(rnd_mode), .sat(sat), .rbits(rbits),
       .code(result));
endmodule
