// Projection of float32 input by uint32 arithmetic on its bits: the path csrc/module.cpp's
// encode loops take for float32 arrays whenever f32_path_ok() holds.  For those calls it
// supersedes round_magnitude() + parts_of_float(); it computes the same thing (same t, nu, k)
// and shares the two parts that carry the rules: the rounding predicate rounds_away() and the
// encoding of the rounded magnitude finish_code_masks() (saturation, specials, unsigned,
// flush), both in project.h.
// The generic path stays the reference for every other input type and call, and the GPU
// backend; tests/test_encode_f32_fast.py checks this path against the exact oracle and
// ml_dtypes.
#pragma once
#include "minifloat/project.h"

namespace mf {

// The calls this path covers:
// - emin >= -126: the format's lowest normal binade lies within float32's normal range, so a
//   float32 subnormal input always lies below it and its exponent may be taken as -126
//   without normalising it (the quantum there is 2^(emin-m) whatever the exact exponent);
// - man_bits <= 22: the quantum is at least 2 float32 ulps in the normal range (shift >= 1);
// - not stochastic_b or stochastic_c with 32 random bits: they read nu beyond 32 bits
//   (floor(nu 2^33), and the rounding of nu 2^32), and F holds 32 bits of nu plus a sticky bit.
MF_HD bool f32_path_ok(const FloatSpec& f, int32_t mode, int32_t n) {
  return f.emin >= -126 && f.man_bits <= 22 &&
         !((mode == STOCHASTIC_B || mode == STOCHASTIC_C) && n >= 32);
}

// Per-call constants of the float32 path.
struct F32Consts {
  int32_t s;           // 23 - m: float32 mantissa bits below the quantum in the normal range
  int32_t emin127;     // emin + 127: biased float32 exponent of the format's lowest normal binade
  uint32_t base;       // (127 - bias) << m: k = (float32 bits >> s) - base in the normal range
  uint32_t no_sub;     // 1: the format has no subnormals (below the ladder -> k = 0)
};

MF_HD F32Consts make_f32_consts(const FloatSpec& f) {
  F32Consts c;
  c.s = 23 - f.man_bits;
  c.emin127 = f.emin + 127;
  // 127 - bias >= 0 under f32_path_ok (emin >= -126 means bias <= 127).
  c.base = uint32_t(127 - f.bias) << f.man_bits;
  c.no_sub = f.subnormals ? 0u : 1u;
  return c;
}

// The rounded magnitude index k of the float32 with bits u (finite or not: the caller's
// finish_code_masks() overrides the specials).  MODE is fixed at compile time so that the loop
// keeps only the arithmetic that mode needs.
//
// In the normal range of the format (exponent >= emin), the float32 bits themselves are the
// ladder shifted left by s: (exponent field << 23 | mantissa) >> s - base = (E << m) | M,
// and a carry out of the mantissa moves to the next binade exactly as k + 1 does.  Below it
// (subnormal results) the quantum is 2^(emin - m): the significand with its hidden bit is
// shifted by s + d, d the number of binades below emin.  F = floor(nu 2^32) and sticky then
// describe nu exactly, as round_magnitude() gives them to rounds_away().
template <int32_t MODE>
MF_HD uint32_t round_f32(const F32Consts& c, int32_t n, uint32_t u, uint32_t R) {
  const uint32_t neg = u >> 31;
  const uint32_t mag = u & 0x7FFFFFFFu;
  const int32_t be = int32_t(mag >> 23);
  const int32_t be1 = max_of(be, 1);            // float32 subnormals: exponent -126 (see above)
  const int32_t d = c.emin127 - be1;             // binades below the lowest normal one
  const uint32_t sub = uint32_t(d > 0);
  const uint32_t sig = mag - (uint32_t(be1 - 1) << 23);  // significand with its hidden bit
  const uint32_t val = sel<uint32_t>(sub, sig, mag);
  const uint32_t base = sel<uint32_t>(sub, 0u, c.base);
  const int32_t D = c.s + max_of(d, 0);  // bits of val below the quantum
  // A shift of 32 or more leaves kt = 0 (val < 2^24 there): clamp to keep shifts defined.
  const int32_t Dc = min_of(D, 31);
  const uint32_t kt = (val >> Dc) - base;
  // F: the bits of val below the quantum, left-aligned (shifting left by 32 - D drops the
  // bits above them); when D > 32, val < 2^24 lies wholly below the quantum.
  uint32_t F, sticky;
  if constexpr (!is_stochastic(MODE)) {
    // Deterministic modes look only at nu vs 1/2 and nu != 0.  With D > 31 the clamp gives
    // F = val << 1 < 2^25: below 1/2 and non-zero, as nu = val / 2^D is; else F is exact.
    F = val << (32 - Dc);
    sticky = 0u;
  } else {
    // Stochastic modes read up to 32 bits of nu exactly, and stochastic_c its sticky bit.
    F = sel<uint32_t>(uint32_t(D <= 32), shl(val, max_of(32 - D, 0)),
                      shr(val, max_of(D - 32, 0)));
    sticky = uint32_t(D > 32) & uint32_t(shl(F, max_of(D - 32, 0)) != val);
  }
  const uint32_t up = rounds_away<uint32_t>(MODE, F, sticky, kt & 1u, neg, n, R);
  // Without subnormals, magnitudes below 2^emin have no lower neighbour: k = 0 under every mode
  // (as round_magnitude's below_ladder; be < emin + 127 also catches float32 subnormals).
  const uint32_t below = c.no_sub & uint32_t(be < c.emin127);
  return sel<uint32_t>(below, 0u, kt + up);
}

// The code of float32 bits u: project() for float32 input, on the float32 path.  kAll = false
// only where plain_call(f, p) holds (see finish_code_masks).
template <int32_t MODE, bool kAll = true>
MF_HD uint32_t project_f32(const FloatSpec& f, const Plan& p, const F32Consts& c, int32_t n,
                           uint32_t u, uint32_t R) {
  // Signed compares (the magnitude is below 2^31): AVX2 has no unsigned vector compare.
  const int32_t mag = int32_t(u & 0x7FFFFFFFu);
  return finish_code_masks<kAll>(f, p, int32_t(round_f32<MODE>(c, n, u, R)), u >> 31,
                                 0u - uint32_t(mag == 0), 0u - uint32_t(mag == 0x7F800000),
                                 0u - uint32_t(mag > 0x7F800000));
}

// ---- Round to nearest, ties to even, with the FPU's own rounding (host CPUs only) ----
// The same codes as project_f32<NEAREST_EVEN, false> in about half the vector instructions.
// In the format's normal range the ladder index is the float32 bits shifted right by s,
// rounded to nearest-even by the integer identity
//   RNE(v / 2^s) = (v + 2^(s-1) - 1 + ((v >> s) & 1)) >> s;
// below 2^emin (subnormal results) the quantum is 2^(emin - m), and the float32 addition
// |x| + 2^(emin - m + 23) rounds |x| to that quantum by itself: the sum lies in
// [2^(emin-m+23), 2^(emin-m+24)), where the float32 ulp is exactly the quantum, so the
// correctly rounded sum is the nearest-even multiple and its bits minus the magic's bits are
// the index.  That needs the FPU in round-to-nearest without denormals-are-zero (checked per
// call by f32_fpu_ok) and a magic within float32's range (f32_rne_ok).  The parity bit
// (v >> s) & 1 is the index's own only when base is even: m >= 1 (f32_rne_ok).  The special cases
// follow the plan as finish_code_masks does; the difference is that a magnitude which rounds
// to zero takes the sign bit only where the format has -0, and the plan's zero codes are
// k = 0 with that sign, which f32_rne_ok requires.
MF_HD bool f32_rne_ok(const FloatSpec& f, const Plan& p) {
  return f32_path_ok(f, NEAREST_EVEN, 0) && plain_call(f, p) && f.has_zero && f.man_bits >= 1 &&
         f.emin + 127 + (23 - f.man_bits) <= 254 && p.zero[0] == 0u &&
         p.zero[1] == (f.negative_zero ? f.sign_bit : 0u) && p.zero_input[0] == p.zero[0] &&
         p.zero_input[1] == p.zero[1];
}

// The shifts E for which f with bias - E (emin + E: a block scale 2^E folded into the
// format) still satisfies f32_rne_ok, given that f does: only f32_path_ok's emin >= -126 and
// the magic's exponent emin + 127 + s <= 254 move with E, so they form the interval lo..hi.
MF_HD void f32_rne_shifts(const FloatSpec& f, int32_t& lo, int32_t& hi) {
  lo = -126 - f.emin;
  hi = 127 - (23 - f.man_bits) - f.emin;
}

// Whether the plan's Inf codes differ from its overflow codes (project_f32_rne's kInf).
MF_HD bool f32_rne_inf(const Plan& p) {
  return p.inf[0] != p.overflow[0] || p.inf[1] != p.overflow[1];
}

// Whether the calling thread's FPU rounds float32 additions as f32_rne needs: x86-64 MXCSR
// round-to-nearest with DAZ off (FTZ does not matter: the sums are normal).  Other targets
// keep the integer path.
// (Host code only: NVRTC accepts no unannotated functions, and the GPU never calls it.)
#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
inline bool f32_fpu_ok() {
#if defined(__x86_64__)
  unsigned csr;
  __asm__ volatile("stmxcsr %0" : "=m"(csr));
  return (csr & 0x6040u) == 0u;  // RC (bits 13-14) = nearest, DAZ (bit 6) = 0
#else
  return false;
#endif
}
#endif

// kInf: the plan's Inf codes differ from its overflow codes (saturation propagate); else an
// infinite input, whose index lies above kmax, takes the overflow codes as it must.
template <bool kInf>
MF_HD uint32_t project_f32_rne(const FloatSpec& f, const Plan& p, const F32Consts& c,
                               uint32_t u) {
  const uint32_t mag = u & 0x7FFFFFFFu;
  const uint32_t negm = uint32_t(int32_t(u) >> 31);
  const uint32_t thr = uint32_t(c.emin127) << 23;                // bits of 2^emin
  const uint32_t magic = uint32_t(c.emin127 + c.s) << 23;        // bits of 2^(emin - m + 23)
  const uint32_t half_m1 = (uint32_t(1) << (c.s - 1)) - 1u;
  const uint32_t kn = ((mag + half_m1 + ((mag >> c.s) & 1u)) >> c.s) - c.base;
  const uint32_t ks = (bits_of(float_of(mag) + float_of(magic)) - magic) & (c.no_sub - 1u);
  const int32_t k = int32_t(blend(0u - uint32_t(int32_t(mag) < int32_t(thr)), ks, kn));
  // Sign: the sign bit, except on a zero magnitude of a format without -0.
  const uint32_t nzm = 0u - uint32_t(f.negative_zero != 0);
  const uint32_t keep = negm & (nzm | ~(0u - uint32_t(k == 0)));
  uint32_t code = uint32_t(k) | (keep & f.sign_bit);
  code = blend(0u - uint32_t(k > f.kmax), by_sign(p.overflow, negm), code);
  if constexpr (kInf)
    code = blend(0u - uint32_t(int32_t(mag) == 0x7F800000), by_sign(p.inf, negm), code);
  return blend(0u - uint32_t(int32_t(mag) > 0x7F800000), by_sign(p.nan, negm), code);
}

}  // namespace mf
