// Exact projection real -> code (docs/semantics.md §2-3; IEEE P3109 §4.7.3):
// round |x| to the format's precision with an unbounded exponent range, then saturate, then
// encode.  The input arrives as exact parts (|x| = sig * 2^e_lsb), so every input type is
// rounded once from its exact value.  Written branch-light so host compilers vectorise the
// loops in csrc/ and NVRTC compiles it unchanged.
#pragma once
#include "minifloat/spec.h"

namespace mf {

enum Rounding : int32_t {
  NEAREST_EVEN = 0, NEAREST_AWAY = 1, NEAREST_ZERO = 2, TOWARD_ZERO = 3,
  TOWARD_POSITIVE = 4, TOWARD_NEGATIVE = 5, ROUND_ODD = 6,
  STOCHASTIC_A = 7, STOCHASTIC_B = 8, STOCHASTIC_C = 9, STOCHASTIC_EQUAL = 10,
  NUM_ROUNDINGS = 11,
};

enum Saturation : int32_t { SAT_NONE = 0, SAT_FINITE = 1, SAT_PROPAGATE = 2, SAT_NAN = 3 };

enum InputClass : int32_t { IN_FINITE = 0, IN_ZERO = 1, IN_INF = 2, IN_NAN = 3 };

// Returned instead of a code when no code is faithful (NaN into a format without NaN).
constexpr uint32_t NO_CODE = 0xFFFFFFFFu;

MF_HD constexpr bool is_stochastic(int32_t mode) { return mode >= STOCHASTIC_A; }

// A real number in exact parts: |x| = sig * 2^e_lsb with 2^ex <= |x| < 2^(ex+1).
template <class W> struct Parts {
  int32_t cls;   // InputClass
  uint32_t neg;  // sign bit of the input
  W sig;
  int32_t e_lsb;
  int32_t ex;
};

// Shifts defined for every s >= 0 (a shift by >= the width gives 0), written without
// branches so that loops over them vectorise.
template <class W> MF_HD W shr(W v, int32_t s) {
  constexpr int32_t WB = int32_t(8 * sizeof(W));
  return W(v >> (s & (WB - 1))) & W(0 - W(s < WB));
}
template <class W> MF_HD W shl(W v, int32_t s) {
  constexpr int32_t WB = int32_t(8 * sizeof(W));
  return W(v << (s & (WB - 1))) & W(0 - W(s < WB));
}

// Branch-free select, c ? a : b, as bit masks.  Plain ?: chains are turned into jumps by
// GCC's jump threading, which then blocks vectorisation of the whole loop.
// c is a 0/1 flag (uint32_t, not bool: GCC does not vectorise bool conversions).
template <class T> MF_HD T sel(uint32_t c, T a, T b) {
  typedef decltype(T() + 0u) U;  // unsigned of at least 32 bits
  const U mask = U(0) - U(c);
  return T((U(a) & mask) | (U(b) & ~mask));
}
MF_HD uint32_t pick(uint32_t c, uint32_t a, uint32_t b) { return sel<uint32_t>(c, a, b); }
// mask ? a : b for an all-ones / all-zeros mask.
MF_HD uint32_t blend(uint32_t mask, uint32_t a, uint32_t b) { return b ^ ((a ^ b) & mask); }
// v[1] for negative inputs (negm all ones), else v[0].
MF_HD uint32_t by_sign(const uint32_t (&v)[2], uint32_t negm) {
  return v[0] ^ ((v[0] ^ v[1]) & negm);
}

// ---- The rounding predicate: does |x| move from t to u (one step away from zero)? ----
// F = floor(nu * 2^WB) and sticky = (nu * 2^WB is not an integer) describe nu exactly.
// odd = LSB of t's magnitude index; R = n random bits.  One switch, one line per mode.
// Flags are uint32_t 0/1 rather than bool: GCC does not vectorise bool conversions.
template <class W>
MF_HD uint32_t rounds_away(int32_t mode, W F, uint32_t sticky, uint32_t odd, uint32_t neg,
                           int32_t n, uint32_t R) {
  constexpr int32_t WB = int32_t(8 * sizeof(W));
  const W half = W(1) << (WB - 1);
  const uint32_t above_half = uint32_t(F > half) | (uint32_t(F == half) & sticky);
  const uint32_t at_half = uint32_t(F == half) & (sticky ^ 1u);
  const uint32_t inexact = uint32_t(F != 0) | sticky;
  switch (mode) {
    case NEAREST_EVEN: return above_half | (at_half & odd);
    case NEAREST_AWAY: return above_half | at_half;
    case NEAREST_ZERO: return above_half;
    case TOWARD_ZERO: return 0u;
    case TOWARD_POSITIVE: return inexact & (neg ^ 1u);
    case TOWARD_NEGATIVE: return inexact & neg;
    case ROUND_ODD: return inexact & (odd ^ 1u);
    case STOCHASTIC_A:  // floor(nu 2^n) + R >= 2^n
      return uint32_t(uint64_t(shr(F, WB - n)) + R >= (uint64_t(1) << n));
    case STOCHASTIC_B:  // floor(nu 2^(n+1)) + 2R + 1 >= 2^(n+1)
      return uint32_t(uint64_t(shr(F, WB - n - 1)) + 2ull * R + 1ull >= (uint64_t(1) << (n + 1)));
    case STOCHASTIC_C: {  // roundTiesToEven(nu 2^n) + R >= 2^n
      const W q = shr(F, WB - n);
      const W rest = shl(F, n);
      const uint32_t up = uint32_t(rest > half) |
                          (uint32_t(rest == half) & (sticky | uint32_t(q & 1u)));
      return uint32_t(uint64_t(q) + up + R >= (uint64_t(1) << n));
    }
    case STOCHASTIC_EQUAL: return inexact & uint32_t(R >= (uint32_t(1) << (n - 1)));
    default: return 0u;
  }
}

// ---- Magnitude rounding onto the ladder ----
// Returns the rounded magnitude index k (may exceed kmax: overflow is decided by the caller).
//
// kLean is the same computation with two shortcuts that callers may take only when they hold
// (the GPU backend checks them per call: lean_ok_float32 below; the CPU loops take the uint32
// path of project_f32.h for float32 input instead):  (1) the quantum is always below the
// input's LSB (shift >= 1), and (2) the mode is deterministic and sig < 2^(WB-2), so a shift
// of WB or more can be clamped to WB-1: nu is then below 1/2 and non-zero both before and
// after the clamp, which is all a deterministic mode looks at.  No sticky bit is needed.
template <class W, bool kLean = false>
MF_HD int32_t round_magnitude(const FloatSpec& f, int32_t mode, int32_t n, uint32_t R,
                              uint32_t neg, W sig, int32_t e_lsb, int32_t ex) {
  constexpr int32_t WB = int32_t(8 * sizeof(W));
  const int32_t m = f.man_bits;
  // Without subnormals the ladder stops at 2^emin: smaller magnitudes have no lower
  // neighbour and go to the smallest magnitude (k = 0) under every mode.
  const uint32_t below_ladder = uint32_t(f.subnormals == 0) & uint32_t(ex < f.emin);
  const int32_t qexp = max_of(ex, f.emin) - m;  // exponent of the quantum at |x|
  W kq, F;                                      // kq = |t| / quantum < 2^(m+1)
  uint32_t sticky;                              // F, sticky: nu exactly (see rounds_away)
  if constexpr (kLean) {
    const int32_t shift = min_of(qexp - e_lsb, WB - 1);
    kq = W(sig >> shift);
    F = W(W(sig - W(kq << shift)) << (WB - shift));
    sticky = 0u;
  } else {
    const int32_t shift = qexp - e_lsb;  // bits of sig below the quantum
    const int32_t sp = max_of(shift, 0);
    kq = sel<W>(uint32_t(shift > 0), shr(sig, sp), shl(sig, max_of(-shift, 0)));
    const W rem = W(sig - shl(kq, sp));  // 0 when shift <= 0
    F = sel<W>(uint32_t(sp <= WB), shl(rem, max_of(WB - sp, 0)), shr(rem, max_of(sp - WB, 0)));
    sticky = uint32_t(sp > WB) & uint32_t(rem != shl(F, max_of(sp - WB, 0)));
  }
  // Binade `top` (the first one wholly above the largest finite value: with subnormals
  // binade b holds exponent field b + 1) and everything above it overflow whatever the
  // rounding; the index is clamped there and the result forced to kmax + 1, which keeps k in
  // int32 for the binary32 accumulator spec (k < 2^31).  Unsigned arithmetic: no UB.
  const int32_t top = (f.kmax >> m) + (f.subnormals ? 0 : 1);
  const uint32_t over = uint32_t(ex - f.emin >= top);
  const uint32_t binade = uint32_t(min_of(max_of(ex - f.emin, 0), top));
  const uint32_t kt = (binade << m) + uint32_t(kq) - (f.subnormals ? 0u : (uint32_t(1) << m));
  const uint32_t up = rounds_away<W>(mode, F, sticky, kt & 1u, neg, n, R);
  const int32_t k = sel<int32_t>(over, f.kmax + 1, int32_t(kt + up));
  return sel<int32_t>(below_ladder, 0, k);
}

// When the lean path is exact for float32 input: deterministic mode, and the format's lowest
// normal binade is within float32's normal range (then float32 subnormals, treated as
// exponent -126 by parts_of_float<W, true>, all lie below it, and shift >= 23 - m >= 8).
MF_HD bool lean_ok_float32(const FloatSpec& f, int32_t mode) {
  return !is_stochastic(mode) && f.emin >= -126 && f.man_bits <= 22;
}

// ---- Full projection: round, saturate, encode ----
// What each special case encodes to, per sign of the input: fixed for a call, so it is
// computed once (make_plan) and the per-element work is a few two-way selects.
struct Plan {
  uint32_t nan[2];         // NaN input (NO_CODE when the format has no NaN)
  uint32_t overflow[2];    // rounded magnitude above the largest finite value
  uint32_t inf[2];         // +-Inf input
  uint32_t zero[2];        // a result of magnitude zero (-0 kept where it exists)
  uint32_t zero_input[2];  // +-0 input (differs from zero[] only for formats without zero)
  uint32_t below;          // unsigned formats: a negative value that does not round to 0
  int32_t flush_below;     // magnitudes k < flush_below become 0 (flush_subnormals)
};

MF_HD Plan make_plan(const FloatSpec& f, int32_t mode, int32_t sat, int32_t flush) {
  Plan p;
  for (uint32_t neg = 0; neg < 2; ++neg) {
    const uint32_t nan = f.has_nan ? nan_code(f, neg) : NO_CODE;
    const uint32_t sign = neg ? f.sign_bit : 0u;
    const uint32_t max_code = uint32_t(f.kmax) | sign;
    const uint32_t inf_or_nan = f.has_inf ? (f.inf_mag | sign) : (f.has_nan ? nan : max_code);
    // Directed roundings that point toward zero never overflow to Inf (IEEE 754).
    const bool inward = mode == TOWARD_ZERO || (mode == TOWARD_POSITIVE && neg) ||
                        (mode == TOWARD_NEGATIVE && !neg);
    p.nan[neg] = nan;
    p.overflow[neg] = sat == SAT_NAN ? nan
                      : (sat == SAT_FINITE || sat == SAT_PROPAGATE || inward) ? max_code
                                                                              : inf_or_nan;
    p.inf[neg] = sat == SAT_FINITE ? max_code : sat == SAT_NAN ? nan : inf_or_nan;
    p.zero[neg] = (neg && f.negative_zero) ? f.sign_bit : 0u;
    p.zero_input[neg] = f.has_zero ? p.zero[neg] : (f.has_nan ? nan : 0u);
  }
  p.below = (sat == SAT_FINITE || sat == SAT_PROPAGATE || !f.has_nan) ? 0u : p.nan[1];
  p.flush_below = (flush && f.subnormals) ? (int32_t(1) << f.man_bits) : 0;
  return p;
}

// Encoding of a rounded magnitude index k (from round_magnitude, or from round_f32 in
// project_f32.h) for an input of sign neg: flushing, zero, overflow, the special inputs and
// unsigned formats, as the plan says.  Shared by every projection path.  The input class
// comes as all-ones/all-zeros masks (m_zero_in, m_inf, m_nan; finite = none of them): GCC
// keeps masks as vector compares and blends, where 0/1 flags cost a conversion each.
// kAll = false leaves out the two steps that are no-ops when plain_call() holds (flushing and
// the below-the-range rule of unsigned formats): a vector loop saves a quarter of its work.
template <bool kAll = true>
MF_HD uint32_t finish_code_masks(const FloatSpec& f, const Plan& p, int32_t k, uint32_t neg,
                                 uint32_t m_zero_in, uint32_t m_inf, uint32_t m_nan) {
  const uint32_t negm = 0u - neg;
  const uint32_t m_over = 0u - uint32_t(k > f.kmax);
  // Flushing applies to results in range: in a format without exponent bits every magnitude
  // is subnormal, and an overflowed one must still overflow.
  uint32_t kf = uint32_t(k);
  if constexpr (kAll) kf &= ~((0u - uint32_t(k < p.flush_below)) & ~m_over);
  const uint32_t m_zero_result = (0u - uint32_t(kf == 0u)) & (0u - uint32_t(f.has_zero));
  // k | sign, where a zero result takes the sign of p.zero (the sign bit only with -0);
  // p.zero[0] is 0.
  uint32_t code = kf | (blend(m_zero_result, p.zero[1], f.sign_bit) & negm);
  code = blend(m_over, by_sign(p.overflow, negm), code);
  code = blend(m_inf, by_sign(p.inf, negm), code);
  code = blend(m_zero_in, by_sign(p.zero_input, negm), code);
  if constexpr (kAll) {
    // Unsigned formats: a negative value that does not round to zero is below the range.
    const uint32_t m_finite = ~(m_zero_in | m_inf | m_nan);
    const uint32_t m_below = (0u - uint32_t(f.is_signed == 0)) & negm & ~m_zero_in & ~m_nan &
                             ~(m_finite & m_zero_result);
    code = blend(m_below, p.below, code);
  }
  return blend(m_nan, by_sign(p.nan, negm), code);
}

// Calls for which finish_code_masks<false> gives the same codes: a signed format (no value is
// below its range) and no flushing (Plan.flush_below == 0).
MF_HD bool plain_call(const FloatSpec& f, const Plan& p) {
  return f.is_signed != 0 && p.flush_below == 0;
}

MF_HD uint32_t finish_code(const FloatSpec& f, const Plan& p, int32_t k, uint32_t neg,
                           int32_t cls) {
  return finish_code_masks<true>(f, p, k, neg, 0u - uint32_t(cls == IN_ZERO),
                           0u - uint32_t(cls == IN_INF), 0u - uint32_t(cls == IN_NAN));
}

template <class W, bool kLean = false>
MF_HD uint32_t project(const FloatSpec& f, const Plan& p, int32_t mode, int32_t n,
                       const Parts<W>& x, uint32_t R) {
  const int32_t k = round_magnitude<W, kLean>(f, mode, n, R, x.neg, x.sig, x.e_lsb, x.ex);
  return finish_code(f, p, k, x.neg, x.cls);
}

// ---- Exact decomposition of the input types ----
MF_HD int32_t input_class(uint32_t special_exp, uint32_t nonzero_mantissa, uint32_t zero) {
  return int32_t((special_exp << 1) | (special_exp & nonzero_mantissa) | zero);
}

MF_HD Parts<uint64_t> parts_of(double v) {
  Parts<uint64_t> p;
  const uint64_t u = bits_of(v);
  const uint64_t mag = u & 0x7FFFFFFFFFFFFFFFull;
  const int32_t be = int32_t(mag >> 52);
  const uint32_t sub = uint32_t(be == 0);
  p.neg = uint32_t(u >> 63);
  p.cls = input_class(uint32_t(be == 0x7FF), uint32_t((mag << 12) != 0), uint32_t(mag == 0));
  p.sig = sel<uint64_t>(uint32_t(sub), mag, (mag & 0xFFFFFFFFFFFFFull) | (uint64_t(1) << 52));
  p.e_lsb = sel<int32_t>(uint32_t(sub), 1, be) - 1075;
  // floor(log2) of a subnormal: convert its integer significand (< 2^52) exactly with the
  // 2^52 magic-number trick (bit operations and one subtraction: vectorises even where the
  // ISA has no int64 -> double conversion, e.g. AVX2).
  const double mag_d = double_of((mag & 0xFFFFFFFFFFFFFull) | 0x4330000000000000ull) -
                       4503599627370496.0;
  const int32_t be_sub = int32_t(bits_of(mag_d) >> 52);
  p.ex = sel<int32_t>(uint32_t(sub), be_sub - 1023 - 1074, be - 1023);
  return p;
}

// kLean: the exponent of a float32 subnormal is reported as -126 (exact only for what
// round_magnitude needs when lean_ok_float32 holds); saves an int->float conversion.
template <class W, bool kLean = false> MF_HD Parts<W> parts_of_float(float v) {
  Parts<W> p;
  const uint32_t u = bits_of(v);
  const uint32_t mag = u & 0x7FFFFFFFu;
  const int32_t be = int32_t(mag >> 23);
  const uint32_t sub = uint32_t(be == 0);
  p.neg = u >> 31;
  p.cls = input_class(uint32_t(be == 0xFF), uint32_t((mag << 9) != 0), uint32_t(mag == 0));
  p.sig = W(sel<uint32_t>(uint32_t(sub), mag, (mag & 0x7FFFFFu) | 0x800000u));
  p.e_lsb = sel<int32_t>(uint32_t(sub), 1, be) - 150;
  if constexpr (kLean) {
    p.ex = max_of(be, 1) - 127;
  } else {
    const int32_t be_sub = int32_t(bits_of(float(int32_t(mag))) >> 23);
    p.ex = sel<int32_t>(uint32_t(sub), be_sub - 127 - 149, be - 127);
  }
  return p;
}

MF_HD Parts<uint64_t> parts_of_magnitude(uint32_t neg, uint64_t mag) {
  Parts<uint64_t> p;
  p.neg = neg;
  p.cls = mag == 0 ? IN_ZERO : IN_FINITE;
  p.sig = mag;
  p.e_lsb = 0;
  p.ex = mag == 0 ? 0 : top_bit(mag);
  return p;
}
MF_HD Parts<uint64_t> parts_of(int64_t v) {
  return parts_of_magnitude(v < 0 ? 1u : 0u, v < 0 ? uint64_t(0) - uint64_t(v) : uint64_t(v));
}
MF_HD Parts<uint64_t> parts_of(uint64_t v) { return parts_of_magnitude(0u, v); }

}  // namespace mf
