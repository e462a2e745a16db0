// mf_lanes: LANES copies of mf_mul (OP = 0) or mf_add (OP = 1) side by side, lane i on bits
// [i*BITS +: BITS] of a, b, result and [i*RBITS +: RBITS] of rbits: lets a testbench present
// many operand pairs per simulation step.  Parameters as in mf_round.v.
module mf_lanes #(
  parameter OP = 0,
  parameter LANES = 16,
  parameter EXP = 4,
  parameter MAN = 3,
  parameter BIAS = 7,
  parameter NAN_LAYOUT = 0,
  parameter INF = 1,
  parameter RBITS = 4
) (
  input  wire [LANES*(EXP+MAN+1)-1:0] a,
  input  wire [LANES*(EXP+MAN+1)-1:0] b,
  input  wire [1:0]                   rnd_mode,
  input  wire [1:0]                   sat,
  input  wire [LANES*RBITS-1:0]       rbits,
  output wire [LANES*(EXP+MAN+1)-1:0] result
);
  localparam BITS = EXP + MAN + 1;
  genvar i;
  generate
    for (i = 0; i < LANES; i = i + 1) begin : lane
      if (OP == 0) begin : m
        mf_mul #(.EXP(EXP), .MAN(MAN), .BIAS(BIAS), .NAN_LAYOUT(NAN_LAYOUT), .INF(INF),
                 .RBITS(RBITS))
          u (.a(a[i*BITS +: BITS]), .b(b[i*BITS +: BITS]), .rnd_mode(rnd_mode), .sat(sat),
             .rbits(rbits[i*RBITS +: RBITS]), .result(result[i*BITS +: BITS]));
      end else begin : s
        mf_add #(.EXP(EXP), .MAN(MAN), .BIAS(BIAS), .NAN_LAYOUT(NAN_LAYOUT), .INF(INF),
                 .RBITS(RBITS))
          u (.a(a[i*BITS +: BITS]), .b(b[i*BITS +: BITS]), .rnd_mode(rnd_mode), .sat(sat),
             .rbits(rbits[i*RBITS +: RBITS]), .result(result[i*BITS +: BITS]));
      end
    end
  endgenerate
endmodule
