// Fixed-point projection of float32 input by uint32 arithmetic on its bits: the path
// bind_fixed_lns.cpp's fixed_encode takes for float32 arrays whenever fixed_f32_ok() holds.
// It computes what units_of_parts() + fixed_project() (fixed.h) compute for those calls --
// the integer part n of |x| * 2^F, nu's leading 32 bits F32 and a sticky bit -- and shares the
// rule that decides the rounding, rounds_away() (project.h).  The generic path stays the
// reference for every other call (and tests/test_fixed_codec.py checks this path against the
// exact oracle in every mode).
#pragma once
#include "minifloat/fixed.h"
#include "minifloat/project.h"

namespace mf {

// The calls this path covers:
// - at most 16 bits (uint8/uint16 codes, so NO_CODE is free as a marker, and every limit is
//   below 2^16);
// - not saturation "wrap" (it needs n mod 2^bits of arbitrarily large n);
// - not stochastic_b or stochastic_c with 32 random bits (they read nu beyond 32 bits).
// frac_bits lies in -32..64 (FixedFormat checks it), so a float32 subnormal (|x| < 2^-126)
// times 2^F is below 2^-62: its integer part is 0 and only the fraction matters.
MF_HD bool fixed_f32_ok(const FixedSpec& f, int32_t mode, int32_t sat, int32_t n) {
  return f.bits <= 16 && sat != SAT_WRAP &&
         !((mode == STOCHASTIC_B || mode == STOCHASTIC_C) && n >= 32);
}

struct FixedF32Consts {
  int32_t F;           // frac_bits
  uint32_t max_code;   // code of max_int, of min_int
  uint32_t min_code;
  uint32_t limit_pos;  // largest n of a non-negative / negative result that is in range
  uint32_t limit_neg;
  uint32_t mask;
  uint32_t scale_bits;  // float32 bits of 2^F (F in -32..64: a normal float32)
};

MF_HD FixedF32Consts make_fixed_f32_consts(const FixedSpec& f) {
  FixedF32Consts c;
  c.F = f.frac_bits;
  c.max_code = fixed_code_of_int(f, f.max_int);
  c.min_code = fixed_code_of_int(f, f.min_int);
  c.limit_pos = uint32_t(f.max_int);
  c.limit_neg = uint32_t(-f.min_int);
  c.mask = f.mask;
  c.scale_bits = uint32_t(127 + f.frac_bits) << 23;
  return c;
}

// The code of the float32 with bits u (NO_CODE for NaN).  |x| = sig * 2^(be1 - 150) with
// be1 = max(exponent field, 1); in units of 2^-F it is sig * 2^-t, t = 150 - be1 - F.
template <int32_t MODE>
MF_HD uint32_t fixed_project_f32(const FixedF32Consts& c, int32_t n, uint32_t u, uint32_t R) {
  const uint32_t neg = u >> 31;
  const uint32_t mag = u & 0x7FFFFFFFu;
  const int32_t be = int32_t(mag >> 23);
  const int32_t be1 = max_of(be, 1);
  const uint32_t sig = sel<uint32_t>(uint32_t(be == 0), mag, (mag & 0x7FFFFFu) | 0x800000u);
  const int32_t t = 150 - be1 - c.F;  // bits of sig below the unit (negative: above it)
  // Integer part.  t < -8 only for normal x (see fixed_f32_ok), sig >= 2^23: then
  // n >= 2^32 > every limit, marked `big`; otherwise sig << -t < 2^32.
  const uint32_t big = uint32_t(t < -8);
  const uint32_t nint = sel<uint32_t>(uint32_t(t >= 0), shr(sig, max_of(t, 0)),
                                      shl(sig, min_of(max_of(-t, 0), 8)));
  // nu: the bits of sig below the unit, left-aligned to 32 bits, and the sticky rest.
  const int32_t tp = max_of(t, 0);
  uint32_t F32, sticky;
  if constexpr (!is_stochastic(MODE)) {
    // Deterministic modes look only at nu vs 1/2 and nu != 0.  With t > 31 the clamp gives
    // F32 = sig << 1 < 2^25: below 1/2 and non-zero, as nu = sig / 2^t is; else F32 is exact
    // (t <= 0: shl by 32 gives 0, nu = 0).
    F32 = shl(sig, 32 - min_of(tp, 31));
    sticky = 0u;
  } else {
    F32 = sel<uint32_t>(uint32_t(tp <= 32), shl(sig, max_of(32 - tp, 0)),
                        shr(sig, max_of(tp - 32, 0)));
    sticky = uint32_t(tp > 32) & uint32_t(shl(F32, max_of(tp - 32, 0)) != sig);
  }
  const uint32_t up = rounds_away<uint32_t>(MODE, F32, sticky, nint & 1u, neg, n, R);
  const uint32_t nr = nint + up;  // nint < 2^32 - 1 when !big (sig < 2^24 shifted by <= 8)
  const uint32_t limit = sel<uint32_t>(neg, c.limit_neg, c.limit_pos);
  const uint32_t over = big | uint32_t(nr > limit) | uint32_t(be == 255);  // +-Inf saturate
  const uint32_t in_range = sel<uint32_t>(neg, (0u - nr) & c.mask, nr);
  const uint32_t code = sel<uint32_t>(over, sel<uint32_t>(neg, c.min_code, c.max_code),
                                      in_range);
  return sel<uint32_t>(uint32_t(mag > 0x7F800000u), NO_CODE, code);
}

// ---- Round to nearest, ties to even, with the FPU's own rounding (host CPUs only) ----
// The same codes as fixed_project_f32<NEAREST_EVEN> (calls where fixed_f32_ok holds, the
// thread's FPU as f32_fpu_ok in project_f32.h requires) in fewer vector instructions.
// v = |x| * 2^F is exact in float32 wherever it is normal; where it is not (v < 2^-126) the
// rounded integer is 0 both ways.  For v < 2^23 the float32 sum v + 2^23 lies in
// [2^23, 2^24], where the ulp is 1, so its correct rounding is v rounded to the nearest
// integer, ties to even, and its bits minus those of 2^23 are that integer n (2^24 gives
// n = 2^23).  v >= 2^23 (Inf included) means n > every limit (bits <= 16): saturate.
MF_HD uint32_t fixed_project_f32_rne(const FixedF32Consts& c, uint32_t u) {
  const uint32_t neg = u >> 31;
  const uint32_t mag = u & 0x7FFFFFFFu;
  const float v = float_of(mag) * float_of(c.scale_bits);
  const uint32_t vb = bits_of(v);
  const uint32_t nr = bits_of(v + 8388608.0f) - 0x4B000000u;  // 0x4B000000: 2^23
  const uint32_t limit = sel<uint32_t>(neg, c.limit_neg, c.limit_pos);
  // signed compares (both sides below 2^31): AVX2 has no unsigned vector compare
  const uint32_t over =
      uint32_t(int32_t(vb) >= 0x4B000000) | uint32_t(int32_t(nr) > int32_t(limit));
  const uint32_t in_range = sel<uint32_t>(neg, (0u - nr) & c.mask, nr);
  const uint32_t code = sel<uint32_t>(over, sel<uint32_t>(neg, c.min_code, c.max_code),
                                      in_range);
  return sel<uint32_t>(uint32_t(int32_t(mag) > 0x7F800000), NO_CODE, code);
}

}  // namespace mf
