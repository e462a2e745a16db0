// tb_mf_dpi: every operand pair of an 8-bit format through the example RTL (hw/rtl mf_mul /
// mf_add), each result checked against the C ABI called through DPI-C (minifloat_pkg).
// Parameters: OP 0 = mul, 1 = add; the format (EXP, MAN, BIAS, NAN_LAYOUT, INF: signed, with
// subnormals); MODE 0 nearest_even, 1 toward_zero (the RTL's rnd_mode encoding); SAT 0..3.
// Prints "DPI-C: <n> mismatches in 65536 pairs" and the first mismatches.
module tb_mf_dpi #(
  parameter int OP = 0,
  parameter int EXP = 4,
  parameter int MAN = 3,
  parameter int BIAS = 7,
  parameter int NAN_LAYOUT = 0,
  parameter int INF = 1,
  parameter int MODE = 0,
  parameter int SAT = 0
);
  import minifloat_pkg::*;
  localparam int BITS = EXP + MAN + 1;
  logic [BITS-1:0] a, b, result;
  logic [1:0] rnd_mode, sat;
  logic rbits;
  if (OP == 0) begin : g_mul
    mf_mul #(.EXP(EXP), .MAN(MAN), .BIAS(BIAS), .NAN_LAYOUT(NAN_LAYOUT), .INF(INF), .RBITS(1))
      dut (.a(a), .b(b), .rnd_mode(rnd_mode), .sat(sat), .rbits(rbits), .result(result));
  end else begin : g_add
    mf_add #(.EXP(EXP), .MAN(MAN), .BIAS(BIAS), .NAN_LAYOUT(NAN_LAYOUT), .INF(INF), .RBITS(1))
      dut (.a(a), .b(b), .rnd_mode(rnd_mode), .sat(sat), .rbits(rbits), .result(result));
  end

  int fmt[8];
  int err, errors, c_mode, c_op;
  int unsigned want, flags;
  initial begin
    fmt = '{EXP, MAN, BIAS, 1, 1, INF, NAN_LAYOUT, (NAN_LAYOUT == MF_NAN_NEGZERO) ? 0 : 1};
    if (mf_abi_version() != 1) $fatal(1, "unexpected minifloat C ABI version");
    if (mf_format_bits(fmt) != BITS) $fatal(1, "format rejected by the C ABI");
    c_mode = (MODE == 0) ? MF_NEAREST_EVEN : MF_TOWARD_ZERO;
    c_op = (OP == 0) ? MF_OP_MUL : MF_OP_ADD;
    rnd_mode = MODE[1:0];
    sat = SAT[1:0];
    rbits = 1'b0;
    errors = 0;
    for (int i = 0; i < (1 << (2 * BITS)); i++) begin
      a = i[2*BITS-1:BITS];
      b = i[BITS-1:0];
      #1;
      err = mf_op(c_op, fmt, fmt, a, b, 0, c_mode, SAT, 0, 0, want, flags);
      if (err != MF_OK) $fatal(1, "mf_op: %s", mf_error_string(err));
      if (result !== want[BITS-1:0]) begin
        errors++;
        if (errors <= 10)
          $display("mismatch: a=%h b=%h DUT %h C ABI %h (flags %b)", a, b, result,
                   want[BITS-1:0], flags[4:0]);
      end
    end
    $display("DPI-C: %0d mismatches in %0d pairs", errors, 1 << (2 * BITS));
    $finish;
  end
endmodule
