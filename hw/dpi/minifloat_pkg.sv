// minifloat_pkg: the minifloat C ABI (csrc/capi/minifloat_c.h) imported through DPI-C, so a
// SystemVerilog testbench can compute golden results in simulation.  Link the simulation with
// libminifloat_c (python -c "import minifloat; print(minifloat.get_library())").
//
// A format is passed as `int fmt[8]`, the fields of the C struct mf_format in order:
// '{exp_bits, man_bits, bias, is_signed, subnormals, infinities, nan_layout, negative_zero}
// (a fixed-size unpacked array of int reaches C as a pointer to its first element, which has
// the layout of mf_format).  Every function returns an MF_* error code (0 = MF_OK).
package minifloat_pkg;
  // NaN layouts
  localparam int MF_NAN_IEEE = 0, MF_NAN_MAX = 1, MF_NAN_NEGZERO = 2, MF_NAN_NONE = 3;
  // rounding modes
  localparam int MF_NEAREST_EVEN = 0, MF_NEAREST_AWAY = 1, MF_NEAREST_ZERO = 2,
                 MF_TOWARD_ZERO = 3, MF_TOWARD_POSITIVE = 4, MF_TOWARD_NEGATIVE = 5,
                 MF_ROUND_ODD = 6, MF_STOCHASTIC_A = 7, MF_STOCHASTIC_B = 8,
                 MF_STOCHASTIC_C = 9, MF_STOCHASTIC_EQUAL = 10;
  // saturation
  localparam int MF_SAT_NONE = 0, MF_SAT_FINITE = 1, MF_SAT_PROPAGATE = 2, MF_SAT_NAN = 3;
  // operations
  localparam int MF_OP_ADD = 0, MF_OP_SUB = 1, MF_OP_MUL = 2, MF_OP_DIV = 3, MF_OP_FMA = 4,
                 MF_OP_SQRT = 5;
  // flags
  localparam int unsigned MF_FLAG_NV = 1, MF_FLAG_DZ = 2, MF_FLAG_OF = 4, MF_FLAG_UF = 8,
                          MF_FLAG_NX = 16;
  // error codes
  localparam int MF_OK = 0, MF_ERR_NULL = 1, MF_ERR_FORMAT = 2, MF_ERR_ROUNDING = 3,
                 MF_ERR_SATURATION = 4, MF_ERR_RANDOM_BITS = 5, MF_ERR_RANDOM_VALUE = 6,
                 MF_ERR_OP = 7, MF_ERR_CODE = 8, MF_ERR_NO_CODE = 9;

  import "DPI-C" function int mf_abi_version();
  import "DPI-C" function string mf_error_string(input int err);
  import "DPI-C" function int mf_format_bits(input int fmt[8]);
  import "DPI-C" function int mf_op(input int op, input int in_fmt[8], input int out_fmt[8],
                                    input int unsigned a, input int unsigned b,
                                    input int unsigned c, input int rounding,
                                    input int saturation, input int random_bits,
                                    input int unsigned r, output int unsigned result,
                                    output int unsigned flags);
  import "DPI-C" function int mf_encode(input int fmt[8], input real x, input int rounding,
                                        input int saturation, input int random_bits,
                                        input int unsigned r, output int unsigned code,
                                        output int unsigned flags);
  import "DPI-C" function int mf_decode(input int fmt[8], input int unsigned code,
                                        output real value);
endpackage
