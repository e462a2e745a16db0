// Exact arithmetic on codes (docs/arithmetic.md): each operation produces its exact real result
// as Parts, which project() then rounds ONCE into the result format.
//
// A result that is not a finite binary fraction (a quotient or a square root), or a sum whose
// smaller operand reaches below a 62-bit window, is represented with a "half-LSB sticky":
// sig = 2q + s, where q is the exact truncation to >= 60 significant bits and s = 1 iff a
// non-zero remainder was dropped.  2q+1 lies strictly between 2q and 2q+2, like the true value,
// and is odd, so it is never on a rounding boundary (which are multiples of 2^k, k >= 2 here):
// every rounding decision of project() — to <= 16 significant bits, with <= 32 random bits —
// is the one the exact value would get.
#pragma once
#include "minifloat/project.h"

namespace mf {

enum ArithOp : int32_t {
  OP_ADD = 0, OP_SUB = 1, OP_MUL = 2, OP_DIV = 3, OP_FMA = 4, OP_SQRT = 5, OP_NEG = 6,
  OP_ABS = 7, OP_COPY = 8,  // COPY: project a value of one format into another
  NUM_OPS = 9,
};

MF_HD int32_t op_arity(int32_t op) {
  return op == OP_FMA ? 3 : (op == OP_SQRT || op == OP_NEG || op == OP_ABS || op == OP_COPY) ? 1 : 2;
}

typedef Parts<uint64_t> Exact;

MF_HD Exact make_exact(int32_t cls, uint32_t neg, uint64_t sig, int32_t e_lsb) {
  Exact r;
  r.cls = cls;
  r.neg = neg;
  r.sig = sig;
  r.e_lsb = e_lsb;
  r.ex = (cls == IN_FINITE && sig != 0) ? e_lsb + top_bit(sig) : 0;
  return r;
}

// The exact value of a code.
MF_HD Exact exact_of_code(const FloatSpec& f, uint32_t code) {
  const uint32_t neg = (code & f.sign_bit) != 0 ? 1u : 0u;
  if (is_nan_code(f, code)) return make_exact(IN_NAN, neg, 0, 0);
  if (is_inf_code(f, code)) return make_exact(IN_INF, neg, 0, 0);
  const uint32_t k = code & f.mag_mask;
  if (k == 0 && f.has_zero) return make_exact(IN_ZERO, neg, 0, 0);
  const uint32_t E = k >> f.man_bits;
  const uint32_t M = k & ((uint32_t(1) << f.man_bits) - 1u);
  const bool sub = f.subnormals && E == 0;
  const uint64_t sig = sub ? M : ((uint64_t(1) << f.man_bits) | M);
  const int32_t e_lsb = (sub ? 1 : int32_t(E)) - f.bias - f.man_bits;
  return make_exact(IN_FINITE, neg, sig, e_lsb);
}

MF_HD Exact exact_nan() { return make_exact(IN_NAN, 0, 0, 0); }

MF_HD Exact exact_mul(const Exact& a, const Exact& b) {
  const uint32_t neg = a.neg ^ b.neg;
  if (a.cls == IN_NAN || b.cls == IN_NAN) return exact_nan();
  if (a.cls == IN_INF || b.cls == IN_INF)
    return (a.cls == IN_ZERO || b.cls == IN_ZERO) ? exact_nan() : make_exact(IN_INF, neg, 0, 0);
  if (a.cls == IN_ZERO || b.cls == IN_ZERO) return make_exact(IN_ZERO, neg, 0, 0);
  return make_exact(IN_FINITE, neg, a.sig * b.sig, a.e_lsb + b.e_lsb);  // sigs < 2^31 each
}

// a + b.  `mode` decides the sign of an exact zero sum (IEEE 754: -0 only toward_negative).
MF_HD Exact exact_add(const Exact& a, const Exact& b, int32_t mode) {
  if (a.cls == IN_NAN || b.cls == IN_NAN) return exact_nan();
  if (a.cls == IN_INF && b.cls == IN_INF)
    return a.neg == b.neg ? make_exact(IN_INF, a.neg, 0, 0) : exact_nan();
  if (a.cls == IN_INF) return a;
  if (b.cls == IN_INF) return b;
  if (a.cls == IN_ZERO && b.cls == IN_ZERO) {
    const uint32_t neg = mode == TOWARD_NEGATIVE ? (a.neg | b.neg) : (a.neg & b.neg);
    return make_exact(IN_ZERO, neg, 0, 0);
  }
  if (a.cls == IN_ZERO) return b;
  if (b.cls == IN_ZERO) return a;
  // Both finite and non-zero: normalise each significand to a leading bit at position 61.
  const int32_t la = 61 - top_bit(a.sig), lb = 61 - top_bit(b.sig);
  uint64_t A = a.sig << la, B = b.sig << lb;
  int32_t eA = a.e_lsb - la, eB = b.e_lsb - lb;  // LSB exponents; leading exponent = e + 61
  uint32_t negA = a.neg, negB = b.neg;
  if (eB > eA || (eB == eA && B > A)) {  // make A the larger magnitude
    uint64_t t = A; A = B; B = t;
    int32_t te = eA; eA = eB; eB = te;
    uint32_t tn = negA; negA = negB; negB = tn;
  }
  const int32_t d = eA - eB;
  const uint64_t Bs = d >= 64 ? 0 : (B >> d);
  const uint64_t sticky = (d >= 64 ? B : (B - (Bs << d))) != 0 ? 1u : 0u;
  uint64_t sig2;
  if (negA == negB) {
    sig2 = 2 * (A + Bs) + sticky;  // A + Bs < 2^63
  } else {
    const uint64_t D = A - Bs;
    if (D == 0 && sticky == 0) return make_exact(IN_ZERO, mode == TOWARD_NEGATIVE ? 1u : 0u, 0, 0);
    sig2 = 2 * D - sticky;
  }
  return make_exact(IN_FINITE, negA, sig2, eA - 1);
}

// True when the format has one zero and no -0 code (P3109 formats, every unsigned format).
MF_HD bool zero_is_unsigned(const FloatSpec& f) {
  return f.has_zero && (!f.is_signed || !f.negative_zero);
}

// a / b.  A signed zero divisor gives IEEE 754's +-Inf (x != 0) or NaN (0/0); an unsigned
// zero divisor (`b_zero_unsigned`, see zero_is_unsigned) has no sign to give the infinity,
// and P3109's Divide gives NaN for every dividend, infinities included (docs/semantics.md §3).
MF_HD Exact exact_div(const Exact& a, const Exact& b, bool b_zero_unsigned = false) {
  const uint32_t neg = a.neg ^ b.neg;
  if (a.cls == IN_NAN || b.cls == IN_NAN) return exact_nan();
  if (b.cls == IN_ZERO && b_zero_unsigned) return exact_nan();
  if (a.cls == IN_INF) return b.cls == IN_INF ? exact_nan() : make_exact(IN_INF, neg, 0, 0);
  if (b.cls == IN_INF) return make_exact(IN_ZERO, neg, 0, 0);
  if (b.cls == IN_ZERO) return a.cls == IN_ZERO ? exact_nan() : make_exact(IN_INF, neg, 0, 0);
  if (a.cls == IN_ZERO) return make_exact(IN_ZERO, neg, 0, 0);
  // Normalise both significands to [2^16, 2^17), then long division in two 64-bit steps.
  const int32_t sa = 16 - top_bit(a.sig), sb = 16 - top_bit(b.sig);
  const uint64_t A = sa >= 0 ? a.sig << sa : a.sig >> -sa;  // sigs have <= 17 bits: exact
  const uint64_t B = sb >= 0 ? b.sig << sb : b.sig >> -sb;
  const int32_t eA = a.e_lsb - sa, eB = b.e_lsb - sb;
  const uint64_t q1 = (A << 42) / B, r1 = (A << 42) % B;  // q1 in [2^41, 2^43)
  const uint64_t q2 = (r1 << 20) / B, r2 = (r1 << 20) % B;  // q2 < 2^20
  const uint64_t q = (q1 << 20) | q2;                         // in [2^61, 2^63)
  return make_exact(IN_FINITE, neg, 2 * q + (r2 != 0 ? 1u : 0u), eA - eB - 63);
}

// 128-bit helpers for the square root (portable: no __int128 on every compiler).
struct U128 { uint64_t hi, lo; };
MF_HD U128 u128_shl2_or(U128 v, uint64_t two_bits) {
  U128 r;
  r.hi = (v.hi << 2) | (v.lo >> 62);
  r.lo = (v.lo << 2) | two_bits;
  return r;
}
MF_HD bool u128_ge(U128 a, U128 b) { return a.hi != b.hi ? a.hi > b.hi : a.lo >= b.lo; }
MF_HD U128 u128_sub(U128 a, U128 b) {
  U128 r;
  r.lo = a.lo - b.lo;
  r.hi = a.hi - b.hi - (a.lo < b.lo ? 1u : 0u);
  return r;
}

MF_HD Exact exact_sqrt(const Exact& a) {
  if (a.cls == IN_NAN) return exact_nan();
  if (a.cls == IN_ZERO) return a;  // sqrt(-0) = -0
  if (a.neg) return exact_nan();
  if (a.cls == IN_INF) return a;
  // Radicand R = sig * 2^k with R in [2^122, 2^124) and e_lsb - k even; root in [2^61, 2^62).
  int32_t k = 122 - top_bit(a.sig);
  if (((a.e_lsb - k) & 1) != 0) k += 1;
  // R = sig << k as 128 bits (sig <= 2^64, k in 58..122+): split explicitly.
  U128 R;
  if (k >= 64) { R.hi = a.sig << (k - 64); R.lo = 0; }
  else { R.hi = a.sig >> (64 - k); R.lo = a.sig << k; }
  // Digit-by-digit: two radicand bits per step, 62 steps for 124 bits.
  uint64_t root = 0;
  U128 rem = {0, 0};
  for (int32_t i = 61; i >= 0; --i) {
    const uint64_t two = i >= 32 ? (R.hi >> (2 * (i - 32))) & 3u : (R.lo >> (2 * i)) & 3u;
    rem = u128_shl2_or(rem, two);
    // trial = 4*root + 1 (fits: root < 2^62)
    U128 trial;
    trial.hi = root >> 62;
    trial.lo = (root << 2) | 1u;
    if (u128_ge(rem, trial)) {
      rem = u128_sub(rem, trial);
      root = (root << 1) | 1u;
    } else {
      root <<= 1;
    }
  }
  const uint64_t inexact = (rem.hi | rem.lo) != 0 ? 1u : 0u;
  return make_exact(IN_FINITE, 0, 2 * root + inexact, (a.e_lsb - k) / 2 - 1);
}

MF_HD Exact exact_neg(const Exact& a) {
  Exact r = a;
  r.neg ^= 1u;
  return r;
}

MF_HD Exact exact_abs(const Exact& a) {
  Exact r = a;
  r.neg = 0u;
  return r;
}

// The exact result of op on up to three operand values.
// `b_zero_unsigned`: b's format has an unsigned zero (zero_is_unsigned); only division reads it.
MF_HD Exact exact_op(int32_t op, const Exact& a, const Exact& b, const Exact& c, int32_t mode,
                     bool b_zero_unsigned = false) {
  switch (op) {
    case OP_ADD: return exact_add(a, b, mode);
    case OP_SUB: return exact_add(a, exact_neg(b), mode);
    case OP_MUL: return exact_mul(a, b);
    case OP_DIV: return exact_div(a, b, b_zero_unsigned);
    case OP_FMA: return exact_add(exact_mul(a, b), c, mode);
    case OP_SQRT: return exact_sqrt(a);
    case OP_NEG: return exact_neg(a);
    case OP_ABS: return exact_abs(a);
    default: return a;  // OP_COPY
  }
}

}  // namespace mf
