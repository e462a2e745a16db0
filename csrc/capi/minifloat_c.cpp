// minifloat C ABI (minifloat_c.h): argument checks and flag bookkeeping around the header core.
// Every result code comes from the same calls as csrc/module.cpp's arith_loop and encode path:
// exact_of_code -> exact_op -> make_plan + project (arith.h, project.h).
#include "minifloat_c.h"

#include <cstdio>
#include <cstring>

#include "minifloat/arith.h"
#include "minifloat/decode.h"

namespace {

using mf::Exact;
using mf::FloatSpec;

void put_msg(char* msg, size_t size, const char* text) {
  if (msg == nullptr || size == 0) return;
  std::snprintf(msg, size, "%s", text);
}

bool is_bool(int32_t v) { return v == 0 || v == 1; }

// The validity rules of FloatFormat.__init__ (minifloat/formats/float.py), in the same order.
int check_format(const mf_format* f, char* msg, size_t size) {
  char buf[256];
  if (f == nullptr) {
    put_msg(msg, size, "format pointer is NULL");
    return MF_ERR_NULL;
  }
  auto fail = [&](const char* text) {
    put_msg(msg, size, text);
    return MF_ERR_FORMAT;
  };
  if (f->exp_bits < 0 || f->exp_bits > 15) {
    std::snprintf(buf, sizeof buf, "exp_bits=%d; allowed: 0..15", int(f->exp_bits));
    return fail(buf);
  }
  if (f->man_bits < 0 || f->man_bits > 15) {
    std::snprintf(buf, sizeof buf, "man_bits=%d; allowed: 0..15", int(f->man_bits));
    return fail(buf);
  }
  const struct { const char* name; int32_t v; } flags[] = {
      {"is_signed", f->is_signed}, {"subnormals", f->subnormals},
      {"infinities", f->infinities}, {"negative_zero", f->negative_zero}};
  for (const auto& fl : flags) {
    if (!is_bool(fl.v)) {
      std::snprintf(buf, sizeof buf, "%s=%d; allowed: 0 or 1", fl.name, int(fl.v));
      return fail(buf);
    }
  }
  const int32_t e = f->exp_bits, m = f->man_bits;
  if (e == 0 && m == 0)
    return fail("exp_bits=0 with man_bits=0 leaves no value bits; allowed: exp_bits + "
                "man_bits >= 1");
  const int32_t bits = f->is_signed + e + m;
  if (bits < 2 || bits > 16) {
    std::snprintf(buf, sizeof buf,
                  "total bits (is_signed + exp_bits + man_bits) = %d; allowed: 2..16", int(bits));
    return fail(buf);
  }
  if (f->nan_layout < MF_NAN_IEEE || f->nan_layout > MF_NAN_NONE) {
    std::snprintf(buf, sizeof buf,
                  "nan_layout=%d is not a NaN layout; allowed: 0 (ieee), 1 (max), 2 (negzero), "
                  "3 (none)", int(f->nan_layout));
    return fail(buf);
  }
  if (f->bias < -(1 << 20) || f->bias > (1 << 20)) {
    std::snprintf(buf, sizeof buf, "bias=%d; allowed: -1048576..1048576", int(f->bias));
    return fail(buf);
  }
  if (!f->is_signed) {
    if (f->nan_layout == MF_NAN_NEGZERO)
      return fail("nan_layout=negzero needs a sign bit (the NaN is the negative-zero code); "
                  "for unsigned formats allowed: max, ieee, none");
  } else if (f->nan_layout == MF_NAN_NEGZERO && f->negative_zero) {
    return fail("nan_layout=negzero uses the negative-zero code as NaN: set negative_zero=0");
  } else if (f->nan_layout != MF_NAN_NEGZERO && !f->negative_zero) {
    return fail("negative_zero=0 is only defined with nan_layout=negzero (the freed code "
                "becomes the NaN)");
  }
  if (f->nan_layout == MF_NAN_IEEE && (e == 0 || m == 0))
    return fail("nan_layout=ieee needs exp_bits >= 1 and man_bits >= 1 (NaN codes have an "
                "all-ones exponent and a non-zero mantissa); allowed otherwise: max, negzero, "
                "none");
  const FloatSpec s = mf::make_float_spec(e, m, f->bias, f->is_signed, f->subnormals,
                                          f->infinities, f->nan_layout, f->negative_zero);
  if (s.kmax < (s.has_zero ? 1 : 0)) return fail("the format has no non-zero finite value");
  const int64_t top_exp = int64_t(s.kmax >> m) - f->bias;
  const int64_t low_exp = int64_t(s.emin) - (f->subnormals ? m : 0);
  if (top_exp > 1023 || low_exp < -1074) {
    std::snprintf(buf, sizeof buf,
                  "the format has values outside float64's range (2^%lld .. 2^%lld); allowed: "
                  "every finite value exactly representable in float64",
                  static_cast<long long>(low_exp), static_cast<long long>(top_exp));
    return fail(buf);
  }
  put_msg(msg, size, "");
  return MF_OK;
}

FloatSpec spec_of(const mf_format* f) {
  return mf::make_float_spec(f->exp_bits, f->man_bits, f->bias, f->is_signed, f->subnormals,
                             f->infinities, f->nan_layout, f->negative_zero);
}

// Projection settings, checked once per call.
struct Settings {
  int mode, sat, n;
  mf::Plan plan;
};

int check_settings(const FloatSpec& fo, int rounding, int saturation, int random_bits,
                   Settings* s) {
  if (rounding < 0 || rounding >= mf::NUM_ROUNDINGS) return MF_ERR_ROUNDING;
  if (saturation < MF_SAT_NONE || saturation > MF_SAT_NAN) return MF_ERR_SATURATION;
  if (saturation == MF_SAT_NAN && !fo.has_nan) return MF_ERR_SATURATION;
  int n = 0;
  if (mf::is_stochastic(rounding)) {
    if (random_bits < 1 || random_bits > 32) return MF_ERR_RANDOM_BITS;
    n = random_bits;
  }
  s->mode = rounding;
  s->sat = saturation;
  s->n = n;
  s->plan = mf::make_plan(fo, rounding, saturation, 0);
  return MF_OK;
}

bool random_ok(int n, uint32_t R) { return n == 0 || n == 32 || R < (uint32_t(1) << n); }

// x == the value of code (finite, non-zero x), compared exactly: both as odd significand times a
// power of two.  A half-LSB-sticky x (arith.h) has >= 61 significant bits and never compares
// equal to a code's value (<= 17 bits).
bool same_value(const Exact& x, const Exact& r) {
  if (r.cls != mf::IN_FINITE || r.neg != x.neg || x.sig == 0 || r.sig == 0) return false;
  uint64_t xs = x.sig, rs = r.sig;
  int32_t xe = x.e_lsb, re = r.e_lsb;
  const int32_t tx = __builtin_ctzll(xs), tr = __builtin_ctzll(rs);
  xs >>= tx;
  xe += tx;
  rs >>= tr;
  re += tr;
  return xs == rs && xe == re;
}

// Exception flags of one projection (docs/hardware.md §3).  x: the exact result; any_nan: an
// operand is NaN; code: the result code in fo.
uint32_t flags_of(const FloatSpec& fo, const Settings& s, uint32_t R, const Exact& x,
                  bool any_nan, uint32_t code) {
  if (x.cls == mf::IN_NAN) return any_nan ? 0u : MF_FLAG_NV;
  const Exact r = mf::exact_of_code(fo, code);
  if (x.cls == mf::IN_INF)
    return (r.cls == mf::IN_INF && r.neg == x.neg) ? 0u : MF_FLAG_NX;
  if (x.cls == mf::IN_ZERO) return r.cls == mf::IN_ZERO ? 0u : MF_FLAG_NX;
  // Finite non-zero x.  Overflow: x rounded with fo's precision and an unbounded exponent
  // range above.  The witness spec has fo's ladder (same m, bias, subnormals: the same magnitude
  // indices k for every value of fo) continued through one more exponent bit; round_magnitude
  // clamps anything beyond that to the witness's kmax + 1, which is above fo's kmax as well.
  const FloatSpec w =
      mf::make_float_spec(fo.exp_bits + 1, fo.man_bits, fo.bias, 1, fo.subnormals, 0,
                          mf::NAN_NONE, 1);
  const int32_t kw =
      mf::round_magnitude<uint64_t>(w, s.mode, s.n, R, x.neg, x.sig, x.e_lsb, x.ex);
  uint32_t flags = 0;
  bool of = kw > fo.kmax;
  // Unsigned formats: a negative x that does not round to zero (a format without zero has
  // nothing to round to: every negative x is below the range).
  if (!fo.is_signed && x.neg) of = of || kw > 0 || !fo.has_zero;
  if (of) flags |= MF_FLAG_OF;
  const bool nx = !same_value(x, r);
  if (nx) flags |= MF_FLAG_NX;
  if (nx && x.ex < fo.emin) flags |= MF_FLAG_UF;  // 2^ex <= |x| < 2^(ex+1)
  return flags;
}

bool op_known(int op) { return op >= MF_OP_ADD && op <= MF_OP_SQRT; }

// One operation, settings and formats already checked.
int op_one(int op, const FloatSpec& fi, const FloatSpec& fo, const Settings& s, bool b_uzero,
           uint32_t a, uint32_t b, uint32_t c, uint32_t R, uint32_t* result, uint32_t* flags) {
  const int arity = mf::op_arity(op);
  const uint32_t limit = fi.num_codes;
  if (a >= limit || (arity >= 2 && b >= limit) || (arity >= 3 && c >= limit)) return MF_ERR_CODE;
  if (!random_ok(s.n, R)) return MF_ERR_RANDOM_VALUE;
  const Exact none = mf::make_exact(mf::IN_ZERO, 0, 0, 0);
  const Exact xa = mf::exact_of_code(fi, a);
  const Exact xb = arity >= 2 ? mf::exact_of_code(fi, b) : none;
  const Exact xc = arity >= 3 ? mf::exact_of_code(fi, c) : none;
  const Exact x = mf::exact_op(op, xa, xb, xc, s.mode, b_uzero);
  const uint32_t code = mf::project<uint64_t>(fo, s.plan, s.mode, s.n, x, R);
  if (code == mf::NO_CODE) return MF_ERR_NO_CODE;
  if (flags != nullptr) {
    const bool any_nan = xa.cls == mf::IN_NAN || xb.cls == mf::IN_NAN || xc.cls == mf::IN_NAN;
    uint32_t fl = flags_of(fo, s, R, x, any_nan, code);
    if (op == MF_OP_DIV && xa.cls == mf::IN_FINITE && xb.cls == mf::IN_ZERO &&
        x.cls != mf::IN_NAN)
      fl |= MF_FLAG_DZ;
    *flags = fl;
  }
  *result = code;
  return MF_OK;
}

int encode_one(const FloatSpec& f, const Settings& s, double v, uint32_t R, uint32_t* code,
               uint32_t* flags) {
  if (!random_ok(s.n, R)) return MF_ERR_RANDOM_VALUE;
  const Exact x = mf::parts_of(v);
  const uint32_t c = mf::project<uint64_t>(f, s.plan, s.mode, s.n, x, R);
  if (c == mf::NO_CODE) return MF_ERR_NO_CODE;
  if (flags != nullptr) *flags = flags_of(f, s, R, x, x.cls == mf::IN_NAN, c);
  *code = c;
  return MF_OK;
}

// The checks mf_op and mf_op_array share: both formats, the op, the settings.
int prepare_op(int op, const mf_format* in, const mf_format* out, int rounding, int saturation,
               int random_bits, FloatSpec* fi, FloatSpec* fo, Settings* s) {
  int err = check_format(in, nullptr, 0);
  if (err == MF_OK) err = check_format(out, nullptr, 0);
  if (err != MF_OK) return err;
  if (!op_known(op)) return MF_ERR_OP;
  *fi = spec_of(in);
  *fo = spec_of(out);
  return check_settings(*fo, rounding, saturation, random_bits, s);
}

}  // namespace

