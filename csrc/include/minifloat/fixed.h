// Fixed point (docs/lns_fixed.md §1): a code is a two's-complement (or unsigned) integer c of
// `bits` = signed + int_bits + frac_bits bits with value c * 2^-frac_bits.
//
// Projection rounds |x| * 2^F to an integer exactly like the float ladder (project.h): t is
// the truncation toward zero, u = t + 1, nu the exact fraction in between, and the same
// rounds_away() predicate decides.  Because -n and n have the same parity, "t is odd" on the
// magnitude is the LSB of the two's-complement code too.  Then saturate (or wrap mod 2^bits).
//
// Every exact value reaches the rounding as Units: |v| * 2^F = n + nu with n's low 64 bits,
// a `big` flag (n >= 2^62, beyond any code), the first 64 bits of nu and a sticky bit for
// the rest.  That is all a rounding decision with <= 32 random bits looks at, so operations
// (fixed_ops.h) can produce their exact result in whatever form is convenient.
#pragma once
#include "minifloat/project.h"

namespace mf {

// gcc, clang and NVRTC (CUDA >= 11.5) all provide 128-bit integers; NVRTC rejects GCC's
// __extension__ keyword (which only keeps -Wpedantic quiet on the host).
#if defined(__CUDACC_RTC__)
typedef unsigned __int128 u128;
#else
__extension__ typedef unsigned __int128 u128;
#endif

constexpr int32_t SAT_WRAP = 4;  // fixed point only: keep the low `bits` bits (mod 2^bits)

struct FixedSpec {
  int32_t int_bits;   // integer bits, not counting the sign bit
  int32_t frac_bits;  // F: the LSB weighs 2^-F (F may be negative: an LSB above 1)
  int32_t is_signed;  // 1: two's complement
  int32_t bits;       // total bits = is_signed + int_bits + frac_bits (1..32)
  uint32_t mask;      // 2^bits - 1
  int64_t max_int;    // largest integer c (value max_int * 2^-F)
  int64_t min_int;    // smallest integer c: -2^(bits-1) signed, 0 unsigned
};

MF_HD FixedSpec make_fixed_spec(int32_t int_bits, int32_t frac_bits, int32_t is_signed) {
  FixedSpec f;
  f.int_bits = int_bits;
  f.frac_bits = frac_bits;
  f.is_signed = is_signed ? 1 : 0;
  f.bits = f.is_signed + int_bits + frac_bits;
  f.mask = f.bits >= 32 ? 0xFFFFFFFFu : ((uint32_t(1) << f.bits) - 1u);
  f.max_int = f.is_signed ? (int64_t(1) << (f.bits - 1)) - 1 : (int64_t(1) << f.bits) - 1;
  f.min_int = f.is_signed ? -(int64_t(1) << (f.bits - 1)) : 0;
  return f;
}

// The integer c of a code (sign-extended for signed formats).
MF_HD int64_t fixed_int(const FixedSpec& f, uint32_t code) {
  const int64_t v = int64_t(code & f.mask);
  const uint32_t neg = uint32_t(f.is_signed) & uint32_t((v >> (f.bits - 1)) & 1);
  return v - (int64_t(neg) << f.bits);
}

MF_HD double fixed_value(const FixedSpec& f, uint32_t code) {
  return double(fixed_int(f, code)) * pow2(-f.frac_bits);  // exact: |c| <= 2^32
}

// ---- 128-bit shifts defined for every amount >= 0 ----
MF_HD u128 shr128(u128 v, int32_t s) { return s >= 128 ? u128(0) : (v >> s); }
MF_HD u128 shl128(u128 v, int32_t s) { return s >= 128 ? u128(0) : (v << s); }
MF_HD int32_t top_bit128(u128 v) {  // v != 0
  const uint64_t hi = uint64_t(v >> 64);
  return hi ? 64 + top_bit(hi) : top_bit(uint64_t(v));
}

struct Units {
  int32_t cls;      // InputClass
  uint32_t neg;     // sign of the exact value
  uint32_t big;     // integer part n >= 2^62 (so beyond every code, whatever the rounding)
  uint64_t n;       // integer part mod 2^64
  uint64_t frac;    // floor(nu * 2^64)
  uint32_t sticky;  // nu * 2^64 is not an integer
};

MF_HD Units units_special(int32_t cls, uint32_t neg) {
  Units u;
  u.cls = cls;
  u.neg = neg;
  u.big = 0;
  u.n = 0;
  u.frac = 0;
  u.sticky = 0;
  return u;
}

// |v| = (X + s) * 2^-S where s = 0, or 0 < s < 1 when `sticky` (then S - F >= 64, so the
// unknown part lies wholly below the 64 fraction bits), expressed in units of 2^-F.
MF_HD Units units_of(uint32_t neg, u128 X, int32_t S, uint32_t sticky, int32_t F) {
  Units u = units_special(IN_FINITE, neg);
  if (X == 0 && !sticky) {
    u.cls = IN_ZERO;
    return u;
  }
  const int32_t t = S - F;  // bits of X below the unit
  if (t <= 0) {
    const int32_t sh = -t;
    u.n = uint64_t(shl128(X, sh));
    u.big = uint32_t(X != 0 && (sh >= 128 || top_bit128(X) + sh >= 62));
    u.sticky = sticky;
    return u;
  }
  const u128 ip = shr128(X, t);
  u.n = uint64_t(ip);
  u.big = uint32_t((ip >> 62) != 0);
  const u128 rest = X - shl128(ip, t);  // the t bits below the unit
  if (t <= 64) {
    u.frac = uint64_t(rest) << (64 - t);  // t == 64 shifts by 0
    u.sticky = sticky;
  } else {
    u.frac = uint64_t(shr128(rest, t - 64));
    u.sticky = sticky | uint32_t(rest != shl128(shr128(rest, t - 64), t - 64));
  }
  return u;
}

MF_HD Units units_of_parts(const Parts<uint64_t>& p, int32_t F) {
  if (p.cls != IN_FINITE) return units_special(p.cls, p.neg);
  return units_of(p.neg, u128(p.sig), -p.e_lsb, 0u, F);
}

// The code of the signed integer value (two's complement in `bits` bits).
MF_HD uint32_t fixed_code_of_int(const FixedSpec& f, int64_t v) { return uint32_t(v) & f.mask; }

// Round, saturate (or wrap), encode.  NaN has no code: the caller checks u.cls == IN_NAN
// first (every uint32 is a code of a 32-bit format, so no marker value is free).
// +-Inf saturate to the extreme codes under every saturation (there is nothing to wrap).
MF_HD uint32_t fixed_project(const FixedSpec& f, int32_t mode, int32_t sat, int32_t nbits,
                             const Units& u, uint32_t R) {
  const uint32_t max_code = fixed_code_of_int(f, f.max_int);
  const uint32_t min_code = fixed_code_of_int(f, f.min_int);
  if (u.cls == IN_NAN) return 0u;
  if (u.cls == IN_INF) return u.neg ? min_code : max_code;
  if (u.cls == IN_ZERO) return 0u;
  const uint32_t up = rounds_away<uint64_t>(mode, u.frac, u.sticky, uint32_t(u.n & 1u), u.neg,
                                            nbits, R);
  const uint64_t n = u.n + up;
  if (sat == SAT_WRAP) {
    const uint64_t v = u.neg ? uint64_t(0) - n : n;
    return uint32_t(v) & f.mask;
  }
  const uint32_t big = u.big | uint32_t((n >> 62) != 0);
  const uint64_t limit = u.neg ? uint64_t(-f.min_int) : uint64_t(f.max_int);
  if (big || n > limit) return u.neg ? min_code : max_code;
  return fixed_code_of_int(f, u.neg ? -int64_t(n) : int64_t(n));
}

// ---- Exact operations on fixed-point codes, producing Units in the result's F ----
// Operand integers have |c| <= 2^32; products fit 64 bits; sums are aligned in 128 bits
// (the caller checks that the alignment of the two formats is at most 95 bits).

struct FixedVal {
  uint32_t neg;
  uint64_t mag;  // |c|
  int32_t F;     // value = (-1)^neg * mag * 2^-F
};

MF_HD FixedVal fixed_val(const FixedSpec& f, uint32_t code) {
  const int64_t c = fixed_int(f, code);
  FixedVal v;
  v.neg = uint32_t(c < 0);
  v.mag = c < 0 ? uint64_t(-c) : uint64_t(c);
  v.F = f.frac_bits;
  return v;
}

// a + b (sign-magnitude on aligned 128-bit magnitudes).  An exact zero is +0, -0 under
// toward_negative (IEEE), which fixed point cannot tell apart anyway.
MF_HD Units fixed_add_units(uint32_t na, u128 A, int32_t Sa, uint32_t nb, u128 B, int32_t Sb,
                            int32_t F) {
  const int32_t S = max_of(Sa, Sb);
  A = shl128(A, S - Sa);
  B = shl128(B, S - Sb);
  if (na == nb) return units_of(na, A + B, S, 0u, F);
  if (A >= B) return units_of(na, A - B, S, 0u, F);
  return units_of(nb, B - A, S, 0u, F);
}

// |a| / |b| in units of 2^-F by binary long division: the integer part mod 2^64 (with `big`),
// then 64 fraction bits and the remainder as sticky.  q = A * 2^s / B, s = F + Fb - Fa.
MF_HD Units fixed_div_units(uint32_t neg, uint64_t A, int32_t Fa, uint64_t B, int32_t Fb,
                            int32_t F) {
  Units u = units_special(IN_FINITE, neg);
  const int32_t s = F + Fb - Fa;
  uint64_t q = A / B, r = A % B;  // A, B < 2^33
  uint64_t frac = 0;
  uint32_t big = 0;
  if (s >= 0) {
    for (int32_t i = 0; i < s; ++i) {  // shift the quotient's binary point right by s
      r <<= 1;
      const uint64_t bit = r >= B ? 1u : 0u;
      r -= bit * B;
      big |= uint32_t((q >> 61) != 0);
      q = (q << 1) | bit;
    }
    for (int32_t i = 0; i < 64; ++i) {
      r <<= 1;
      const uint64_t bit = r >= B ? 1u : 0u;
      r -= bit * B;
      frac = (frac << 1) | bit;
    }
    u.n = q;
    u.big = big | uint32_t((q >> 62) != 0);
    u.frac = frac;
    u.sticky = uint32_t(r != 0);
  } else {
    // The units point lies -s bits inside q (< 2^33): split q, then continue the division.
    const int32_t k = -s;
    u.n = k >= 64 ? 0 : (q >> k);
    const uint64_t low = k >= 64 ? q : (q - (u.n << k));  // the k bits of q below the point
    uint32_t sticky = 0;
    if (k >= 64) {
      frac = low >> (k - 64 >= 64 ? 63 : k - 64);
      if (k - 64 >= 64) frac = 0;
      sticky = uint32_t(k - 64 >= 64 ? low != 0 : (low & ((uint64_t(1) << (k - 64)) - 1u)) != 0);
      sticky |= uint32_t(r != 0);
    } else {
      frac = low << (64 - k);  // k >= 1
      for (int32_t i = 0; i < 64 - k; ++i) {
        r <<= 1;
        const uint64_t bit = r >= B ? 1u : 0u;
        r -= bit * B;
        frac |= bit << (64 - k - 1 - i);
      }
      sticky = uint32_t(r != 0);
    }
    u.frac = frac;
    u.sticky = sticky;
  }
  if (u.n == 0 && u.frac == 0 && !u.sticky) u.cls = IN_ZERO;
  return u;
}

// sqrt(|a|) in units of 2^-F: the root of A * 2^k, k = 2S - Fa with S = F + 64, digit by digit
// (two radicand bits per step), so the root carries 64 fraction bits; the remainder is sticky.
// The caller checks that the root is below 2^60 units (then every quantity fits 128 bits).
MF_HD Units fixed_sqrt_units(uint64_t A, int32_t Fa, int32_t F) {
  if (A == 0) return units_special(IN_ZERO, 0u);
  int32_t S = F + 64;
  int32_t k = 2 * S - Fa;
  if (k < 0) {  // keep the radicand an integer: more fraction bits than needed are harmless
    S += (-k + 1) / 2;
    k = 2 * S - Fa;
  }
  // Radicand bits: A (< 2^33) followed by k zeros; process pairs from the top.
  const int32_t nbits = top_bit(A) + 1 + k;
  const int32_t pairs = (nbits + 1) / 2;
  u128 root = 0, rem = 0;
  for (int32_t i = pairs - 1; i >= 0; --i) {
    // bits 2i+1, 2i of A * 2^k
    const int32_t b0 = 2 * i - k;
    uint64_t two = 0;
    if (b0 + 1 >= 0 && b0 < 64) {
      const uint64_t hi = (b0 + 1 >= 0 && b0 + 1 < 64) ? (A >> (b0 + 1)) & 1u : 0u;
      const uint64_t lo = (b0 >= 0) ? (A >> b0) & 1u : 0u;
      two = (hi << 1) | lo;
    }
    rem = (rem << 2) | two;
    const u128 trial = (root << 2) | 1u;
    if (rem >= trial) {
      rem -= trial;
      root = (root << 1) | 1u;
    } else {
      root <<= 1;
    }
  }
  return units_of(0u, root, S, uint32_t(rem != 0), F);
}

// An exact value (-1)^neg * X * 2^-S (X < 2^128) as Parts for the float projection of
// project.h: at most 62 significant bits, a dropped remainder kept as the half-LSB sticky bit
// of arith.h (sig = 2q + s), so rounding to <= 53 bits decides as the exact value would.
MF_HD Parts<uint64_t> parts_of_u128(uint32_t neg, u128 X, int32_t S) {
  Parts<uint64_t> p;
  p.neg = neg;
  if (X == 0) {
    p.cls = IN_ZERO;
    p.sig = 0;
    p.e_lsb = 0;
    p.ex = 0;
    return p;
  }
  p.cls = IN_FINITE;
  const int32_t tb = top_bit128(X);
  if (tb <= 61) {
    p.sig = uint64_t(X);
    p.e_lsb = -S;
  } else {
    const int32_t r = tb - 60;  // keep 61 bits, then the sticky bit below them
    const u128 q = X >> r;
    const uint64_t sticky = (X - (q << r)) != 0 ? 1u : 0u;
    p.sig = 2 * uint64_t(q) + sticky;
    p.e_lsb = r - S - 1;
  }
  p.ex = p.e_lsb + top_bit(p.sig);
  return p;
}

// The exact result of an elementwise operation on fixed-point operands, in units of the
// result format (op numbers as arith.h ArithOp: add sub mul div fma sqrt neg abs copy).
MF_HD Units fixed_op_units(int32_t op, const FixedVal& a, const FixedVal& b, const FixedVal& c,
                           int32_t F) {
  switch (op) {
    case 0: return fixed_add_units(a.neg, a.mag, a.F, b.neg, b.mag, b.F, F);
    case 1: return fixed_add_units(a.neg, a.mag, a.F, b.neg ^ 1u, b.mag, b.F, F);
    case 2: return units_of(a.neg ^ b.neg, u128(a.mag) * b.mag, a.F + b.F, 0u, F);
    case 3:
      if (b.mag == 0) return units_special(a.mag == 0 ? IN_NAN : IN_INF, a.neg ^ b.neg);
      return fixed_div_units(a.neg ^ b.neg, a.mag, a.F, b.mag, b.F, F);
    case 4:
      return fixed_add_units(a.neg ^ b.neg, u128(a.mag) * b.mag, a.F + b.F, c.neg, c.mag, c.F, F);
    case 5:
      if (a.neg && a.mag != 0) return units_special(IN_NAN, 0u);
      return fixed_sqrt_units(a.mag, a.F, F);
    case 6: return units_of(a.neg ^ 1u, a.mag, a.F, 0u, F);
    case 7: return units_of(0u, a.mag, a.F, 0u, F);
    default: return units_of(a.neg, a.mag, a.F, 0u, F);
  }
}

}  // namespace mf
