// Code -> exact value.  Every finite value of a valid format is a double
// (minifloat/formats/float.py rejects formats whose range leaves float64), so decode_double
// is exact.
#pragma once
#include "minifloat/spec.h"

namespace mf {

// Value of magnitude index k (not NaN/Inf): see docs/semantics.md §1.
MF_HD double ladder_value(const FloatSpec& f, uint32_t k) {
  const uint32_t E = k >> f.man_bits;
  const uint32_t M = k & ((uint32_t(1) << f.man_bits) - 1u);
  if (f.subnormals && E == 0) return double(M) * pow2(1 - f.bias - f.man_bits);
  return double((uint32_t(1) << f.man_bits) + M) * pow2(int32_t(E) - f.bias - f.man_bits);
}

MF_HD double decode_double(const FloatSpec& f, uint32_t code) {
  const double inf = double_of(0x7FF0000000000000ull);
  const double nan = double_of(0x7FF8000000000000ull);
  const bool neg = (code & f.sign_bit) != 0;
  if (is_nan_code(f, code)) return neg ? -nan : nan;  // the NaN keeps its code's sign bit
  const uint32_t k = code & f.mag_mask;
  double v = is_inf_code(f, code) ? inf : ladder_value(f, k);
  return neg ? -v : v;
}

}  // namespace mf
