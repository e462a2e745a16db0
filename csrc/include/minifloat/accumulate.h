// Accumulators for sums, dot products and matrix products (docs/arithmetic.md):
//   ACC_EXACT   a long fixed-point (Kulisch) accumulator: the exact sum, rounded once at the end
//   ACC_FORMAT  s <- project_acc(s + p) after every addition, in a given float format
//   ACC_FLOAT32 s <- RNE_binary32(s + p)   (products exact, as tensor-core hardware does)
//   ACC_FLOAT64 s <- RNE_binary64(s + p)
// Order: sequential (k = 0, 1, ...) or blocked-pairwise (sequential inside blocks of `block`
// terms, then block sums combined as a balanced binary tree, left to right).
#pragma once
#include "minifloat/arith.h"

namespace mf {

enum AccKind : int32_t { ACC_EXACT = 0, ACC_FORMAT = 1, ACC_FLOAT32 = 2, ACC_FLOAT64 = 3 };

// Exact value of a finite double (or zero/inf/nan).
MF_HD Exact exact_of_double(double v) { return parts_of(v); }

// A two's-complement fixed-point integer of `limbs` 64-bit words whose bit 0 has weight 2^e0.
// e0 and the limb count are chosen per call from the operand formats so that every product
// (and the carries of up to 2^63 of them) fits; KMAX_LIMBS covers products of any two
// float64-range formats.
constexpr int32_t KMAX_LIMBS = 72;  // 4608 bits: products of any two float64-range formats

struct Kulisch {
  uint64_t w[KMAX_LIMBS];
  int32_t limbs;
  int32_t e0;
  int32_t nan, pinf, ninf;
};

MF_HD void kulisch_init(Kulisch& k, int32_t e0, int32_t limbs) {
  for (int32_t i = 0; i < KMAX_LIMBS; ++i) k.w[i] = 0;
  k.limbs = limbs;
  k.e0 = e0;
  k.nan = k.pinf = k.ninf = 0;
}

// Add (or subtract) sig * 2^e, sig < 2^63, e >= e0 (guaranteed by the caller's range).
MF_HD void kulisch_add(Kulisch& k, const Exact& p) {
  if (p.cls == IN_NAN) { k.nan = 1; return; }
  if (p.cls == IN_INF) { if (p.neg) k.ninf = 1; else k.pinf = 1; return; }
  if (p.cls == IN_ZERO) return;
  const int32_t off = p.e_lsb - k.e0;
  const int32_t li = off >> 6, bi = off & 63;
  const uint64_t lo = p.sig << bi;
  const uint64_t hi = bi ? (p.sig >> (64 - bi)) : 0u;
  if (!p.neg) {
    uint64_t s = k.w[li] + lo;
    uint64_t carry = s < lo ? 1u : 0u;
    k.w[li] = s;
    int32_t i = li + 1;
    uint64_t add = hi;
    while (i < k.limbs && (add | carry)) {
      const uint64_t t = k.w[i] + add;
      const uint64_t c1 = t < add ? 1u : 0u;
      const uint64_t t2 = t + carry;
      const uint64_t c2 = t2 < carry ? 1u : 0u;
      k.w[i] = t2;
      carry = c1 | c2;
      add = 0;
      ++i;
    }
  } else {
    uint64_t borrow = k.w[li] < lo ? 1u : 0u;
    k.w[li] -= lo;
    int32_t i = li + 1;
    uint64_t sub = hi;
    while (i < k.limbs && (sub | borrow)) {
      const uint64_t t = k.w[i];
      const uint64_t b1 = t < sub ? 1u : 0u;
      const uint64_t t2 = t - sub;
      const uint64_t b2 = t2 < borrow ? 1u : 0u;
      k.w[i] = t2 - borrow;
      borrow = b1 | b2;
      sub = 0;
      ++i;
    }
  }
}

// The accumulated value as Exact (62 significant bits + half-LSB sticky, see arith.h).
// `mode` decides the sign of an exact zero (IEEE: -0 only toward_negative; we give +0 else).
MF_HD Exact kulisch_value(const Kulisch& k0, int32_t mode) {
  if (k0.nan || (k0.pinf && k0.ninf)) return exact_nan();
  if (k0.pinf) return make_exact(IN_INF, 0, 0, 0);
  if (k0.ninf) return make_exact(IN_INF, 1, 0, 0);
  Kulisch k = k0;
  const uint32_t neg = (k.w[k.limbs - 1] >> 63) != 0 ? 1u : 0u;
  if (neg) {  // two's-complement negate
    uint64_t carry = 1;
    for (int32_t i = 0; i < k.limbs; ++i) {
      const uint64_t t = ~k.w[i] + carry;
      carry = (carry && t == 0) ? 1u : 0u;
      k.w[i] = t;
    }
  }
  int32_t top = -1;
  for (int32_t i = k.limbs - 1; i >= 0; --i)
    if (k.w[i]) { top = 64 * i + top_bit(k.w[i]); break; }
  if (top < 0) return make_exact(IN_ZERO, mode == TOWARD_NEGATIVE ? 1u : 0u, 0, 0);
  // Take bits [top-61, top] as q (62 bits), the rest as sticky.
  const int32_t low = top - 61;
  uint64_t q = 0, sticky = 0;
  for (int32_t b = 0; b < 62; ++b) {
    const int32_t pos = low + b;
    if (pos >= 0 && ((k.w[pos >> 6] >> (pos & 63)) & 1u)) q |= uint64_t(1) << b;
  }
  for (int32_t i = 0; i < k.limbs && 64 * i < low; ++i) {
    const int32_t nb = low - 64 * i;  // bits of limb i below `low`
    const uint64_t mask = nb >= 64 ? ~uint64_t(0) : ((uint64_t(1) << nb) - 1u);
    if (k.w[i] & mask) sticky = 1;
  }
  return make_exact(IN_FINITE, neg, 2 * q + sticky, k.e0 + low - 1);
}

// s + p rounded to odd in binary64 (the exact sum when it is a double; otherwise its
// truncation with the last bit forced to 1).  A format of p <= 51 bits then rounds the result
// exactly as it would round s + p itself (round-to-odd with two extra bits is innocuous), so a
// sum of two doubles can be rounded once into a low-precision accumulator without an exact
// (wide) intermediate.  TwoSum (Knuth) gives the exact error e of r = RN(s + p).
// `mode` only fixes the sign of an exact zero as IEEE 754 does (-0 toward_negative).
MF_HD double add_round_odd(double s, double p, int32_t mode) {
  // Written without branches (selects only) so the column loop in csrc/ vectorises.
  const uint64_t EXP = 0x7FF0000000000000ull;
  const double r = s + p;
  const double bp = r - s;
  const double e = (s - (r - bp)) + (p - bp);
  const uint64_t u = bits_of(r);
  const uint32_t special = uint32_t((u & EXP) == EXP);  // r is +-inf or NaN: no error term
  const uint32_t is_nan = uint32_t(r != r);
  // Inexact with an even last bit: step one ulp toward e (down in magnitude if e opposes r).
  const uint64_t even = (u + 1u) & 1u;  // (arithmetic, not ~u & 1: GCC would make a bool)
  const uint64_t step = uint64_t(special ^ 1u) * uint64_t(e != 0.0) * even;
  const uint64_t toward_zero = (u ^ bits_of(e)) >> 63;  // 1: step down in magnitude
  uint64_t out = u + step * (1u - 2u * toward_zero);
  // Any NaN is the canonical +NaN, as exact_add gives (x86 gives -NaN for inf - inf).
  out = sel<uint64_t>(is_nan, 0x7FF8000000000000ull, out);
  if (mode == TOWARD_NEGATIVE) {  // exact zero: -0 unless both operands are +0
    const uint32_t both_plus_zero = uint32_t(bits_of(s) == 0) & uint32_t(bits_of(p) == 0);
    out = sel<uint64_t>(uint32_t(r == 0.0) & (both_plus_zero ^ 1u), 0x8000000000000000ull, out);
  }
  return double_of(out);
}

}  // namespace mf
