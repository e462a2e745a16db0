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

constexpr bool is_stochastic(int32_t mode) { return mode >= STOCHASTIC_A; }

// A real number in exact parts: |x| = sig * 2^e_lsb with 2^ex <= |x| < 2^(ex+1).
template <class W> struct Parts {
  int32_t cls;   // InputClass
  uint32_t neg;  // sign bit of the input
  W sig;
  int32_t e_lsb;
  int32_t ex;
};

template <class W> MF_HD W shr(W v, int32_t s) { return s >= int32_t(8 * sizeof(W)) ? W(0) : W(v >> s); }
template <class W> MF_HD W shl(W v, int32_t s) { return s >= int32_t(8 * sizeof(W)) ? W(0) : W(v << s); }

// ---- The rounding predicate: does |x| move from t to u (one step away from zero)? ----
// F = floor(nu * 2^WB) and sticky = (nu * 2^WB is not an integer) describe nu exactly.
// odd = LSB of t's magnitude index; R = n random bits.  One switch, one line per mode.
template <class W>
MF_HD bool rounds_away(int32_t mode, W F, bool sticky, uint32_t odd, uint32_t neg, int32_t n,
                       uint32_t R) {
  constexpr int32_t WB = int32_t(8 * sizeof(W));
  const W half = W(1) << (WB - 1);
  const bool above_half = F > half || (F == half && sticky);
  const bool at_half = F == half && !sticky;
  const bool inexact = F != 0 || sticky;
  switch (mode) {
    case NEAREST_EVEN: return above_half || (at_half && odd);
    case NEAREST_AWAY: return above_half || at_half;
    case NEAREST_ZERO: return above_half;
    case TOWARD_ZERO: return false;
    case TOWARD_POSITIVE: return inexact && !neg;
    case TOWARD_NEGATIVE: return inexact && neg;
    case ROUND_ODD: return inexact && !odd;
    case STOCHASTIC_A:  // floor(nu 2^n) + R >= 2^n
      return uint64_t(shr(F, WB - n)) + R >= (uint64_t(1) << n);
    case STOCHASTIC_B:  // floor(nu 2^(n+1)) + 2R + 1 >= 2^(n+1)
      return uint64_t(shr(F, WB - n - 1)) + 2ull * R + 1ull >= (uint64_t(1) << (n + 1));
    case STOCHASTIC_C: {  // roundTiesToEven(nu 2^n) + R >= 2^n
      const W q = shr(F, WB - n);
      const W rest = shl(F, n);
      const bool up = rest > half || (rest == half && (sticky || (q & 1u)));
      return uint64_t(q) + (up ? 1u : 0u) + R >= (uint64_t(1) << n);
    }
    case STOCHASTIC_EQUAL: return inexact && R >= (uint32_t(1) << (n - 1));
    default: return false;
  }
}

// ---- Magnitude rounding onto the ladder ----
// Returns the rounded magnitude index k (may exceed kmax: overflow is decided by the caller).
template <class W>
MF_HD int32_t round_magnitude(const FloatSpec& f, int32_t mode, int32_t n, uint32_t R,
                              uint32_t neg, W sig, int32_t e_lsb, int32_t ex) {
  constexpr int32_t WB = int32_t(8 * sizeof(W));
  const int32_t m = f.man_bits;
  // Without subnormals the ladder stops at 2^emin: smaller magnitudes have no lower
  // neighbour and go to the smallest magnitude (k = 0) under every mode.
  const bool below_ladder = !f.subnormals && ex < f.emin;
  const int32_t qexp = max_of(ex, f.emin) - m;  // exponent of the quantum at |x|
  const int32_t shift = qexp - e_lsb;           // bits of sig below the quantum
  const int32_t sp = shift > 0 ? shift : 0;
  const W kq = shift > 0 ? shr(sig, sp) : shl(sig, -shift);  // |t| / quantum, < 2^(m+1)
  const W rem = shift > 0 ? W(sig - shl(kq, sp)) : W(0);
  const W F = sp <= WB ? shl(rem, WB - sp) : shr(rem, sp - WB);
  const bool sticky = sp > WB && rem != shl(F, sp - WB);
  const int32_t kt = (max_of(ex - f.emin, 0) << m) + int32_t(kq) -
                     (f.subnormals ? 0 : (int32_t(1) << m));
  const bool up = rounds_away<W>(mode, F, sticky, uint32_t(kt) & 1u, neg, n, R);
  return below_ladder ? 0 : kt + (up ? 1 : 0);
}

