// Dot products of block-scaled operands (docs/semantics.md §8.7; OCP MX v1.0 §6.2).
//
// For one output, with blocks b = 0 .. NB-1 of the reduction axis:
//   t_b = sA_b * sB_b * sum_{k in b} a_k * b_k          (exact: the block partial dot)
//   S   = the accumulator's sum of t_0 .. t_{NB-1}        (reduce_in_order: each addition
//                                                          rounded once into the accumulator)
//   C   = round_out(TA * TB * S)                         (exact product, one rounding)
// Accumulators: ACC_FLOAT32 (RNE binary32 after every addition), ACC_FLOAT64, ACC_FORMAT (any
// float format in the call's mode), ACC_EXACT (no intermediate rounding: C is the exact dot
// rounded once).  Two implementations of the same definition:
//  * generic (block_dot_generic): every term and every addition exact through a Kulisch
//    accumulator holding the state and the block's products together, then one rounding;
//  * fast (the caller's tiled loop, csrc/bind_block.cpp): where every partial sum of a block
//    and every t_b is exact in binary64 (checked in minifloat/blocks.py), t_b is computed with
//    binary64 multiply-adds (exact, so their order is free) and block_step_f32/f64 below
//    round the addition: the same bits.
#pragma once
#include "minifloat/accumulate.h"
#include "minifloat/random.h"

