// Logarithmic number system (docs/lns_fixed.md §2): a code is sign | L, L a two's-complement
// integer of W = int_bits + frac_bits bits; value (-1)^sign 2^(L / 2^F).  L = -2^(W-1) is zero
// (sign 0) or NaN (sign 1); with infinities the largest L is +-Inf.
//
// Conversion decides the rounding side exactly with a table of thresholds
//     thr[k] = floor(2^(k / 2^(F+1)) * 2^63),   k = 0 .. 2^(F+1) - 1
// (computed once per F in Python from verified high-precision values).  For k > 0 the power
// is irrational, so for a 64-bit significand M of |x| (M = m 2^63, m in [1, 2)):
//     m > 2^(k/2^(F+1))  <=>  M > thr[k]          (no equality is possible)
// and floor(2^(F+1) log2 m) is the number of thresholds below M: that is the log to F bits
// and whether its fraction is above 1/2 (it is never exactly 1/2: no ties).
//
// Stochastic rounding is unbiased in value: the probability of the larger neighbour u is
// nu = (|x| - t) / (u - t), taken from the same 64-bit magnitudes (docs/lns_fixed.md §2.2).
#pragma once
#include "minifloat/fixed.h"

namespace mf {

struct LNSSpec {
  int32_t int_bits, frac_bits, is_signed, infinities;
  int32_t W;             // log field width
  int32_t bits;          // total bits
  int32_t log_min;       // smallest L of a non-zero magnitude: -2^(W-1) + 1
  int32_t log_max;       // largest finite L
  uint32_t log_mask;     // 2^W - 1
  uint32_t sign_bit;     // 2^W for signed formats, else 0
  uint32_t zero_code;    // 2^(W-1)
  uint32_t nan_code;     // sign_bit | zero_code (signed formats)
};

MF_HD LNSSpec make_lns_spec(int32_t int_bits, int32_t frac_bits, int32_t is_signed,
                            int32_t infinities) {
  LNSSpec s;
  s.int_bits = int_bits;
  s.frac_bits = frac_bits;
  s.is_signed = is_signed ? 1 : 0;
  s.infinities = infinities ? 1 : 0;
  s.W = int_bits + frac_bits;
  s.bits = s.W + s.is_signed;
  s.log_min = -(int32_t(1) << (s.W - 1)) + 1;
  s.log_max = (int32_t(1) << (s.W - 1)) - 1 - s.infinities;
  s.log_mask = (uint32_t(1) << s.W) - 1u;
  s.sign_bit = s.is_signed ? (uint32_t(1) << s.W) : 0u;
  s.zero_code = uint32_t(1) << (s.W - 1);
  s.nan_code = s.sign_bit | s.zero_code;
  return s;
}

// A decoded LNS value: class, sign and log integer L (finite non-zero values only).
struct LogVal {
  int32_t cls;
  uint32_t neg;
  int32_t L;
};

MF_HD LogVal lns_log_of_code(const LNSSpec& s, uint32_t code) {
  LogVal v;
  v.neg = (code & s.sign_bit) != 0 ? 1u : 0u;
  const uint32_t f = code & s.log_mask;
  v.L = int32_t(f) - int32_t((f >> (s.W - 1)) << s.W);  // sign-extend
  v.cls = IN_FINITE;
  if (f == s.zero_code) v.cls = v.neg ? IN_NAN : IN_ZERO;
  else if (s.infinities && v.L == s.log_max + 1) v.cls = IN_INF;
  if (v.cls == IN_ZERO) v.neg = 0;
  return v;
}

MF_HD uint32_t lns_code_of_log(const LNSSpec& s, uint32_t neg, int32_t L) {
  return (neg ? s.sign_bit : 0u) | (uint32_t(L) & s.log_mask);
}

// Code for a rounded log L (unbounded) of a non-zero finite value, or for +-Inf (cls).
// Overflow (L > log_max) and Inf: "finite"/"propagate" (and "none" without infinities)
// give the largest finite magnitude, "none" with infinities gives Inf (largest finite under a
// rounding that points inward), "nan" gives NaN; "propagate"/"none" keep an Inf input Inf.
// Underflow (L < log_min) gives zero, except a rounding that points away from zero, which
// gives the smallest magnitude.  Unsigned formats: negative non-zero values give zero.
MF_HD uint32_t lns_finish(const LNSSpec& s, int32_t mode, int32_t sat, int32_t cls, uint32_t neg,
                          int64_t L) {
  if (cls == IN_NAN) return s.is_signed ? s.nan_code : NO_CODE;
  if (cls == IN_ZERO) return s.zero_code;
  if (neg && !s.is_signed) return s.zero_code;
  const uint32_t inf_code = lns_code_of_log(s, neg, s.log_max + 1);
  const uint32_t max_code = lns_code_of_log(s, neg, s.log_max);
  const uint32_t nan = s.is_signed ? s.nan_code : NO_CODE;
  const bool inward = mode == TOWARD_ZERO || (mode == TOWARD_POSITIVE && neg) ||
                      (mode == TOWARD_NEGATIVE && !neg);
  if (cls == IN_INF) {
    if (sat == SAT_NAN) return nan;
    return (s.infinities && sat != SAT_FINITE) ? inf_code : max_code;
  }
  if (L > s.log_max) {
    if (sat == SAT_NAN) return nan;
    return (s.infinities && sat == SAT_NONE && !inward) ? inf_code : max_code;
  }
  if (L < s.log_min) {
    const bool away = (mode == TOWARD_POSITIVE && !neg) || (mode == TOWARD_NEGATIVE && neg);
    return away ? lns_code_of_log(s, neg, s.log_min) : s.zero_code;
  }
  return lns_code_of_log(s, neg, int32_t(L));
}

// Rounding of a log whose floor is t: `above_half` (fraction of the log > 1/2), `inexact`,
// and for stochastic modes the value-domain fraction nu = F64/2^64 (+ sticky).  Returns t or
// t + 1.  Ties in the log domain (tie = 1) occur only for exact half-integer logs (sqrt).
MF_HD int64_t lns_round(int32_t mode, int32_t n, uint32_t R, uint32_t neg, int64_t t,
                        uint32_t above_half, uint32_t tie, uint32_t inexact, uint64_t F64,
                        uint32_t sticky) {
  if (!inexact) return t;
  uint64_t Fd = above_half ? 0xC000000000000000ull : 0x4000000000000000ull;
  if (tie) Fd = 0x8000000000000000ull;
  const uint32_t odd = uint32_t(t & 1);
  if (is_stochastic(mode)) return t + rounds_away<uint64_t>(mode, F64, sticky, odd, neg, n, R);
  return t + rounds_away<uint64_t>(mode, Fd, 0u, odd, neg, n, R);
}

// Number of thresholds thr[1..2^(F+1)-1] below M: floor(2^(F+1) log2 m).
MF_HD int32_t lns_threshold_index(const uint64_t* thr, int32_t F, uint64_t M) {
  int32_t lo = 0, hi = int32_t(1) << (F + 1);  // invariant: thr[lo] < M or lo == 0; M <= thr[hi]
  while (hi - lo > 1) {
    const int32_t mid = (lo + hi) >> 1;
    if (M > thr[mid]) lo = mid; else hi = mid;
  }
  return lo;
}

// thr at F resolution (even k) with the end of the binade, 2^64, as a 128-bit number.
MF_HD u128 lns_mag64(const uint64_t* thr, int32_t F, int32_t j) {
  return j >= (int32_t(1) << F) ? (u128(1) << 64) : u128(thr[2 * j]);
}

// Encode an exact real (Parts) into LNS.
MF_HD uint32_t lns_encode_parts(const LNSSpec& s, const uint64_t* thr, int32_t mode, int32_t sat,
                                int32_t n, const Parts<uint64_t>& p, uint32_t R) {
  if (p.cls != IN_FINITE) return lns_finish(s, mode, sat, p.cls, p.neg, 0);
  const int32_t F = s.frac_bits;
  const uint64_t M = p.sig << (63 - top_bit(p.sig));  // m 2^63, m in [1, 2)
  const int32_t k2 = lns_threshold_index(thr, F, M);
  const uint32_t exact = uint32_t(M == (uint64_t(1) << 63));
  const int32_t j = k2 >> 1;                             // floor(2^F log2 m)
  const int64_t t = int64_t(p.ex) * (int64_t(1) << F) + j;
  uint64_t F64 = 0;
  uint32_t sticky = 0;
  if (is_stochastic(mode) && !exact) {
    const u128 lo = lns_mag64(thr, F, j), hi = lns_mag64(thr, F, j + 1);
    // M and the neighbours' magnitudes are exact to within one unit of 2^-63 (irrational
    // neighbours are truncated): nu = (M - lo) / (hi - lo) defines the probability.
    const u128 num = (u128(M) - lo) << 64;
    const u128 den = hi - lo;
    F64 = uint64_t(num / den);
    sticky = uint32_t(num % den != 0);
  }
  const int64_t L = lns_round(mode, n, R, p.neg, t, uint32_t(k2 & 1), 0u, exact ^ 1u, F64, sticky);
  return lns_finish(s, mode, sat, IN_FINITE, p.neg, L);
}

// float64 value of 2^(L/2^F), correctly rounded (ties impossible: irrational unless exact).
MF_HD double lns_double_of_log(const uint64_t* thr, int32_t F, int32_t L) {
  const int32_t e = L >> F;  // floor (arithmetic shift)
  const int32_t j = L - (e << F);
  const uint64_t T = thr[2 * j];
  if (j == 0) return pow2(e);
  const uint64_t q = (T >> 11) + ((T & 0x7FFu) >= 0x400u ? 1u : 0u);  // RN to 53 bits
  return double(q) * pow2(e - 52);  // q <= 2^53: exact; e within float64's range
}

MF_HD double lns_decode_double(const LNSSpec& s, const uint64_t* thr, uint32_t code) {
  const LogVal v = lns_log_of_code(s, code);
  const double inf = double_of(0x7FF0000000000000ull);
  double r;
  if (v.cls == IN_NAN) return double_of(0x7FF8000000000000ull);
  if (v.cls == IN_ZERO) return 0.0;
  if (v.cls == IN_INF) r = inf;
  else r = lns_double_of_log(thr, s.frac_bits, v.L);
  return v.neg ? -r : r;
}

// The value as Parts for projection into another (float or fixed-point) format: exact for
// integer logs, else the 62-bit truncation with the half-LSB sticky bit of arith.h, which
// every deterministic rounding to <= 53 bits decides as the irrational value would.
MF_HD Parts<uint64_t> lns_parts_of_log(const uint64_t* thr, int32_t F, LogVal v) {
  Parts<uint64_t> p;
  p.cls = v.cls;
  p.neg = v.neg;
  p.sig = 0;
  p.e_lsb = 0;
  p.ex = 0;
  if (v.cls != IN_FINITE) return p;
  const int32_t e = v.L >> F;
  const int32_t j = v.L - (e << F);
  if (j == 0) {
    p.sig = 1;
    p.e_lsb = e;
  } else {
    p.sig = 2 * (thr[2 * j] >> 2) + 1;  // strictly between the truncation and the next step
    p.e_lsb = e - 62;
  }
  p.ex = e;
  return p;
}

// ---- exact operations on logs ----
enum LNSOp : int32_t {
  LNS_ADD = 0, LNS_SUB = 1, LNS_MUL = 2, LNS_DIV = 3, LNS_SQRT = 5, LNS_NEG = 6, LNS_ABS = 7,
  LNS_COPY = 8, LNS_POW = 9,
};

// Result of an operation before the final rounding/saturation: either a special class, or a
// log with the data lns_round needs.
struct LogResult {
  int32_t cls;
  uint32_t neg;
  int64_t t;           // floor of the exact log (units 2^-F)
  uint32_t above_half, tie, inexact;
  uint64_t F64;        // value-domain fraction for stochastic modes
  uint32_t sticky;
};

MF_HD LogResult log_special(int32_t cls, uint32_t neg) {
  LogResult r;
  r.cls = cls;
  r.neg = cls == IN_ZERO ? 0u : neg;
  r.t = 0;
  r.above_half = r.tie = r.inexact = 0;
  r.F64 = 0;
  r.sticky = 0;
  return r;
}

MF_HD LogResult log_exact(uint32_t neg, int64_t L) {
  LogResult r = log_special(IN_FINITE, neg);
  r.t = L;
  return r;
}

MF_HD LogResult lns_mul(const LogVal& a, const LogVal& b) {
  const uint32_t neg = a.neg ^ b.neg;
  if (a.cls == IN_NAN || b.cls == IN_NAN) return log_special(IN_NAN, 0);
  if (a.cls == IN_INF || b.cls == IN_INF)
    return (a.cls == IN_ZERO || b.cls == IN_ZERO) ? log_special(IN_NAN, 0)
                                                  : log_special(IN_INF, neg);
  if (a.cls == IN_ZERO || b.cls == IN_ZERO) return log_special(IN_ZERO, 0);
  return log_exact(neg, int64_t(a.L) + b.L);
}

MF_HD LogResult lns_div(const LogVal& a, const LogVal& b) {
  const uint32_t neg = a.neg ^ b.neg;
  if (a.cls == IN_NAN || b.cls == IN_NAN) return log_special(IN_NAN, 0);
  if (a.cls == IN_INF) return b.cls == IN_INF ? log_special(IN_NAN, 0) : log_special(IN_INF, neg);
  if (b.cls == IN_INF) return log_special(IN_ZERO, 0);
  if (b.cls == IN_ZERO) return a.cls == IN_ZERO ? log_special(IN_NAN, 0) : log_special(IN_INF, neg);
  if (a.cls == IN_ZERO) return log_special(IN_ZERO, 0);
  return log_exact(neg, int64_t(a.L) - b.L);
}

// sqrt: the exact log L/2 is an integer or a tie (half-integer) in the log domain; the tie is
// decided by the rounding mode (nearest_even: even L; stochastic: probability 1/2).
MF_HD LogResult lns_sqrt(const LogVal& a) {
  if (a.cls == IN_NAN || (a.neg && a.cls != IN_ZERO)) return log_special(IN_NAN, 0);
  if (a.cls != IN_FINITE) return log_special(a.cls, 0);
  LogResult r = log_exact(0u, int64_t(a.L) >> 1);  // floor
  if (a.L & 1) {
    r.inexact = 1;
    r.tie = 1;
    r.F64 = 0x8000000000000000ull;
  }
  return r;
}

// Integer power a^k: exact log k L (0^0 = 1, 0^k = 0 for k > 0 and Inf for k < 0).
MF_HD LogResult lns_pow(const LogVal& a, int32_t k) {
  if (a.cls == IN_NAN) return log_special(IN_NAN, 0);
  if (k == 0) return log_exact(0u, 0);
  const uint32_t neg = a.neg & uint32_t(k & 1);
  if (a.cls == IN_ZERO) return k > 0 ? log_special(IN_ZERO, 0) : log_special(IN_INF, 0);
  if (a.cls == IN_INF) return k > 0 ? log_special(IN_INF, neg) : log_special(IN_ZERO, 0);
  return log_exact(neg, int64_t(a.L) * k);
}

// ---- addition: larger + sbdb(z, same_sign), z = -|La - Lb| ----
// Gaussian-log data for every z in [-(zlen - 1), 0] (beyond: the essential-zero entry zlen-1
// is reused, whose correction rounds like a positive/negative infinitesimal):
//   exact algorithm:  floor of the correction, flags (bit0 inexact, bit1 above half, bit2 the
//                     value-domain fraction F64 is inexact), F64
//   table algorithm:  one integer per z (already rounded, e.g. to nearest), used as is
struct GaussTables {
  const int32_t* sb_floor; const uint8_t* sb_flags; const uint64_t* sb_nu;
  const int32_t* db_floor; const uint8_t* db_flags; const uint64_t* db_nu;
  int32_t zlen_sb, zlen_db;
  int32_t table_only;  // 1: *_floor are final corrections (table / interp / mitchell)
};

MF_HD LogResult lns_add(const LogVal& a0, const LogVal& b0, uint32_t subtract, int32_t mode,
                        const GaussTables& g) {
  LogVal a = a0, b = b0;
  b.neg ^= subtract;
  if (b0.cls == IN_ZERO) b.neg = 0;
  if (a.cls == IN_NAN || b.cls == IN_NAN) return log_special(IN_NAN, 0);
  if (a.cls == IN_INF && b.cls == IN_INF)
    return a.neg == b.neg ? log_special(IN_INF, a.neg) : log_special(IN_NAN, 0);
  if (a.cls == IN_INF) return log_special(IN_INF, a.neg);
  if (b.cls == IN_INF) return log_special(IN_INF, b.neg);
  if (a.cls == IN_ZERO && b.cls == IN_ZERO) return log_special(IN_ZERO, 0);
  if (a.cls == IN_ZERO) return log_exact(b.neg, b.L);
  if (b.cls == IN_ZERO) return log_exact(a.neg, a.L);
  const bool a_big = a.L > b.L || (a.L == b.L && !a.neg);  // equal logs: any order
  const LogVal& big = a_big ? a : b;
  const LogVal& small = a_big ? b : a;
  const int64_t d = int64_t(big.L) - small.L;  // -z >= 0
  const bool same = big.neg == small.neg;
  if (!same && d == 0) return log_special(IN_ZERO, 0);  // x - x = +0
  const int32_t zlen = same ? g.zlen_sb : g.zlen_db;
  const int64_t idx = d < zlen ? d : zlen - 1;
  const int32_t fl = same ? g.sb_floor[idx] : g.db_floor[idx];
  LogResult r = log_exact(big.neg, int64_t(big.L) + fl);
  if (g.table_only) return r;
  const uint8_t flags = same ? g.sb_flags[idx] : g.db_flags[idx];
  r.inexact = flags & 1u;
  r.above_half = (flags >> 1) & 1u;
  r.F64 = same ? g.sb_nu[idx] : g.db_nu[idx];
  r.sticky = (flags >> 2) & 1u;
  (void)mode;
  return r;
}

MF_HD uint32_t lns_finish_result(const LNSSpec& s, int32_t mode, int32_t sat, int32_t n,
                                 const LogResult& r, uint32_t R) {
  if (r.cls != IN_FINITE) return lns_finish(s, mode, sat, r.cls, r.neg, 0);
  const int64_t L = lns_round(mode, n, R, r.neg, r.t, r.above_half, r.tie, r.inexact, r.F64,
                              r.sticky);
  return lns_finish(s, mode, sat, IN_FINITE, r.neg, L);
}

// ---- fast path for + - * / on two finite non-zero operands ----
// Everything that does not depend on the element is decided once per call (LNSBinaryPlan):
// the op, the formats, the codes of out-of-range results (lns_finish for each sign), and for
// deterministic modes lns_round's decision for each (inexact, above half, sign, parity of t)
// as a 16-bit mask.  The Gaussian-log data are packed into one int32 table (lns_pack_gauss:
// floor * 8 + flags, sb entries then db entries), so that the per-element work is a few
// integer operations, one table lookup and no branch (the loops in csrc/ vectorise it, with
// gathers).  Operands that are zero, NaN or Inf are reported (`special`) for the general path
// (lns_add / lns_mul / lns_div + lns_finish_result): results are identical to it by
// construction, and tests compare both with the oracle.
struct LNSBinaryPlan {
  int32_t op;                    // LNS_ADD, LNS_SUB, LNS_MUL or LNS_DIV
  int32_t mode, n;
  int32_t wa, wb;                // 32 - W of each operand (sign extension by shifts)
  int32_t amin, arange, bmin, brange;  // ordinary logs: L - log_min <= log_max - log_min
  uint32_t sa_sign, sb_sign;     // sign bits of the operands' codes
  uint32_t sub;                  // 1: b's sign is flipped (subtraction)
  const int32_t* packed;         // lns_pack_gauss table
  int32_t zsb_last, zdb_last, db_base;  // last sb index, last db index, db's offset in packed
  const uint64_t* sb_nu;         // value-domain fractions (stochastic modes)
  const uint64_t* db_nu;
  uint32_t up_bits;              // deterministic: bit (inexact | above<<1 | neg<<2 | odd<<3)
  int32_t omin, omax;            // the result's log_min, log_max
  uint32_t omask, osign, ozero, neg_zero;  // neg_zero: unsigned result, negative -> zero
  uint32_t over0, over1, under0, under1;   // codes of L > omax / L < omin, by sign
  uint32_t inf0, inf1, nan;      // codes of an infinite result by sign (x / 0), of NaN (0 / 0)
};

// Entries of the packed table: zlen_sb + zlen_db.
MF_HD int32_t lns_packed_size(const GaussTables& g) { return g.zlen_sb + g.zlen_db; }

// floor * 8 + flags (bit 0 inexact, bit 1 above half, bit 2 nu inexact) of every sb entry,
// then of every db entry; final corrections (table_only) carry no flags (no rounding).
MF_HD void lns_pack_gauss(const GaussTables& g, int32_t* out) {
  const uint32_t mask = g.table_only ? 0u : 7u;
  for (int32_t k = 0; k < g.zlen_sb; ++k)
    out[k] = g.sb_floor[k] * 8 + int32_t(g.sb_flags[k] & mask);
  for (int32_t k = 0; k < g.zlen_db; ++k)
    out[g.zlen_sb + k] = g.db_floor[k] * 8 + int32_t(g.db_flags[k] & mask);
}

MF_HD LNSBinaryPlan make_lns_binary_plan(const LNSSpec& sa, const LNSSpec& sb, const LNSSpec& so,
                                         int32_t op, int32_t mode, int32_t sat, int32_t n,
                                         const GaussTables& g, const int32_t* packed) {
  LNSBinaryPlan p;
  p.op = op;
  p.mode = mode;
  p.n = n;
  p.wa = 32 - sa.W;
  p.wb = 32 - sb.W;
  p.amin = sa.log_min;
  p.arange = sa.log_max - sa.log_min;
  p.bmin = sb.log_min;
  p.brange = sb.log_max - sb.log_min;
  p.sa_sign = sa.sign_bit;
  p.sb_sign = sb.sign_bit;
  p.sub = op == LNS_SUB ? 1u : 0u;
  p.packed = packed;
  p.zsb_last = g.zlen_sb - 1;
  p.zdb_last = g.zlen_db - 1;
  p.db_base = g.zlen_sb;
  p.sb_nu = g.sb_nu;
  p.db_nu = g.db_nu;
  p.up_bits = 0;
  for (uint32_t k = 0; k < 16; ++k) {  // lns_round's decision from (inexact, above, neg, odd)
    const uint32_t inexact = k & 1u, above = (k >> 1) & 1u, neg = (k >> 2) & 1u;
    const int64_t t = int64_t((k >> 3) & 1u);
    if (!is_stochastic(mode) && lns_round(mode, n, 0u, neg, t, above, 0u, inexact, 0u, 0u) != t)
      p.up_bits |= 1u << k;
  }
  p.omin = so.log_min;
  p.omax = so.log_max;
  p.omask = so.log_mask;
  p.osign = so.sign_bit;
  p.ozero = so.zero_code;
  p.neg_zero = so.is_signed ? 0u : 1u;
  p.over0 = lns_finish(so, mode, sat, IN_FINITE, 0u, int64_t(so.log_max) + 1);
  p.over1 = lns_finish(so, mode, sat, IN_FINITE, 1u, int64_t(so.log_max) + 1);
  p.under0 = lns_finish(so, mode, sat, IN_FINITE, 0u, int64_t(so.log_min) - 1);
  p.under1 = lns_finish(so, mode, sat, IN_FINITE, 1u, int64_t(so.log_min) - 1);
  p.inf0 = lns_finish(so, mode, sat, IN_INF, 0u, 0);
  p.inf1 = lns_finish(so, mode, sat, IN_INF, 1u, 0);
  p.nan = lns_finish(so, mode, sat, IN_NAN, 0u, 0);
  return p;
}

// lns_finish for a finite non-zero result of sign neg and rounded log L, without branches.
MF_HD uint32_t lns_code_fast(const LNSBinaryPlan& p, int32_t L, uint32_t neg) {
  const uint32_t in = sel<uint32_t>(neg & p.neg_zero, p.ozero,
                                    (neg * p.osign) | (uint32_t(L) & p.omask));
  const uint32_t lo = sel<uint32_t>(uint32_t(L < p.omin), sel<uint32_t>(neg, p.under1, p.under0),
                                    in);
  return sel<uint32_t>(uint32_t(L > p.omax), sel<uint32_t>(neg, p.over1, p.over0), lo);
}

// The result code of a binary op when both operands are finite (zero included); `special` is
// set to 1 (and the return value is meaningless) when one is NaN or Inf.  kOp: LNS_ADD (also
// subtraction: the plan says which), LNS_MUL, LNS_DIV.  kStochastic: R is the element's bits.
// Zero operands follow lns_add / lns_mul / lns_div: x + 0 = x, 0 + 0 = +0, 0 * x = 0,
// 0 / x = 0, x / 0 = Inf (then lns_finish), 0 / 0 = NaN.
template <int32_t kOp, bool kStochastic>
MF_HD uint32_t lns_binary_fast(const LNSBinaryPlan& p, uint32_t ca, uint32_t cb, uint32_t R,
                               uint32_t& special) {
  const int32_t La = int32_t(ca << p.wa) >> p.wa, Lb = int32_t(cb << p.wb) >> p.wb;
  const uint32_t na = uint32_t((ca & p.sa_sign) != 0);
  uint32_t nb = uint32_t((cb & p.sb_sign) != 0);
  const uint32_t a_ord = uint32_t(uint32_t(La - p.amin) <= uint32_t(p.arange));
  const uint32_t b_ord = uint32_t(uint32_t(Lb - p.bmin) <= uint32_t(p.brange));
  const uint32_t a_zero = uint32_t(La == p.amin - 1) & (na ^ 1u);  // sign 1 there is NaN
  const uint32_t b_zero = uint32_t(Lb == p.bmin - 1) & (nb ^ 1u);
  special = ((a_ord | a_zero) & (b_ord | b_zero)) ^ 1u;
  if (kOp == LNS_MUL || kOp == LNS_DIV) {
    const uint32_t code = lns_code_fast(p, kOp == LNS_MUL ? La + Lb : La - Lb, na ^ nb);
    if (kOp == LNS_MUL) return sel<uint32_t>(a_zero | b_zero, p.ozero, code);
    const uint32_t by_zero = sel<uint32_t>(a_zero, p.nan, sel<uint32_t>(na, p.inf1, p.inf0));
    return sel<uint32_t>(b_zero, by_zero, sel<uint32_t>(a_zero, p.ozero, code));
  }
  nb ^= p.sub;
  const int32_t diff = La - Lb;
  const uint32_t a_big = uint32_t(diff > 0) | (uint32_t(diff == 0) & (na ^ 1u));
  const int32_t Lbig = sel<int32_t>(a_big, La, Lb);
  const uint32_t neg = sel<uint32_t>(a_big, na, nb);
  const int32_t d = diff < 0 ? -diff : diff;
  const uint32_t same = uint32_t(na == nb);
  const int32_t last = sel<int32_t>(same, p.zsb_last, p.zdb_last);
  const int32_t j = d < last ? d : last;  // distances past the end reuse the last entry
  const int32_t e = p.packed[j + sel<int32_t>(same, 0, p.db_base)];
  const int32_t t = Lbig + (e >> 3);      // arithmetic shift: the floor of the correction
  uint32_t up;
  if (kStochastic) {
    // both loads and an unconditional decision: the signs are random, no branch to mispredict
    const uint64_t nu = sel<uint64_t>(same, p.sb_nu[j], p.db_nu[j]);
    up = rounds_away<uint64_t>(p.mode, nu, uint32_t(e >> 2) & 1u, uint32_t(t & 1), neg, p.n, R) &
         uint32_t(e & 1);  // exact corrections (bit 0 clear) are not rounded
  } else {
    up = (p.up_bits >> ((uint32_t(e) & 3u) | (neg << 2) | (uint32_t(t & 1) << 3))) & 1u;
  }
  // b zero: the result is a; a zero: +-b (exact logs, only lns_finish applies)
  int32_t L = sel<int32_t>(a_zero, Lb, t + int32_t(up));
  uint32_t rneg = sel<uint32_t>(a_zero, nb, neg);
  L = sel<int32_t>(b_zero, La, L);
  rneg = sel<uint32_t>(b_zero, na, rneg);
  const uint32_t code = lns_code_fast(p, L, rneg);
  const uint32_t nz = (a_zero | b_zero) ^ 1u;
  const uint32_t cancel = ((same ^ 1u) & uint32_t(d == 0) & nz) | (a_zero & b_zero);  // x-x, 0+0
  return sel<uint32_t>(cancel, p.ozero, code);
}

// Rescale a log from F_in to F_out fraction bits (LNS -> LNS conversion): exact when
// F_out >= F_in, else rounded in the log domain with the exact fraction (ties possible).
MF_HD LogResult lns_rescale(const LogVal& a, int32_t F_in, int32_t F_out) {
  if (a.cls != IN_FINITE) return log_special(a.cls, a.neg);
  if (F_out >= F_in) return log_exact(a.neg, int64_t(a.L) << (F_out - F_in));
  const int32_t sh = F_in - F_out;
  LogResult r = log_exact(a.neg, int64_t(a.L) >> sh);
  const uint64_t rem = uint64_t(int64_t(a.L) - (r.t << sh));  // 0 <= rem < 2^sh
  if (rem) {
    const uint64_t half = uint64_t(1) << (sh - 1);
    r.inexact = 1;
    r.above_half = uint32_t(rem > half);
    r.tie = uint32_t(rem == half);
    r.F64 = rem << (64 - sh);  // log-domain fraction (both neighbours are powers of 2^(2^-F))
  }
  return r;
}

}  // namespace mf
