// mf_unpack: the exact value of a minifloat code (docs/hardware.md §1), combinational.
//   cls = 0 finite non-zero: |x| = sig * 2^lsb, 1 zero, 2 infinity, 3 NaN; neg = sign bit.
// Signed formats with subnormals; EXP, MAN, BIAS, NAN_LAYOUT, INF as in mf_round.v.
module mf_unpack #(
  parameter EXP = 4,
  parameter MAN = 3,
  parameter BIAS = 7,
  parameter NAN_LAYOUT = 0,
  parameter INF = 1
) (
  input  wire [EXP+MAN:0]   x,
  output reg  [1:0]         cls,
  output wire               neg,
  output reg  [MAN:0]       sig,
  output reg  signed [31:0] lsb
);
  localparam BITS = EXP + MAN + 1;
  localparam [BITS-2:0] TOP = {(BITS-1){1'b1}};
  wire [EXP-1:0] e = x[EXP+MAN-1:MAN];
  wire [MAN-1:0] m = x[MAN-1:0];
  wire [BITS-2:0] k = x[BITS-2:0];
  assign neg = x[BITS-1];
  reg is_nan, is_inf;
  always @* begin
    case (NAN_LAYOUT)
      0: begin
        is_nan = (&e) && (m != 0);
        is_inf = INF && (&e) && (m == 0);
      end
      1: begin
        is_nan = (k == TOP);
        is_inf = INF && (k == TOP - 1);
      end
      default: begin
        is_nan = neg && (k == 0);
        is_inf = INF && (k == TOP);
      end
    endcase
    if (is_nan) cls = 2'd3;
    else if (is_inf) cls = 2'd2;
    else if (k == 0) cls = 2'd1;
    else cls = 2'd0;
    sig = (e == 0) ? {1'b0, m} : {1'b1, m};
    if (e == 0) lsb = 1 - BIAS - MAN;
    else lsb = $signed({{(32-EXP){1'b0}}, e}) - BIAS - MAN;
  end
endmodule
