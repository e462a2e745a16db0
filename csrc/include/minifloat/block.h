// Block-scaled formats (docs/semantics.md §8): a block of elements shares one scale code;
// element i of a block with scale value s (times a per-tensor scale T) stands for
// element_value * s * T.  This header holds the per-block decisions: the scale chosen from the
// block's largest magnitude A by a scale rule, and the exact parts of x / (s * T), which the
// element projection of project.h (float elements) or fixed.h (fixed-point elements) then
// rounds once.  No rounding happens anywhere else: x / d is never formed in floating point.
#pragma once
#if !defined(__CUDACC_RTC__)
#include <math.h>  // fma (NVRTC has it built in)
#endif

#include "minifloat/decode.h"
#include "minifloat/fixed.h"
#include "minifloat/project.h"
#include "minifloat/project_f32.h"

namespace mf {

// Scale rules.  E is the exponent of a power-of-two scale 2^E; emax_e = floor(log2(element
// max)); A > 0 finite.
enum ScaleRule : int32_t {
  RULE_FLOOR = 0,  // E = floor(log2 A) - emax_e                       (OCP MX v1.0 §6.3)
  RULE_CEIL = 1,   // E = ceil(log2 A) - emax_e                        (torchao CEIL)
  RULE_EVEN = 2,   // E = floor(log2 A') - emax_e, A' = A rounded to the element's precision,
                   //     ties away (torchao EVEN)
  RULE_RCEIL = 3,  // E = ceil(log2(A / element max)): the smallest 2^E with A/2^E <= max
                   //     (NVIDIA cuBLAS / torchao RCEIL)
  RULE_AMAX = 4,   // s = A / (element max * T) rounded to nearest-even in the scale format,
                   //     saturating to its largest value (NVFP4)
};

// Everything a block kernel needs that is fixed for a call.
struct BlockSpec {
  int32_t elem_kind;   // 0 float element, 1 fixed-point element
  FloatSpec ef;        // float element
  FixedSpec ex;        // fixed-point element
  FloatSpec sf;        // scale format
  int32_t rule;        // ScaleRule
  int32_t emax_e;      // floor(log2(element max))
  int32_t prec_e;      // element bits below the leading one at the top binade (RULE_EVEN)
  double elem_max;     // largest finite element value
  int32_t pmin, pmax;  // powers of two 2^pmin .. 2^pmax are scale values (power-of-two rules)
  double tensor;       // T (1.0 without a per-tensor scale); a float32 value
  // --- derived once per call (finish_block_spec) ---
  Plan splan;          // the scale's projection plan (nearest-even, finite saturation)
  double dmax_odd;     // element max * T = dmax_odd * 2^dmax_e (RULE_AMAX's divisor)
  int32_t dmax_e;
  int32_t scale_f32;   // RULE_AMAX with float32 amax may take the float32 path (quotient proxy)
  F32Consts sc32;      // the scale format's float32-path constants
};

// Exact parts of a positive finite double.
MF_HD Parts<uint64_t> parts_of_positive(double v) { return parts_of(v); }

// floor(log2 |v|) of a finite non-zero double (subnormals included).
MF_HD int32_t ilog2_of(double v) { return parts_of(v).ex; }

// v is an integer power of two (v > 0 finite).
MF_HD bool is_pow2(double v) {
  const Parts<uint64_t> p = parts_of(v);
  return (p.sig & (p.sig - 1u)) == 0u;
}

// A finite positive double as odd integer * 2^e.
struct OddPow { double odd; int32_t e; };
MF_HD OddPow odd_pow(double v) {
  Parts<uint64_t> p = parts_of(v);
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
  const int32_t tz = __ffsll(static_cast<long long>(p.sig)) - 1;
#else
  const int32_t tz = __builtin_ctzll(p.sig);
#endif
  OddPow r;
  r.odd = double(p.sig >> tz);
  r.e = p.e_lsb + tz;
  return r;
}

// ---- float32 input, non-power-of-two d: a float32 proxy of x / d for project_f32 ----
// q = RN(|x| / d) and the exact remainder r = |x| - q*d (fma) pin the true quotient v
// strictly between q and q + sign(r) * ulp(q)/2.  The proxy is v truncated to float32's 24
// bits with the last bit OR-ed with "anything below" (jamming): it lies strictly inside the
// same interval between consecutive rounding boundaries as v whenever those are at least two
// float32 ulps apart, i.e. element mantissa bits + random bits <= 21, so every mode decides
// the same (quotient_f32_ok).  Quotients above float32's range become its largest value
// (above every element: all overflow alike), below 2^-126 its smallest subnormal (nonzero and
// below every boundary of an element whose quantum is >= 2^(n + 2 - 126)).
MF_HD uint32_t quotient_f32_bits(uint32_t xb, double d) {
  const uint32_t mag = xb & 0x7FFFFFFFu;
  const double X = double(float_of(mag));
  const double q = X / d;
  const double r = fma(-q, d, X);
  const uint64_t qb = bits_of(q);
  const int32_t e = int32_t(qb >> 52) - 1023;
  const uint64_t low = qb & 0x1FFFFFFFull;
  const uint32_t t = uint32_t((qb - (uint64_t(1023 - 127) << 52)) >> 29) -
                     uint32_t((low == 0u) & (r < 0.0));
  const uint32_t proxy = t | uint32_t((low != 0u) | (r != 0.0));
  uint32_t out = sel<uint32_t>(uint32_t(e > 127), 0x7F7FFFFFu, proxy);
  out = sel<uint32_t>(uint32_t(e < -126), 1u, out);
  out = sel<uint32_t>(uint32_t((mag == 0u) | (mag >= 0x7F800000u)), mag, out);
  return (xb & 0x80000000u) | out;
}

MF_HD bool quotient_f32_ok(const FloatSpec& f, int32_t mode, int32_t n) {
  const int32_t nb = is_stochastic(mode) ? n + 1 : 1;
  return f.emin >= -126 && f.man_bits + nb <= 21 && f.emin - f.man_bits - nb - 2 >= -126 &&
         f.emin + (f.kmax >> f.man_bits) < 126;
}

MF_HD void finish_block_spec(BlockSpec& b) {
  b.splan = make_plan(b.sf, NEAREST_EVEN, SAT_FINITE, 0);
  const OddPow d = odd_pow(b.elem_max * b.tensor);  // exact: <= 24 + 17 bits
  b.dmax_odd = d.odd;
  b.dmax_e = d.e;
  b.scale_f32 = int32_t(f32_path_ok(b.sf, NEAREST_EVEN, 0) &&
                        quotient_f32_ok(b.sf, NEAREST_EVEN, 0));
  b.sc32 = make_f32_consts(b.sf);
}

// Exact parts of x / d for finite x (given as parts, significand < 2^54) and d = D * 2^De
// (D an odd integer below 2^53).  q = RN(X / D) of the integer significands; the remainder
// r = X - q*D is exact (fma; the remainder of a correctly rounded quotient is representable),
// so the true quotient lies strictly between q and q + sign(r) * ulp(q)/2.  The result keeps
// q's 53 bits plus one jammed bit (2*sig(q) + sign(r)): bits above the last are the exact
// truncation and the last is set iff anything non-zero lies at or below it.  That decides
// every rounding with m + 1 result bits and n random bits when m + n <= 50 (checked in
// Python: minifloat/formats/block.py).
MF_HD Parts<uint64_t> divide_parts(const Parts<uint64_t>& x, double D, int32_t De) {
  if (x.cls != IN_FINITE) return x;
  const double X = double(x.sig);  // exact: sig < 2^54 and, for doubles, < 2^53
  const double q = X / D;
  const double r = fma(-q, D, X);
  const Parts<uint64_t> pq = parts_of(q);
  Parts<uint64_t> p = x;
  p.sig = 2u * pq.sig + uint64_t(r > 0.0) - uint64_t(r < 0.0);
  p.e_lsb = x.e_lsb + pq.e_lsb - 1 - De;
  p.ex = p.e_lsb + top_bit(p.sig);
  return p;
}

// x / 2^E exactly.
MF_HD Parts<uint64_t> shift_parts(Parts<uint64_t> x, int32_t E) {
  x.e_lsb -= E;
  x.ex -= E;
  return x;
}

// ---- The scale of a block ----
struct BlockScale {
  uint32_t code;     // scale code (NO_CODE: NaN needed but the scale format has none)
  uint32_t is_nan;   // the block's scale is NaN: every element decodes to NaN
  uint32_t pow2;     // d = s * T is 2^E (elements by shift_parts), else by divide_parts
  int32_t E;         // exponent of d when pow2
  double D;          // odd significand of d (divide path)
  int32_t De;        // d = D * 2^De
};

// The code of the power of two 2^E in the scale format (pmin <= E <= pmax: exact): the
// exponent field E + bias with a zero mantissa, or in the subnormal binade the single
// mantissa bit 2^(E - (emin - m)).
MF_HD uint32_t scale_code_of_pow2(const FloatSpec& sf, int32_t E) {
  if (E >= sf.emin) return uint32_t(E + sf.bias) << sf.man_bits;
  return uint32_t(1) << (sf.man_bits - (sf.emin - E));
}

MF_HD uint32_t scale_nan_code(const FloatSpec& sf) { return sf.has_nan ? nan_code(sf, 0) : NO_CODE; }

// The exponent E of a power-of-two rule for amax A > 0 finite.
MF_HD int32_t rule_exponent(const BlockSpec& b, double A) {
  const Parts<uint64_t> p = parts_of(A);
  const int32_t fl = p.ex;
  switch (b.rule) {
    case RULE_FLOOR: return fl - b.emax_e;
    case RULE_CEIL: return fl + int32_t((p.sig & (p.sig - 1u)) != 0u) - b.emax_e;
    case RULE_EVEN: {
      // A's significand 1.f rounded to prec_e fraction bits (ties away) carries into the next
      // binade iff 1.f >= 2 - 2^-(prec_e + 1): compare the bits of A below its leading one.
      const int32_t below = fl - p.e_lsb;  // fraction bits of sig
      const uint64_t frac = p.sig - (uint64_t(1) << below);
      // threshold: (1 - 2^-(prec_e+1)) * 2^below, an integer when below >= prec_e + 1
      uint32_t carry;
      if (below <= b.prec_e) {
        carry = 0u;  // A already has at most prec_e fraction bits: no rounding, no carry
      } else {
        const uint64_t thr = (uint64_t(1) << below) - (uint64_t(1) << (below - b.prec_e - 1));
        carry = uint32_t(frac >= thr);
      }
      return fl + int32_t(carry) - b.emax_e;
    }
    default: {  // RULE_RCEIL: E0 = fl - floor(log2 max), then A / 2^E0 and max share their
                // binade: compare the significands (normalised to 64 bits), exactly.
      const Parts<uint64_t> pm = parts_of(b.elem_max);
      const int32_t E0 = fl - pm.ex;
      const uint64_t sa = p.sig << (63 - top_bit(p.sig));
      const uint64_t sm = pm.sig << (63 - top_bit(pm.sig));
      return E0 + int32_t(sa > sm);
    }
  }
}

// Scale of a block with largest finite magnitude A (>= 0) that holds NaN (has_nan) or +-Inf
// (has_inf) or neither.
// a_bits: the float32 bits of A when A is a float32 value and b.scale_f32 holds (RULE_AMAX
// then takes the float32 path), else NO_CODE.
MF_HD BlockScale block_scale(const BlockSpec& b, double A, uint32_t has_nan, uint32_t has_inf,
                             uint32_t a_bits = NO_CODE) {
  BlockScale s;
  s.is_nan = 0;
  s.pow2 = 1;
  s.E = 0;
  s.D = 1.0;
  s.De = 0;
  if (b.rule == RULE_AMAX) {
    if (has_nan) {
      s.code = scale_nan_code(b.sf);
      s.is_nan = 1;
      return s;
    }
    // s = RN(A / (max * T)), saturating; +-Inf saturates to the largest scale too.
    uint32_t code;
    if (a_bits != NO_CODE) {  // float32 amax on the float32 path (quotient_f32_ok holds)
      const uint32_t u = has_inf ? 0x7F800000u
                                 : quotient_f32_bits(a_bits, b.dmax_odd * pow2(b.dmax_e));
      code = project_f32<NEAREST_EVEN, true>(b.sf, b.splan, b.sc32, 0, u, 0u);
    } else {
      Parts<uint64_t> pa = parts_of(has_inf ? double_of(0x7FF0000000000000ull) : A);
      if (pa.cls == IN_FINITE) pa = divide_parts(pa, b.dmax_odd, b.dmax_e);
      code = project<uint64_t>(b.sf, b.splan, NEAREST_EVEN, 0, pa, 0u);
    }
    // A zero scale (A == 0 or below the scale's range) becomes the smallest positive scale.
    if ((A == 0.0 && !has_inf) || ((code & b.sf.mag_mask) == 0u && b.sf.has_zero))
      code = b.sf.has_zero ? 1u : 0u;
    s.code = code;
    const double sv = decode_double(b.sf, code) * b.tensor;  // exact (bits checked in Python)
    s.pow2 = uint32_t(is_pow2(sv));
    if (s.pow2) {
      s.E = ilog2_of(sv);
    } else {
      const OddPow d = odd_pow(sv);
      s.D = d.odd;
      s.De = d.e;
    }
    return s;
  }
  if (has_nan || has_inf) {  // amax Inf: the exponent is above every scale (OCP, microxcaling)
    s.code = scale_nan_code(b.sf);
    s.is_nan = 1;
    return s;
  }
  int32_t E = A == 0.0 ? b.pmin : rule_exponent(b, A);
  if (E > b.pmax) {
    s.code = scale_nan_code(b.sf);
    s.is_nan = 1;
    return s;
  }
  E = max_of(E, b.pmin);
  s.code = scale_code_of_pow2(b.sf, E);
  // With a per-tensor scale, d = 2^E * T.
  if (b.tensor == 1.0) {
    s.E = E;
  } else {
    const OddPow d = odd_pow(b.tensor);
    s.pow2 = uint32_t(d.odd == 1.0);
    s.E = E + d.e;
    s.D = d.odd;
    s.De = E + d.e;
  }
  return s;
}

// The element's parts divided by the block's d = s * T.
MF_HD Parts<uint64_t> scaled_parts(const BlockScale& s, const Parts<uint64_t>& x) {
  return s.pow2 ? shift_parts(x, s.E) : divide_parts(x, s.D, s.De);
}

// The element code of x in a block with scale s (not NaN); NO_CODE as project().
MF_HD uint32_t block_element_code(const BlockSpec& b, const Plan& plan, const BlockScale& s,
                                  int32_t mode, int32_t sat, int32_t n,
                                  const Parts<uint64_t>& x, uint32_t R) {
  const Parts<uint64_t> q = scaled_parts(s, x);
  if (b.elem_kind == 0) return project<uint64_t>(b.ef, plan, mode, n, q, R);
  return fixed_project(b.ex, mode, sat, n, units_of_parts(q, b.ex.frac_bits), R);
}

}  // namespace mf