extern "C" {

int mf_abi_version(void) { return MF_C_ABI_VERSION; }

const char* mf_error_string(int err) {
  switch (err) {
    case MF_OK: return "ok";
    case MF_ERR_NULL: return "a required pointer argument is NULL";
    case MF_ERR_FORMAT: return "invalid format struct (mf_check_format gives the reason)";
    case MF_ERR_ROUNDING: return "unknown rounding mode; allowed: MF_NEAREST_EVEN (0) .. "
                                 "MF_STOCHASTIC_EQUAL (10)";
    case MF_ERR_SATURATION: return "unknown saturation (allowed: 0..3), or MF_SAT_NAN for a "
                                   "result format without NaN";
    case MF_ERR_RANDOM_BITS: return "stochastic rounding needs random_bits in 1..32";
    case MF_ERR_RANDOM_VALUE: return "random value R >= 2^random_bits";
    case MF_ERR_OP: return "unknown operation; allowed: MF_OP_ADD (0) .. MF_OP_SQRT (5)";
    case MF_ERR_CODE: return "operand code >= 2^bits of its format";
    case MF_ERR_NO_CODE: return "the result is NaN and the result format has no NaN code";
    default: return "unknown error code";
  }
}

int mf_check_format(const mf_format* f, char* msg, size_t msg_size) {
  return check_format(f, msg, msg_size);
}

int mf_format_bits(const mf_format* f) {
  if (check_format(f, nullptr, 0) != MF_OK) return -1;
  return f->is_signed + f->exp_bits + f->man_bits;
}

int mf_encode(const mf_format* f, double x, int rounding, int saturation, int random_bits,
              uint32_t R, uint32_t* code, uint32_t* flags) {
  if (code == nullptr) return MF_ERR_NULL;
  int err = check_format(f, nullptr, 0);
  if (err != MF_OK) return err;
  const FloatSpec fs = spec_of(f);
  Settings s;
  err = check_settings(fs, rounding, saturation, random_bits, &s);
  if (err != MF_OK) return err;
  return encode_one(fs, s, x, R, code, flags);
}

int mf_decode(const mf_format* f, uint32_t code, double* value) {
  if (value == nullptr) return MF_ERR_NULL;
  const int err = check_format(f, nullptr, 0);
  if (err != MF_OK) return err;
  const FloatSpec fs = spec_of(f);
  if (code >= fs.num_codes) return MF_ERR_CODE;
  *value = mf::decode_double(fs, code);
  return MF_OK;
}

int mf_op(int op, const mf_format* in, const mf_format* out, uint32_t a, uint32_t b, uint32_t c,
          int rounding, int saturation, int random_bits, uint32_t R, uint32_t* result,
          uint32_t* flags) {
  if (result == nullptr) return MF_ERR_NULL;
  FloatSpec fi, fo;
  Settings s;
  int err = prepare_op(op, in, out, rounding, saturation, random_bits, &fi, &fo, &s);
  if (err != MF_OK) return err;
  return op_one(op, fi, fo, s, mf::zero_is_unsigned(fi), a, b, c, R, result, flags);
}

int mf_op_array(int op, const mf_format* in, const mf_format* out, size_t n, const uint16_t* a,
                const uint16_t* b, const uint16_t* c, int rounding, int saturation,
                int random_bits, const uint32_t* R, uint16_t* result, uint8_t* flags,
                size_t* bad_index) {
  if (bad_index != nullptr) *bad_index = n;
  FloatSpec fi, fo;
  Settings s;
  int err = prepare_op(op, in, out, rounding, saturation, random_bits, &fi, &fo, &s);
  if (err != MF_OK) return err;
  const int arity = mf::op_arity(op);
  if (n > 0 && (a == nullptr || result == nullptr || (arity >= 2 && b == nullptr) ||
                (arity >= 3 && c == nullptr) || (s.n > 0 && R == nullptr)))
    return MF_ERR_NULL;
  const bool b_uzero = mf::zero_is_unsigned(fi);
  for (size_t i = 0; i < n; ++i) {
    uint32_t code = 0, fl = 0;
    err = op_one(op, fi, fo, s, b_uzero, a[i], arity >= 2 ? b[i] : 0u, arity >= 3 ? c[i] : 0u,
                 s.n > 0 ? R[i] : 0u, &code, flags != nullptr ? &fl : nullptr);
    if (err != MF_OK) {
      if (bad_index != nullptr) *bad_index = i;
      return err;
    }
    result[i] = static_cast<uint16_t>(code);
    if (flags != nullptr) flags[i] = static_cast<uint8_t>(fl);
  }
  return MF_OK;
}

int mf_encode_array(const mf_format* f, size_t n, const double* x, int rounding, int saturation,
                    int random_bits, const uint32_t* R, uint16_t* code, uint8_t* flags,
                    size_t* bad_index) {
  if (bad_index != nullptr) *bad_index = n;
  int err = check_format(f, nullptr, 0);
  if (err != MF_OK) return err;
  const FloatSpec fs = spec_of(f);
  Settings s;
  err = check_settings(fs, rounding, saturation, random_bits, &s);
  if (err != MF_OK) return err;
  if (n > 0 && (x == nullptr || code == nullptr || (s.n > 0 && R == nullptr)))
    return MF_ERR_NULL;
  for (size_t i = 0; i < n; ++i) {
    uint32_t c = 0, fl = 0;
    err = encode_one(fs, s, x[i], s.n > 0 ? R[i] : 0u, &c, flags != nullptr ? &fl : nullptr);
    if (err != MF_OK) {
      if (bad_index != nullptr) *bad_index = i;
      return err;
    }
    code[i] = static_cast<uint16_t>(c);
    if (flags != nullptr) flags[i] = static_cast<uint8_t>(fl);
  }
  return MF_OK;
}

}  // extern "C"
