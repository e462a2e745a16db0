// Accumulators for sums, dot products and matrix products (docs/arithmetic.md):
//   ACC_EXACT   a long fixed-point (Kulisch) accumulator: the exact sum, rounded once at the end
//   ACC_FORMAT  s <- project_acc(s + p) after every addition, in a given float format
//   ACC_FLOAT32 s <- RNE_binary32(s + p)   (products exact, as tensor-core hardware does)
//   ACC_FLOAT64 s <- RNE_binary64(s + p)
// Order: sequential (k = 0, 1, ...) or blocked-pairwise (sequential inside blocks of `block`
// terms, then block sums combined as a balanced binary tree, left to right).
// ACC_FORMAT has two exact shortcuts for sequential matmuls (csrc/module.cpp,
// accumulate_format_seq): add_round_odd (binary64) and, for <= 16-bit accumulators inside
// binary32's range with binary32-exact products, acc_f32_add (binary32, twice the SIMD width).
#pragma once
#include "minifloat/arith.h"
#include "minifloat/decode.h"

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

// ---- A format accumulator emulated in binary32 (the fast path of ACC_FORMAT) ----
// s <- project_acc(s + p) for every step, where s is a value of the accumulator format and p
// an exact product, both held as floats.  Valid when (acc_f32_ok, and the caller checks that
// every product is exact in binary32 with |p| < 2^127):
//   the accumulator is signed, has subnormals, 1 <= m <= 21, its range lies inside
//   binary32's (emin >= -126, largest finite value < 2^128), and the mode is deterministic.
// Step: r = RN32(s + p) and the exact error e = (s + p) - r by TwoSum (Knuth; exact when r is
// finite, and |s| < 2^128, |p| < 2^127 keep its intermediate steps finite); o = RO32(s + p),
// the sum rounded to odd in binary32, is the truncation (r, or one ulp below r when e points
// toward zero) with its last bit set if e != 0.  o is then rounded into the accumulator by
// integer operations on its bits.  Why that equals ONE rounding of s + p:
// let G be the accumulator's grid together with its midpoints.  With m <= 21 (and
// emin - m >= -147) every point of G is a binary32 number whose last significand bit is 0
// (the half-quantum 2^(e-m-1) is at least 2 binary32 ulps 2^(e-23) in every binade, and a
// power of two has a zero significand).  RO32 is monotone and fixes binary32 numbers, and
// when it is inexact its result has last bit 1, so it is never a point of G: for every g in
// G, o < g <=> x < g and o == g <=> x == g (x = s + p exact).  The rounding decision of every
// deterministic mode depends only on these relations (which interval [t, u) holds x, whether
// x is at, above or below the midpoint, whether x is on the grid) and on the sign, which RO
// keeps; the overflow thresholds (max, max + half quantum) are points of G too.  Hence
// project_acc(o) == project_acc(x) for nearest_even/away/zero, the directed modes and odd.
// Stochastic modes look at more bits of nu and take the generic path.
// Zeros follow exact_add: an exact zero sum is +0 (RN32 gives +0 for x + (-x) and for
// (+0) + (-0), -0 for (-0) + (-0)), and -0 under toward_negative unless both terms are +0;
// a zero result keeps its sign only where the format has -0.
// Lanes that need more than the common case report `special`, and the caller recomputes them
// with acc_f32_add_exact (the generic exact path), so the fast step needs no rule of its own
// for them: r is Inf or NaN (an Inf/NaN term or state, or a binary32 overflow of a finite
// sum), o lies strictly between 0 and 2^emin (the subnormal binade, whose quantum is fixed,
// and flush_subnormals), the rounded magnitude overflows, or o is -0 in a format without -0.
// They are rare in practice, and the fast step stays short.
struct AccF32 {
  int32_t shift;          // 23 - m: binary32 fraction bits below the accumulator's quantum
  uint32_t normal_bits;   // binary32 bits of 2^emin (the smallest normal magnitude)
  uint32_t max_bits;      // binary32 bits of the largest finite magnitude
  uint32_t negzero_bits;  // 0x80000000 where -0 is special (no -0 in the format), else 0xFFFFFFFF
};

MF_HD float float_of_code(const FloatSpec& f, uint32_t code) {
  return static_cast<float>(decode_double(f, code));
}

MF_HD bool acc_f32_ok(const FloatSpec& f, int32_t mode) {
  return !is_stochastic(mode) && f.is_signed && f.subnormals && f.man_bits >= 1 &&
         f.man_bits <= 21 && f.emin >= -126 && ladder_value(f, uint32_t(f.kmax)) < 0x1p128;
}

MF_HD AccF32 make_acc_f32(const FloatSpec& f) {
  AccF32 c;
  c.shift = 23 - f.man_bits;
  c.normal_bits = uint32_t(f.emin + 127) << 23;
  c.max_bits = bits_of(static_cast<float>(ladder_value(f, uint32_t(f.kmax))));
  c.negzero_bits = f.negative_zero ? 0xFFFFFFFFu : 0x80000000u;
  return c;
}