namespace mf {

// The exact value of a double with its significand's trailing zero bits removed (so that
// products of such values stay within 64 bits).
MF_HD Exact exact_trimmed(double v) {
  Exact p = parts_of(v);
  if (p.cls != IN_FINITE || p.sig == 0u) return p;
  const int32_t tz = top_bit(p.sig & (~p.sig + 1u));
  p.sig >>= tz;
  p.e_lsb += tz;
  return p;
}

// a * b for finite significands of any width below 2^64 each: the exact 128-bit product kept
// as a half-LSB-sticky value (arith.h): its leading 61 bits exact, 2q + s.
MF_HD Exact exact_mul_wide(const Exact& a, const Exact& b) {
  if (a.cls != IN_FINITE || b.cls != IN_FINITE) return exact_mul(a, b);
  const uint64_t m32 = 0xFFFFFFFFull;
  const uint64_t a0 = a.sig & m32, a1 = a.sig >> 32, b0 = b.sig & m32, b1 = b.sig >> 32;
  const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const uint64_t mid = (p00 >> 32) + (p01 & m32) + (p10 & m32);
  const uint64_t lo = (mid << 32) | (p00 & m32);
  const uint64_t hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  const uint32_t neg = a.neg ^ b.neg;
  const int32_t e = a.e_lsb + b.e_lsb;
  if (hi == 0u && lo < (uint64_t(1) << 62)) return make_exact(IN_FINITE, neg, lo, e);
  const int32_t top = hi ? 64 + top_bit(hi) : top_bit(lo);
  const int32_t sh = top - 60;  // keep bits [sh, top]: 61 bits
  uint64_t q, rest;
  if (sh >= 64) {
    q = hi >> (sh - 64);
    rest = lo | (hi & ((uint64_t(1) << (sh - 64)) - 1u));
  } else {
    q = (lo >> sh) | (hi << (64 - sh));
    rest = lo & ((uint64_t(1) << sh) - 1u);
  }
  return make_exact(IN_FINITE, neg, 2u * q + (rest != 0u ? 1u : 0u), e + sh - 1);
}

// RNE_binary64 of an exact (or half-LSB-sticky) value inside binary64's normal range.
MF_HD double exact_to_double_rne(const Exact& x) {
  if (x.cls == IN_NAN) return double_of(0x7FF8000000000000ull);
  if (x.cls == IN_INF) return double_of(x.neg ? 0xFFF0000000000000ull : 0x7FF0000000000000ull);
  if (x.cls == IN_ZERO || x.sig == 0u) return x.neg ? -0.0 : 0.0;
  uint64_t q = x.sig;
  int32_t e = x.e_lsb;
  const int32_t tb = top_bit(q);
  if (tb > 52) {
    const int32_t sh = tb - 52;
    const uint64_t rem = q & ((uint64_t(1) << sh) - 1u), half = uint64_t(1) << (sh - 1);
    q >>= sh;
    e += sh;
    if (rem > half || (rem == half && (q & 1u))) ++q;  // q may reach 2^53: still exact
  }
  const double v = static_cast<double>(q) * pow2(e);
  return x.neg ? -v : v;
}

// The accumulator of a block dot product: rounds an exact (or sticky) value into it.
struct BlockAcc {
  int32_t kind;        // ACC_FORMAT, ACC_FLOAT32, ACC_FLOAT64 (ACC_EXACT: no state rounding)
  FloatSpec f;         // the format of ACC_FORMAT / binary32
  Plan plan;
  int32_t mode, n, rsrc;
  uint64_t seed, offset;
  // The mode of the additions (binary32/binary64 accumulators: nearest-even).
  MF_HD int32_t amode() const {
    return (kind == ACC_FORMAT || kind == ACC_EXACT) ? mode : int32_t(NEAREST_EVEN);
  }
  // The accumulator value nearest x by its rounding (stream position pos for stochastic
  // ACC_FORMAT modes); bad = 1 when a NaN has no code in the format.
  MF_HD Exact round(const Exact& x, uint64_t pos, uint32_t& bad) const {
    if (kind == ACC_FLOAT64) return exact_trimmed(exact_to_double_rne(x));
    uint32_t R = 0;
    if (kind == ACC_FORMAT && rsrc == 1) R = top_bits(philox_word(seed, offset + pos), n);
    const uint32_t code = project<uint64_t>(f, plan, amode(), kind == ACC_FORMAT ? n : 0, x, R);
    if (code == NO_CODE) { bad = 1u; return exact_nan(); }
    return exact_of_code(f, code);
  }
};

MF_HD BlockAcc make_block_acc(int32_t kind, const FloatSpec& facc, int32_t mode, int32_t sat,
                              int32_t flush, int32_t n, int32_t rsrc, uint64_t seed,
                              uint64_t offset) {
  BlockAcc a;
  a.kind = kind;
  if (kind == ACC_FLOAT32) {
    a.f = make_float_spec(8, 23, 127, 1, 1, 1, NAN_IEEE, 1);
    a.plan = make_plan(a.f, NEAREST_EVEN, SAT_NONE, 0);
  } else {
    a.f = facc;
    a.plan = make_plan(facc, mode, sat, flush);
  }
  a.mode = mode;
  a.n = n;
  a.rsrc = rsrc;
  a.seed = seed;
  a.offset = offset;
  return a;
}

// One block dot operand row/column: element values (stride between consecutive k), and the
// per-block scale values (stride between consecutive blocks).
struct BlockVec {
  const double* v;
  int64_t vstride;
  const double* s;
  int64_t sstride;
};

// Adds the exact products of block b (elements k0 .. k1-1) to the Kulisch accumulator;
// `signs` collects the OR (bit 0) and AND (bit 1) of the zero products' signs and bit 2 is
// set by any non-zero product (for the sign of an exact zero sum).
MF_HD void block_products(Kulisch& acc, const BlockVec& x, const BlockVec& y, int32_t b,
                          int32_t k0, int32_t k1, uint32_t& signs) {
  const Exact sc = exact_mul(exact_trimmed(x.s[b * x.sstride]), exact_trimmed(y.s[b * y.sstride]));
  for (int32_t k = k0; k < k1; ++k) {
    const Exact p = exact_mul(exact_mul(exact_trimmed(x.v[k * x.vstride]),
                                        exact_trimmed(y.v[k * y.vstride])), sc);
    if (p.cls == IN_ZERO) {
      signs = (signs | p.neg) & ~(uint32_t(p.neg ^ 1u) << 1);
    } else {
      signs |= 4u;
      kulisch_add(acc, p);
    }
  }
}

// The value of a Kulisch sum with IEEE 754's sign of an exact zero: a sum of zeros only is
// -0 when all are -0 (or, toward_negative, any is), a cancellation +0 (-0 toward_negative).
MF_HD Exact block_kulisch_value(const Kulisch& acc, int32_t mode, uint32_t signs) {
  Exact v = kulisch_value(acc, mode);
  if (v.cls == IN_ZERO && !(signs & 4u))
    v.neg = mode == TOWARD_NEGATIVE ? (signs & 1u) : ((signs >> 1) & 1u);
  return v;
}

// The accumulated sum S of one output by the definition above (before the tensor scales).
// e0/limbs: the Kulisch window (covers every product and every accumulator value);
// scratch: ceil(NB / block) states for the pairwise order.
MF_HD Exact block_dot_generic(const BlockVec& x, const BlockVec& y, int32_t K, int32_t kb,
                              const BlockAcc& acc, int32_t pairwise, int32_t block,
                              uint64_t pos0, int32_t e0, int32_t limbs, Exact* scratch,
                              uint32_t& bad) {
  const int32_t NB = (K + kb - 1) / kb;
  Kulisch k;
  if (acc.kind == ACC_EXACT) {
    kulisch_init(k, e0, limbs);
    uint32_t signs = 0u;  // the sum starts from +0, as the sequential accumulators do
    for (int32_t b = 0; b < NB; ++b)
      block_products(k, x, y, b, b * kb, K < (b + 1) * kb ? K : (b + 1) * kb, signs);
    return block_kulisch_value(k, acc.mode, signs);
  }
  const Exact zero = make_exact(IN_ZERO, 0, 0, 0);
  return reduce_in_order(
      NB, pairwise, block, pos0, zero,
      [&](const Exact& s, int32_t b, uint64_t pos) {
        kulisch_init(k, e0, limbs);
        uint32_t signs = (s.cls == IN_ZERO) ? (s.neg | (s.neg << 1)) : 6u;
        if (s.cls != IN_ZERO) kulisch_add(k, s);
        block_products(k, x, y, b, b * kb, K < (b + 1) * kb ? K : (b + 1) * kb, signs);
        return acc.round(block_kulisch_value(k, acc.amode(), signs), pos, bad);
      },
      [&](const Exact& a, const Exact& c, uint64_t pos) {
        return acc.round(exact_add(a, c, acc.amode()), pos, bad);
      },
      scratch);
}

// The fast path's addition s <- round(s + t) with t exact in binary64 (see above):
// binary32 accumulator: round-to-odd in binary64, then RNE to binary32 (one rounding, since
// 24 + 2 <= 53); binary64: one IEEE addition.
MF_HD double block_step_f32(double s, double t) {
  return static_cast<double>(static_cast<float>(add_round_odd(s, t, NEAREST_EVEN)));
}
MF_HD double block_step_f64(double s, double t) { return s + t; }

// a * b rounded to odd in binary64 (a, b finite or not; the exact product must lie in
// binary64's normal range or be zero/special): the rounded product with its last bit forced
// to 1 when the exact error (an FMA) is non-zero.  Rounding it once more to <= 51 bits is one
// rounding of a * b (the binary32 output of TA * TB * S).
MF_HD double mul_round_odd(double a, double b) {
  const double p = a * b;
  const uint64_t u = bits_of(p);
  if ((u & 0x7FF0000000000000ull) == 0x7FF0000000000000ull || p == 0.0) return p;
  const double e = fma(a, b, -p);
  if (e == 0.0 || (u & 1u)) return p;
  // Inexact with an even last bit: step one ulp toward the exact value.
  return double_of(((u ^ bits_of(e)) >> 63) ? u - 1u : u + 1u);
}

}  // namespace mf
