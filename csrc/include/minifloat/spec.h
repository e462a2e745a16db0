// Plain-old-data descriptor of a float format and the constants derived from it.
// See docs/semantics.md §1: a code is sign | E | M; the magnitude index k = (E << m) | M
// orders the non-negative values, which is what makes rounding a "+1 on k" decision.
#pragma once
#include "minifloat/config.h"

namespace mf {

enum NanLayout : int32_t {
  NAN_IEEE = 0,     // all-ones exponent, non-zero mantissa
  NAN_MAX = 1,      // the all-ones magnitude of each sign (OCP E4M3)
  NAN_NEGZERO = 2,  // the single code 100...0 (FNUZ, IEEE P3109)
  NAN_NONE = 3,
};

struct FloatSpec {
  // --- parameters (what the user chose) ---
  int32_t exp_bits;       // e
  int32_t man_bits;       // m
  int32_t bias;           // any integer
  int32_t is_signed;      // 1: a sign bit is the top bit of the code
  int32_t subnormals;     // 1: E == 0 is the subnormal binade (and k == 0 is zero)
  int32_t infinities;     // 1: the format has +-Inf
  int32_t nan_layout;     // NanLayout
  int32_t negative_zero;  // 1: the code sign|0 is -0
  // --- derived (make_float_spec) ---
  int32_t bits;           // total bits
  uint32_t mag_mask;      // bits of the magnitude index
  uint32_t sign_bit;      // 1 << (bits - 1) for signed formats, else 0
  int32_t emin;           // exponent of the lowest normal binade: 1 - bias, or -bias without subnormals
  int32_t has_zero, has_nan, has_inf;
  int32_t kmax;           // largest finite magnitude index
  uint32_t inf_mag;       // magnitude index of Inf (when has_inf)
  uint32_t nan_mag;       // magnitude of the canonical NaN (ieee/max layouts); sign added from input
  uint32_t num_codes;     // 2^bits (0 for the 32-bit accumulator spec)
};

// Derive the constants.  Validity (widths, layouts, float64 range) is checked in Python
// (minifloat/formats/float.py, which owns the error messages and mirrors this derivation in
// derive(); tests/test_descriptors_core.py compares the two); this function assumes valid
// parameters.
MF_HD FloatSpec make_float_spec(int32_t e, int32_t m, int32_t bias, int32_t is_signed,
                                int32_t subnormals, int32_t infinities, int32_t nan_layout,
                                int32_t negative_zero) {
  FloatSpec f;
  f.exp_bits = e;
  f.man_bits = m;
  f.bias = bias;
  f.is_signed = is_signed ? 1 : 0;
  f.subnormals = subnormals ? 1 : 0;
  f.infinities = infinities ? 1 : 0;
  f.nan_layout = nan_layout;
  f.negative_zero = (is_signed && negative_zero && nan_layout != NAN_NEGZERO) ? 1 : 0;
  f.bits = e + m + f.is_signed;
  f.mag_mask = (uint32_t(1) << (e + m)) - 1u;
  f.sign_bit = f.is_signed ? (uint32_t(1) << (f.bits - 1)) : 0u;
  f.emin = f.subnormals ? 1 - bias : -bias;
  f.has_zero = f.subnormals;
  f.num_codes = f.bits >= 32 ? 0u : (uint32_t(1) << f.bits);  // 0: binary32 accumulators
  const uint32_t top = f.mag_mask;  // all-ones magnitude
  f.inf_mag = 0;
  f.nan_mag = 0;
  f.has_inf = f.infinities;
  if (nan_layout == NAN_IEEE) {
    const uint32_t exp_ones = top & ~((uint32_t(1) << m) - 1u);
    f.has_nan = m > 0;
    f.inf_mag = exp_ones;
    f.nan_mag = exp_ones | (m > 0 ? (uint32_t(1) << (m - 1)) : 0u);
    // With Inf, the last finite code is just below the all-ones exponent; without it, the
    // all-ones exponent with zero mantissa is an ordinary finite value.
    f.kmax = int32_t(f.infinities ? exp_ones - 1u : exp_ones);
  } else if (nan_layout == NAN_MAX) {
    f.has_nan = 1;
    f.nan_mag = top;
    f.inf_mag = top - 1u;
    f.kmax = int32_t(top) - 1 - (f.infinities ? 1 : 0);
  } else {  // NEGZERO or NONE: the NaN (if any) is not a magnitude
    f.has_nan = nan_layout == NAN_NEGZERO;
    f.inf_mag = top;
    f.kmax = int32_t(top) - (f.infinities ? 1 : 0);
  }
  return f;
}

MF_HD bool is_nan_code(const FloatSpec& f, uint32_t code) {
  const uint32_t k = code & f.mag_mask;
  switch (f.nan_layout) {
    case NAN_IEEE: return f.has_nan && (k >> f.man_bits) == (f.mag_mask >> f.man_bits) &&
                          (k & ((uint32_t(1) << f.man_bits) - 1u)) != 0;
    case NAN_MAX: return k == f.mag_mask;
    case NAN_NEGZERO: return code == f.sign_bit;
    default: return false;
  }
}

MF_HD bool is_inf_code(const FloatSpec& f, uint32_t code) {
  return f.has_inf && !is_nan_code(f, code) && (code & f.mag_mask) == f.inf_mag;
}

// The canonical NaN code that results from an operation (sign of the input kept where the
// layout has a signed NaN).
MF_HD uint32_t nan_code(const FloatSpec& f, uint32_t neg) {
  return f.nan_layout == NAN_NEGZERO ? f.sign_bit : (f.nan_mag | (neg ? f.sign_bit : 0u));
}

}  // namespace mf