// |x| (binary32 bits mag >= 2^emin, or 0) rounded to a multiple of 2^sh in the bits, i.e. to
// the accumulator's precision, as bits.  The same decisions as rounds_away (project.h), written
// as "add a rounding bias, clear the low bits" because that takes about half the instructions
// of the general predicate in the innermost loop of acc_f32_add (it made the float16-
// accumulate matmul about 1.2x faster); tests/test_matmul_acc16_fast.py checks every mode
// against the oracle.  Deterministic modes only.
MF_HD uint32_t round_bits_lean(int32_t mode, uint32_t mag, int32_t sh, uint32_t neg) {
  const uint32_t low = (1u << sh) - 1u;  // the bits below the quantum
  const uint32_t half = 1u << (sh - 1);
  uint32_t bias;
  switch (mode) {
    case NEAREST_EVEN: bias = half - 1u + ((mag >> sh) & 1u); break;  // ties to the even one
    case NEAREST_AWAY: bias = half; break;
    case NEAREST_ZERO: bias = half - 1u; break;
    case TOWARD_POSITIVE: bias = low * (neg ^ 1u); break;  // any remainder rounds up if x > 0
    case TOWARD_NEGATIVE: bias = low * neg; break;
    case ROUND_ODD:  // truncate, then set the last kept bit if anything was dropped
      return (mag & ~low) | (uint32_t((mag & low) != 0u) << sh);
    default: bias = 0u; break;  // TOWARD_ZERO
  }
  return (mag + bias) & ~low;
}

// One step (see above): the accumulator value after s <- project_acc(s + p), valid where
// `special` is 0.  Branch-free so that loops over columns vectorise.
MF_HD float acc_f32_add(const AccF32& c, int32_t mode, float s, float p, uint32_t& special) {
  const float r = s + p;
  const float bp = r - s;
  const float e = (s - (r - bp)) + (p - bp);
  const uint32_t u = bits_of(r);
  // Round to odd: the truncation of s + p (one ulp below r when e points toward zero) with
  // its last bit set when inexact.  (0/1 flags combined by products, not "&": GCC would turn
  // them into bools, which it does not vectorise.)
  const uint32_t inexact = uint32_t(e != 0.0f);
  const uint32_t below = inexact * ((u ^ bits_of(e)) >> 31);  // |s + p| < |r|
  uint32_t o = (u - below) | inexact;
  if (mode == TOWARD_NEGATIVE) {  // exact zero: -0 unless both terms are +0
    const uint32_t both_plus_zero = uint32_t(bits_of(s) == 0u) * uint32_t(bits_of(p) == 0u);
    o = sel<uint32_t>(uint32_t(r == 0.0f) * (both_plus_zero ^ 1u), 0x80000000u, o);
  }
  // Round o into the accumulator (o >= 2^emin or o == 0 in lanes that are not special): the
  // binary32 bits shifted right by 23 - m are the accumulator's magnitude index plus a
  // constant, so a carry of the rounding moves into the exponent field as it should.
  const uint32_t mag = o & 0x7FFFFFFFu;
  const uint32_t res = round_bits_lean(mode, mag, c.shift, o >> 31);
  special = uint32_t((u & 0x7F800000u) == 0x7F800000u) |
            uint32_t(mag - 1u < c.normal_bits - 1u) | uint32_t(res > c.max_bits) |
            uint32_t(o == c.negzero_bits);
  return float_of(res | (o & 0x80000000u));
}

// The same step through the exact core (exact_add, project, decode): the reference the fast
// step must equal, and what the caller uses for `special` lanes.  bad = 1 when the result is
// NaN and the format has no NaN.
MF_HD float acc_f32_add_exact(const FloatSpec& f, const Plan& plan, int32_t mode, float s,
                              float p, uint32_t& bad) {
  const Exact x = exact_add(parts_of(static_cast<double>(s)), parts_of(static_cast<double>(p)),
                            mode);
  const uint32_t code = project<uint64_t>(f, plan, mode, 0, x, 0u);
  bad = uint32_t(code == NO_CODE);
  return code == NO_CODE ? float_of(0x7FC00000u) : float_of_code(f, code);
}

// The accumulation order, once for every accumulator kind (docs/arithmetic.md "Order").
// Sums terms k = 0..K-1: sequentially, or (pairwise with block < K) sequentially inside
// blocks of `block` terms and then the block sums as a balanced binary tree, pairs taken left
// to right, an odd last sum carried up. Addition number j (0-based, in this order) gets the
// stream position pos0 + j, which the stochastic accumulators read their random bits from.
//   add_term(state, k, pos) -> state   adds term k
//   add_sums(state, state, pos) -> state
// `scratch` holds ceil(K / block) states (pairwise only).
template <class State, class AddTerm, class AddSums>
MF_HD State reduce_in_order(int32_t K, int32_t pairwise, int32_t block, uint64_t pos0,
                            const State& zero, AddTerm add_term, AddSums add_sums,
                            State* scratch) {
  if (!pairwise || block >= K) {
    State s = zero;
    for (int32_t k = 0; k < K; ++k) s = add_term(s, k, pos0 + uint64_t(k));
    return s;
  }
  uint64_t pos = pos0;
  int32_t nsums = 0;
  for (int32_t k0 = 0; k0 < K; k0 += block) {
    State s = zero;
    const int32_t k1 = K < k0 + block ? K : k0 + block;
    for (int32_t k = k0; k < k1; ++k) s = add_term(s, k, pos++);
    scratch[nsums++] = s;
  }
  while (nsums > 1) {
    int32_t w = 0;
    for (int32_t q = 0; q + 1 < nsums; q += 2) scratch[w++] = add_sums(scratch[q], scratch[q + 1], pos++);
    if (nsums % 2) scratch[w++] = scratch[nsums - 1];
    nsums = w;
  }
  return scratch[0];
}

}  // namespace mf
