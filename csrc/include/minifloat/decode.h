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

// The binary32 bits of v rounded to nearest-even (overflow to +-Inf, NaN kept quiet with its
// sign and the top 22 bits of its payload): what a hardware double -> float conversion gives
// with subnormal results kept, as NumPy's cast does.  Integer operations only, so that GPU
// kernels produce float32 subnormals although CuPy compiles them with -ftz=true (which turns
// a cast into cvt.rn.ftz.f32.f64 and flushes every result below 2^-126 to zero).
MF_HD uint32_t binary32_bits_rne(double v) {
  const uint64_t u = bits_of(v);
  const uint32_t sign = uint32_t(u >> 63) << 31;
  const int32_t be = int32_t((u >> 52) & 0x7FFu);
  const uint64_t mant = u & ((uint64_t(1) << 52) - 1u);
  if (be == 0x7FF)
    return sign | 0x7F800000u | (mant ? 0x00400000u | uint32_t(mant >> 29) : 0u);
  if (be == 0) return sign;  // zero, or a double subnormal: below 2^-1022, rounds to 0
  const int32_t e = be - 1023;                 // v = sig 2^(e - 52), sig in [2^52, 2^53)
  const uint64_t sig = mant | (uint64_t(1) << 52);
  // Bits of sig below the float32 quantum: 29 in the normal range, more below 2^-126.
  const int32_t shift = 29 + (e < -126 ? -126 - e : 0);
  if (shift > 53) return sign;                 // below 2^-150: rounds to zero
  uint64_t q = sig >> shift;
  const uint64_t rem = sig & ((uint64_t(1) << shift) - 1u);
  const uint64_t half = uint64_t(1) << (shift - 1);
  q += uint64_t(rem > half || (rem == half && (q & 1u)));
  // Normal: exponent field (e + 127) plus the significand without its hidden bit, written
  // as (e + 126) << 23 + q so that a carry of q to 2^24 moves to the next binade; subnormal:
  // q itself (q = 2^23 is the smallest normal, exponent field 1).
  const uint64_t mag = (e >= -126 ? uint64_t(e + 126) << 23 : 0u) + q;
  return sign | (mag >= 0x7F800000u ? 0x7F800000u : uint32_t(mag));
}

}  // namespace mf