// ---- Full projection: round, saturate, encode ----
template <class W>
MF_HD uint32_t project(const FloatSpec& f, int32_t mode, int32_t sat, int32_t n, int32_t flush,
                       const Parts<W>& x, uint32_t R) {
  const uint32_t neg = x.neg;
  const uint32_t nan = f.has_nan ? nan_code(f, neg) : NO_CODE;
  const uint32_t max_code = uint32_t(f.kmax) | (neg ? f.sign_bit : 0u);
  const uint32_t inf_or_nan =
      f.has_inf ? (f.inf_mag | (neg ? f.sign_bit : 0u)) : (f.has_nan ? nan : max_code);
  const uint32_t zero = (neg && f.negative_zero) ? f.sign_bit : 0u;

  int32_t k = round_magnitude<W>(f, mode, n, R, neg, x.sig, x.e_lsb, x.ex);
  if (flush && f.subnormals && k < (int32_t(1) << f.man_bits)) k = 0;
  const bool inward = mode == TOWARD_ZERO || (mode == TOWARD_POSITIVE && neg) ||
                      (mode == TOWARD_NEGATIVE && !neg);
  uint32_t overflow = sat == SAT_NAN ? nan
                      : (sat == SAT_FINITE || sat == SAT_PROPAGATE || inward) ? max_code
                                                                              : inf_or_nan;
  uint32_t code = k > f.kmax ? overflow
                  : (k == 0 && f.has_zero) ? zero
                                           : (uint32_t(k) | (neg ? f.sign_bit : 0u));
  if (x.cls == IN_INF) code = sat == SAT_FINITE ? max_code : sat == SAT_NAN ? nan : inf_or_nan;
  if (x.cls == IN_ZERO) code = f.has_zero ? zero : (f.has_nan ? nan : 0u);
  // Unsigned formats: a negative value that does not round to zero is below the range.
  if (!f.is_signed && neg && x.cls != IN_ZERO && !(x.cls == IN_FINITE && k == 0 && f.has_zero))
    code = (sat == SAT_FINITE || sat == SAT_PROPAGATE || !f.has_nan) ? 0u : nan;
  if (x.cls == IN_NAN) code = nan;
  return code;
}

// ---- Exact decomposition of the input types ----
MF_HD Parts<uint64_t> parts_of(double v) {
  Parts<uint64_t> p;
  const uint64_t u = bits_of(v);
  const uint64_t mag = u & 0x7FFFFFFFFFFFFFFFull;
  const int32_t be = int32_t(mag >> 52);
  const bool sub = be == 0;
  p.neg = uint32_t(u >> 63);
  p.cls = be == 0x7FF ? ((mag << 12) != 0 ? IN_NAN : IN_INF) : (mag == 0 ? IN_ZERO : IN_FINITE);
  p.sig = sub ? mag : ((mag & 0xFFFFFFFFFFFFFull) | (uint64_t(1) << 52));
  p.e_lsb = (sub ? 1 : be) - 1075;
  // floor(log2) of a subnormal: convert its integer significand exactly (vectorises).
  const int32_t be_sub = int32_t(bits_of(double(int64_t(mag))) >> 52);
  p.ex = sub ? be_sub - 1023 - 1074 : be - 1023;
  return p;
}

template <class W> MF_HD Parts<W> parts_of_float(float v) {
  Parts<W> p;
  const uint32_t u = bits_of(v);
  const uint32_t mag = u & 0x7FFFFFFFu;
  const int32_t be = int32_t(mag >> 23);
  const bool sub = be == 0;
  p.neg = u >> 31;
  p.cls = be == 0xFF ? ((mag << 9) != 0 ? IN_NAN : IN_INF) : (mag == 0 ? IN_ZERO : IN_FINITE);
  p.sig = W(sub ? mag : ((mag & 0x7FFFFFu) | 0x800000u));
  p.e_lsb = (sub ? 1 : be) - 150;
  const int32_t be_sub = int32_t(bits_of(float(int32_t(mag))) >> 23);
  p.ex = sub ? be_sub - 127 - 149 : be - 127;
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
