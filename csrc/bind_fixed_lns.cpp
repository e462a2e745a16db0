// pybind11 bindings for fixed-point and LNS formats: loops over NumPy arrays calling the
// header core (fixed.h, lns.h).  No bit decision lives here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "minifloat/accumulate.h"
#include "minifloat/fixed.h"
#include "minifloat/fixed_f32.h"
#include "minifloat/project_f32.h"
#include "minifloat/lns.h"
#include "minifloat/random.h"
#include "contract_args.h"
#include "parallel.h"

namespace py = pybind11;

namespace {

template <class T> T* ptr(py::array& a) { return static_cast<T*>(a.mutable_data()); }
template <class T> const T* cptr(const py::array& a) { return static_cast<const T*>(a.data()); }

mf::FixedSpec fixed_spec_from(const py::tuple& t) {
  if (t.size() != 3) throw std::invalid_argument("internal: fixed spec tuple has 3 fields");
  return mf::make_fixed_spec(t[0].cast<int>(), t[1].cast<int>(), t[2].cast<int>());
}

// Exact parts of a wider float, decomposed in Python (codec.PARTS_DTYPE).
struct PartsIn {
  std::uint64_t sig;
  std::int32_t e_lsb;
  std::int32_t flags;  // class | sign << 8
};
static_assert(sizeof(PartsIn) == 16, "PartsIn must match codec.PARTS_DTYPE");

template <class In> mf::Parts<std::uint64_t> exact_parts(In v) {
  if constexpr (std::is_same_v<In, PartsIn>) {
    mf::Parts<std::uint64_t> p;
    p.cls = v.flags & 0xFF;
    p.neg = std::uint32_t(v.flags >> 8) & 1u;
    p.sig = v.sig;
    p.e_lsb = v.e_lsb;
    p.ex = v.sig ? v.e_lsb + mf::top_bit(v.sig) : 0;
    return p;
  } else if constexpr (std::is_same_v<In, float>) {
    return mf::parts_of_float<std::uint64_t, false>(v);
  } else {
    return mf::parts_of(v);
  }
}

// The random bits R of element i of a call (docs/semantics.md §4).
struct RandomSource {
  int rsrc = 0;  // 0 none, 1 Philox(seed, offset + i), 2 explicit array
  int n = 0;
  std::uint64_t seed = 0, offset = 0;
  const std::uint32_t* explicit_bits = nullptr;
  std::uint32_t operator()(std::size_t i) const {
    if (rsrc == 1) return mf::top_bits(mf::philox_word(seed, offset + i), n);
    if (rsrc == 2) return explicit_bits[i];
    return 0u;
  }
};

RandomSource random_source(int rsrc, int n, std::uint64_t seed, std::uint64_t offset,
                           const py::object& random, std::size_t size, py::array& keep) {
  RandomSource r;
  r.rsrc = rsrc;
  r.n = n;
  r.seed = seed;
  r.offset = offset;
  if (rsrc == 2) {
    keep = random.cast<py::array>();
    if (static_cast<std::size_t>(keep.size()) != size || keep.itemsize() != 4)
      throw std::invalid_argument("internal: random must be uint32 of the output's size");
    r.explicit_bits = cptr<std::uint32_t>(keep);
  }
  return r;
}

// Random bits R of elements i0 .. i0 + count - 1 (the same values as RandomSource()(i)): one
// Philox block serves four consecutive stream positions.
constexpr std::size_t kRandomBlock = 256;

void fill_random(const RandomSource& r, std::size_t i0, std::size_t count, std::uint32_t* out) {
  if (r.rsrc == 2) {
    for (std::size_t k = 0; k < count; ++k) out[k] = r.explicit_bits[i0 + k];
    return;
  }
  if (r.rsrc != 1) {
    for (std::size_t k = 0; k < count; ++k) out[k] = 0u;
    return;
  }
  mf::philox_fill(r.seed, r.offset + i0, count, out);
  for (std::size_t k = 0; k < count; ++k) out[k] = mf::top_bits(out[k], r.n);
}

// A code_of result that is no code (a NaN into a format without NaN).  32-bit fixed-point
// codes use every uint32 value, so the marker lies above them.
constexpr std::uint64_t kNoCode = std::uint64_t(1) << 32;

// out[i] = code_of(i) over a parallel loop; returns false if some result was kNoCode.
template <class Out, class Fn> bool fill_codes(Out* out, std::size_t size, Fn&& code_of) {
  std::atomic<bool> bad{false};
  py::gil_scoped_release nogil;
  mfcpu::parallel_for(size, [&](std::size_t b, std::size_t e) {
    std::uint32_t acc = 0;
    for (std::size_t i = b; i < e; ++i) {
      const std::uint64_t c = code_of(i);
      acc |= std::uint32_t(c == kNoCode);
      out[i] = static_cast<Out>(c);
    }
    if (acc) bad.store(true, std::memory_order_relaxed);
  });
  return !bad.load();
}

template <class Fn> bool fill_codes_any(py::array& out, Fn&& code_of) {
  const std::size_t size = static_cast<std::size_t>(out.size());
  switch (out.itemsize()) {
    case 1: return fill_codes(ptr<std::uint8_t>(out), size, code_of);
    case 2: return fill_codes(ptr<std::uint16_t>(out), size, code_of);
    case 4: return fill_codes(ptr<std::uint32_t>(out), size, code_of);
    default: throw std::invalid_argument("internal: codes must be uint8/16/32");
  }
}

// Calls fn(typed pointer) for the input array's element type.
template <class Fn> decltype(auto) with_input(const py::array& x, Fn&& fn) {
  const char kind = x.dtype().kind();
  const auto isz = x.itemsize();
  if (kind == 'f' && isz == 4) return fn(cptr<float>(x));
  if (kind == 'f' && isz == 8) return fn(cptr<double>(x));
  if (kind == 'i' && isz == 8) return fn(cptr<std::int64_t>(x));
  if (kind == 'u' && isz == 8) return fn(cptr<std::uint64_t>(x));
  if (kind == 'V' && isz == 16) return fn(cptr<PartsIn>(x));
  throw std::invalid_argument("internal: input must be float32/float64/int64/uint64/parts");
}

// Code c of element i of a uint8/16/32 array.
struct CodeReader {
  const void* p = nullptr;
  int size = 0;
  std::uint32_t operator()(std::size_t i) const {
    if (size == 1) return static_cast<const std::uint8_t*>(p)[i];
    if (size == 2) return static_cast<const std::uint16_t*>(p)[i];
    return static_cast<const std::uint32_t*>(p)[i];
  }
};

CodeReader reader(const py::array& a, std::size_t size) {
  if (static_cast<std::size_t>(a.size()) != size ||
      (a.itemsize() != 1 && a.itemsize() != 2 && a.itemsize() != 4) || a.dtype().kind() != 'u')
    throw std::invalid_argument("internal: operand codes must be uint8/16/32 of out's size");
  CodeReader r;
  r.p = a.data();
  r.size = static_cast<int>(a.itemsize());
  return r;
}

// ---------------------------------------------------------------------------------------
// Fixed point
// ---------------------------------------------------------------------------------------

std::uint64_t fixed_code(const mf::FixedSpec& f, int mode, int sat, int n, const mf::Units& u,
                         std::uint32_t R) {
  return u.cls == mf::IN_NAN ? kNoCode : mf::fixed_project(f, mode, sat, n, u, R);
}

// float32 input where mf::fixed_f32_ok holds (fixed_f32.h): blocks of codes computed as
// uint32 with MODE fixed at compile time (so the loop vectorises), then narrowed (blocks and
// prefetch as module.cpp's float32 encode: parallel.h).
constexpr std::size_t kF32Block = mfcpu::kStreamBlock;

template <int MODE, class Out>
bool fixed_encode_f32(const float* x, Out* out, std::size_t size, const mf::FixedSpec& f, int n,
                      const RandomSource& R) {
  const mf::FixedF32Consts k = mf::make_fixed_f32_consts(f);
  std::atomic<bool> bad{false};
  py::gil_scoped_release nogil;
  mfcpu::parallel_for(size, [&](std::size_t b, std::size_t e) {
    // Local copies: the compiler must see that the uint8 stores to out cannot change them
    // (through the lambda's references it reloaded them per element: 2.5x slower).
    const mf::FixedF32Consts kc = k;
    const int nb = n;
    // nearest-even on the FPU's rounding (fixed_f32.h), checked in the thread that runs it
    const bool rne = MODE == mf::NEAREST_EVEN && mf::f32_fpu_ok();
    alignas(64) std::uint32_t codes[kF32Block];
    alignas(64) std::uint32_t words[kF32Block];
    std::uint32_t acc = 0;
    for (std::size_t i0 = b; i0 < e; i0 += kF32Block) {
      const std::size_t m = std::min(e - i0, kF32Block);
      const float* xb = x + i0;
      mfcpu::prefetch_ahead(xb, m, e - i0);
      if constexpr (mf::is_stochastic(MODE)) {
        fill_random(R, i0, m, words);
        for (std::size_t i = 0; i < m; ++i)
          codes[i] = mf::fixed_project_f32<MODE>(kc, nb, mf::bits_of(xb[i]), words[i]);
      } else if (rne) {
        for (std::size_t i = 0; i < m; ++i)
          codes[i] = mf::fixed_project_f32_rne(kc, mf::bits_of(xb[i]));
      } else {
        for (std::size_t i = 0; i < m; ++i)
          codes[i] = mf::fixed_project_f32<MODE>(kc, nb, mf::bits_of(xb[i]), 0u);
      }
      Out* ob = out + i0;
      for (std::size_t i = 0; i < m; ++i) {
        acc |= std::uint32_t(codes[i] == mf::NO_CODE);
        ob[i] = static_cast<Out>(codes[i]);
      }
    }
    if (acc) bad.store(true, std::memory_order_relaxed);
  });
  return !bad.load();
}

template <int... M>
bool fixed_encode_f32_dispatch(std::integer_sequence<int, M...>, int mode, const float* x,
                               py::array& out, const mf::FixedSpec& f, int n,
                               const RandomSource& R) {
  const std::size_t size = static_cast<std::size_t>(out.size());
  bool ok = true;
  const bool wide = out.itemsize() == 2;
  ((mode == M ? (ok = wide ? fixed_encode_f32<M>(x, ptr<std::uint16_t>(out), size, f, n, R)
                           : fixed_encode_f32<M>(x, ptr<std::uint8_t>(out), size, f, n, R),
                 true)
              : false) ||
   ...);
  return ok;
}

bool fixed_encode(const py::array& x, const py::tuple& spec, int mode, int sat, int n, int rsrc,
                  std::uint64_t seed, std::uint64_t offset, py::object random, py::array out) {
  const mf::FixedSpec f = fixed_spec_from(spec);
  if (x.size() != out.size()) throw std::invalid_argument("internal: out size");
  if (mode < 0 || mode >= mf::NUM_ROUNDINGS) throw std::invalid_argument("internal: mode");
  py::array keep;
  const RandomSource R =
      random_source(rsrc, n, seed, offset, random, static_cast<std::size_t>(x.size()), keep);
  if (x.dtype().kind() == 'f' && x.itemsize() == 4 && out.itemsize() <= 2 &&
      mf::fixed_f32_ok(f, mode, sat, n))
    return fixed_encode_f32_dispatch(std::make_integer_sequence<int, mf::NUM_ROUNDINGS>{}, mode,
                                     cptr<float>(x), out, f, n, R);
  return with_input(x, [&](auto* xp) {
    return fill_codes_any(out, [&](std::size_t i) {
      return fixed_code(f, mode, sat, n, mf::units_of_parts(exact_parts(xp[i]), f.frac_bits),
                        R(i));
    });
  });
}

// Exact values (float64) or their RNE float32 rounding; returns the largest code seen.
std::uint32_t fixed_decode(const py::array& codes, const py::tuple& spec, py::array out) {
  const mf::FixedSpec f = fixed_spec_from(spec);
  const std::size_t size = static_cast<std::size_t>(codes.size());
  const CodeReader rd = reader(codes, size);
  const bool f64 = out.itemsize() == 8;
  double* o64 = f64 ? ptr<double>(out) : nullptr;
  float* o32 = f64 ? nullptr : ptr<float>(out);
  std::atomic<std::uint32_t> top{0};
  py::gil_scoped_release nogil;
  mfcpu::parallel_for(size, [&](std::size_t b, std::size_t e) {
    std::uint32_t mx = 0;
    for (std::size_t i = b; i < e; ++i) {
      const std::uint32_t c = rd(i);
      mx = std::max(mx, c);
      const double v = mf::fixed_value(f, c);
      if (f64) o64[i] = v; else o32[i] = static_cast<float>(v);
    }
    std::uint32_t cur = top.load();
    while (mx > cur && !top.compare_exchange_weak(cur, mx)) {
    }
  });
  return top.load();
}

// Elementwise op on fixed-point codes (operands of out's size, any uint width), exact result
// projected once into the fixed-point format `so`.
bool fixed_arith(int op, const py::array& a, const py::tuple& sa, const py::array& b,
                 const py::tuple& sb, const py::array& c, const py::tuple& sc,
                 const py::tuple& so, int mode, int sat, int n, int rsrc, std::uint64_t seed,
                 std::uint64_t offset, py::object random, py::array out) {
  if (op < 0 || op >= mf::NUM_OPS || mode < 0 || mode >= mf::NUM_ROUNDINGS)
    throw std::invalid_argument("internal: bad op or mode");
  const std::size_t size = static_cast<std::size_t>(out.size());
  const int arity = mf::op_arity(op);
  const mf::FixedSpec fa = fixed_spec_from(sa), fb = fixed_spec_from(sb),
                      fc = fixed_spec_from(sc), fo = fixed_spec_from(so);
  const CodeReader ra = reader(a, size);
  const CodeReader rb = arity >= 2 ? reader(b, size) : ra;
  const CodeReader rc = arity >= 3 ? reader(c, size) : ra;
  py::array keep;
  const RandomSource R = random_source(rsrc, n, seed, offset, random, size, keep);
  return fill_codes_any(out, [&](std::size_t i) {
    const mf::FixedVal va = mf::fixed_val(fa, ra(i));
    const mf::FixedVal vb = mf::fixed_val(fb, rb(i));
    const mf::FixedVal vc = mf::fixed_val(fc, rc(i));
    return fixed_code(fo, mode, sat, n, mf::fixed_op_units(op, va, vb, vc, fo.frac_bits), R(i));
  });
}

// ---- Contractions with fixed-point operands: C[o] = sum_k A[i,k] B[k,j] ----
// Products are exact integers at scale 2^-(Fa+Fb).  Accumulators (docs/lns_fixed.md §1.3):
//   0 exact   two's-complement 128-bit sum (K < 2^63 products of < 2^64): one rounding
//   1 format  a fixed-point format: s <- project_acc(s + p) after every addition
//   2 float32 binary32 RNE after every addition (exact sum, rounded once per step)
//   3 float64 binary64 RNE (the caller checks that products are float64-exact)
//   4 float format: s <- project_acc(s + p) in a FloatFormat
// The final value is projected once into the output format (fixed or float).
struct FixedContract : ContractShape {
  CodeReader A, B;
  bool has_b;
  mf::FixedSpec fa, fb, facc_fixed, fo_fixed;
  mf::FloatSpec facc_float, fo_float;
  bool out_fixed;
  RandomSource R;
};

// One accumulator value of any kind, with its exact value as (neg, X, S) or float Parts.
struct AccValue {
  bool is_parts;        // float accumulators keep Parts
  mf::Parts<std::uint64_t> parts;
  std::uint32_t neg;    // fixed / exact accumulators: (-1)^neg X 2^-S
  mf::u128 X;
  std::int32_t S;
};

// A value that is a double (the caller checks products; sums are doubles), or +-0.
double double_of_parts(const mf::Parts<std::uint64_t>& p) {
  if (p.cls == mf::IN_NAN) return mf::double_of(0x7FF8000000000000ull);
  if (p.cls == mf::IN_INF) return mf::double_of(p.neg ? 0xFFF0000000000000ull : 0x7FF0000000000000ull);
  if (p.cls == mf::IN_ZERO) return p.neg ? -0.0 : 0.0;
  const double v = std::ldexp(static_cast<double>(p.sig), p.e_lsb);
  return p.neg ? -v : v;
}

AccValue acc_zero(const FixedContract& c, std::int32_t S0) {
  AccValue v;
  v.is_parts = c.acc >= 2;
  v.parts = mf::make_exact(mf::IN_ZERO, 0, 0, 0);
  v.neg = 0;
  v.X = 0;
  v.S = c.acc == 1 ? c.facc_fixed.frac_bits : S0;
  return v;
}

mf::Parts<std::uint64_t> parts_of_acc(const AccValue& v) {
  return v.is_parts ? v.parts : mf::parts_of_u128(v.neg, v.X, v.S);
}

// s + t, rounded as the accumulator says; pos is the Philox stream position of the step.
AccValue acc_add(const FixedContract& c, const AccValue& s, const AccValue& t, std::uint64_t pos) {
  AccValue r = s;
  if (c.acc == 0) {  // exact: both at the product scale
    if (s.neg == t.neg) {
      r.X = s.X + t.X;
    } else if (s.X >= t.X) {
      r.X = s.X - t.X;
    } else {
      r.X = t.X - s.X;
      r.neg = t.neg;
    }
    if (r.X == 0) r.neg = 0;
    return r;
  }
  const std::uint32_t Rb = mf::is_stochastic(c.mode) ? c.R(pos) : 0u;
  if (c.acc == 1) {
    const mf::Units u = mf::fixed_add_units(s.neg, s.X, s.S, t.neg, t.X, t.S,
                                            c.facc_fixed.frac_bits);
    const std::uint32_t code = mf::fixed_project(c.facc_fixed, c.mode, c.sat, c.n, u, Rb);
    const mf::FixedVal fv = mf::fixed_val(c.facc_fixed, code);
    r.neg = fv.neg;
    r.X = fv.mag;
    r.S = fv.F;
    return r;
  }
  const mf::Parts<std::uint64_t> ps = parts_of_acc(s), pt = parts_of_acc(t);
  if (c.acc == 3) {
    const double v = double_of_parts(ps) + double_of_parts(pt);  // RNE binary64
    r.parts = v != v ? mf::exact_nan() : mf::parts_of(v);
    return r;
  }
  const mf::FloatSpec& fs = c.facc_float;
  const int mode = c.acc == 2 ? int(mf::NEAREST_EVEN) : c.mode;
  const mf::Plan plan = mf::make_plan(fs, mode, c.acc == 2 ? int(mf::SAT_NONE) : c.sat, 0);
  const std::uint32_t code = mf::project<std::uint64_t>(fs, plan, mode, c.acc == 2 ? 0 : c.n,
                                                        mf::exact_add(ps, pt, mode),
                                                        c.acc == 2 ? 0u : Rb);
  r.parts = code == mf::NO_CODE ? mf::exact_nan() : mf::exact_of_code(fs, code);
  return r;
}

AccValue term_value(const FixedContract& c, std::size_t i, std::size_t j, int k) {
  const mf::FixedVal a = mf::fixed_val(c.fa, c.A(i * std::size_t(c.K) + k));
  AccValue v;
  v.is_parts = false;
  if (c.has_b) {
    const mf::FixedVal b = mf::fixed_val(c.fb, c.B(std::size_t(k) * c.N + j));
    v.neg = a.neg ^ b.neg;
    v.X = mf::u128(a.mag) * b.mag;
    v.S = a.F + b.F;
  } else {
    v.neg = a.neg;
    v.X = a.mag;
    v.S = a.F;
  }
  if (v.X == 0) v.neg = 0;
  if (c.acc >= 2) {
    v.is_parts = true;
    v.parts = mf::parts_of_u128(v.neg, v.X, v.S);
  }
  return v;
}

// Every output element o of a contraction, in parallel: code = one(o, sums) written to `out`
// (uint8/16/32 codes); false when some result has no code (a NaN in a format without NaN).
template <class Acc, class One>
bool contract_all(std::size_t total, py::array& out, One one) {
  std::atomic<bool> bad{false};
  auto run = [&](auto* po) {
    py::gil_scoped_release nogil;
    mfcpu::parallel_for(total, [&](std::size_t b0, std::size_t e0) {
      std::vector<Acc> sums;
      std::uint32_t badacc = 0;
      for (std::size_t o = b0; o < e0; ++o) {
        const std::uint64_t code = one(o, sums);
        badacc |= std::uint32_t(code == kNoCode);
        po[o] = static_cast<std::remove_pointer_t<decltype(po)>>(code);
      }
      if (badacc) bad.store(true);
    }, 256);
  };
  switch (out.itemsize()) {
    case 1: run(ptr<std::uint8_t>(out)); break;
    case 2: run(ptr<std::uint16_t>(out)); break;
    default: run(ptr<std::uint32_t>(out)); break;
  }
  return !bad.load();
}

std::uint64_t contract_one(const FixedContract& c, std::size_t o, std::vector<AccValue>& sums) {
  const std::size_t i = o / c.N, j = o % c.N;
  const std::int32_t S0 = c.fa.frac_bits + (c.has_b ? c.fb.frac_bits : 0);
  const std::uint64_t pos0 = o * std::uint64_t(c.K);
  sums.resize(c.pairwise ? std::size_t(c.K / c.block + 1) : 0u);
  const AccValue total = mf::reduce_in_order(
      c.K, c.pairwise, c.block, pos0, acc_zero(c, S0),
      [&](const AccValue& s, int k, std::uint64_t pos) {
        return acc_add(c, s, term_value(c, i, j, k), pos);
      },
      [&](const AccValue& a, const AccValue& b, std::uint64_t pos) {
        return acc_add(c, a, b, pos);
      },
      sums.data());
  const std::uint32_t Rb = c.R(c.total_steps + o);
  if (c.out_fixed) {
    const mf::Units u = total.is_parts ? mf::units_of_parts(total.parts, c.fo_fixed.frac_bits)
                                       : mf::units_of(total.neg, total.X, total.S, 0u,
                                                      c.fo_fixed.frac_bits);
    return fixed_code(c.fo_fixed, c.mode, c.sat, c.n, u, Rb);
  }
  const mf::Plan plan = mf::make_plan(c.fo_float, c.mode, c.sat, 0);
  const std::uint32_t code =
      mf::project<std::uint64_t>(c.fo_float, plan, c.mode, c.n, parts_of_acc(total), Rb);
  return code == mf::NO_CODE ? kNoCode : code;
}

mf::FloatSpec float_spec_from(const py::tuple& t) {
  if (t.size() != 8) throw std::invalid_argument("internal: float spec tuple has 8 fields");
  return mf::make_float_spec(t[0].cast<int>(), t[1].cast<int>(), t[2].cast<int>(),
                             t[3].cast<int>(), t[4].cast<int>(), t[5].cast<int>(),
                             t[6].cast<int>(), t[7].cast<int>());
}

bool fixed_contract(const py::array& A, const py::tuple& sa, py::object B, const py::tuple& sb,
                    int M, int K, int N, int acc, const py::tuple& sacc, const py::tuple& so,
                    int mode, int sat, int n, int pairwise, int block, int rsrc,
                    std::uint64_t seed, std::uint64_t offset, py::array out) {
  if (K < 1 || out.size() != py::ssize_t(M) * N)
    throw std::invalid_argument("internal: fixed_contract arguments");
  FixedContract c;
  static_cast<ContractShape&>(c) = contract_shape("fixed_contract", M, K, N, acc, 0, 4, mode,
                                                  sat, n, 0, pairwise, block, rsrc);
  c.A = reader(A, std::size_t(M) * K);
  py::array Barr;
  c.has_b = !B.is_none();
  if (c.has_b) {
    Barr = B.cast<py::array>();
    c.B = reader(Barr, std::size_t(K) * N);
  } else {
    c.B = c.A;
  }
  c.fa = fixed_spec_from(sa);
  c.fb = c.has_b ? fixed_spec_from(sb) : c.fa;
  c.facc_fixed = acc == 1 ? fixed_spec_from(sacc) : c.fa;
  c.facc_float = acc == 4 ? float_spec_from(sacc)
                          : mf::make_float_spec(8, 23, 127, 1, 1, 1, mf::NAN_IEEE, 1);
  c.out_fixed = so.size() == 3;
  c.fo_fixed = c.out_fixed ? fixed_spec_from(so) : c.fa;
  c.fo_float = c.out_fixed ? c.facc_float : float_spec_from(so);
  py::object none = py::none();
  py::array keep;
  c.R = random_source(rsrc, n, seed, offset, none, 0, keep);
  return contract_all<AccValue>(std::size_t(M) * N, out,
                              [&c](std::size_t o, std::vector<AccValue>& sums) {
    return contract_one(c, o, sums);
  });
}

// ---------------------------------------------------------------------------------------
// LNS
// ---------------------------------------------------------------------------------------

mf::LNSSpec lns_spec_from(const py::tuple& t) {
  if (t.size() != 4) throw std::invalid_argument("internal: LNS spec tuple has 4 fields");
  return mf::make_lns_spec(t[0].cast<int>(), t[1].cast<int>(), t[2].cast<int>(),
                           t[3].cast<int>());
}

const std::uint64_t* thresholds(const py::array& thr, const mf::LNSSpec& s) {
  if (thr.itemsize() != 8 || thr.size() != (py::ssize_t(1) << (s.frac_bits + 1)))
    throw std::invalid_argument("internal: LNS threshold table size");
  return cptr<std::uint64_t>(thr);
}

std::uint64_t lns_code(std::uint32_t c) { return c == mf::NO_CODE ? kNoCode : c; }

bool lns_encode(const py::array& x, const py::tuple& spec, const py::array& thr, int mode,
                int sat, int n, int rsrc, std::uint64_t seed, std::uint64_t offset,
                py::object random, py::array out) {
  const mf::LNSSpec s = lns_spec_from(spec);
  const std::uint64_t* t = thresholds(thr, s);
  if (x.size() != out.size() || mode < 0 || mode >= mf::NUM_ROUNDINGS)
    throw std::invalid_argument("internal: lns_encode arguments");
  py::array keep;
  const RandomSource R =
      random_source(rsrc, n, seed, offset, random, static_cast<std::size_t>(x.size()), keep);
  return with_input(x, [&](auto* xp) {
    return fill_codes_any(out, [&](std::size_t i) {
      return lns_code(mf::lns_encode_parts(s, t, mode, sat, n, exact_parts(xp[i]), R(i)));
    });
  });
}

py::array_t<double> lns_decode_table(const py::tuple& spec, const py::array& thr) {
  const mf::LNSSpec s = lns_spec_from(spec);
  const std::uint64_t* t = thresholds(thr, s);
  py::array_t<double> out(py::ssize_t(1) << s.bits);
  double* p = out.mutable_data();
  for (std::uint32_t c = 0; c < (std::uint32_t(1) << s.bits); ++c)
    p[c] = mf::lns_decode_double(s, t, c);
  return out;
}

// Gaussian-log tables from Python: (sb_floor int32, sb_flags uint8, sb_nu uint64, db_floor,
// db_flags, db_nu, table_only).
struct GaussHolder {
  std::vector<py::array> keep;
  mf::GaussTables g{};
};

GaussHolder gauss_from(const py::object& obj) {
  GaussHolder h;
  if (obj.is_none()) return h;
  const py::tuple t = obj.cast<py::tuple>();
  if (t.size() != 7) throw std::invalid_argument("internal: Gaussian-log tables tuple");
  for (int i = 0; i < 6; ++i) h.keep.push_back(t[i].cast<py::array>());
  const auto& k = h.keep;
  if (k[0].itemsize() != 4 || k[3].itemsize() != 4 || k[1].itemsize() != 1 ||
      k[4].itemsize() != 1 || k[2].itemsize() != 8 || k[5].itemsize() != 8 || k[0].size() < 1 ||
      k[3].size() < 1 || k[1].size() != k[0].size() || k[2].size() != k[0].size() ||
      k[4].size() != k[3].size() || k[5].size() != k[3].size())
    throw std::invalid_argument("internal: Gaussian-log table shapes");
  h.g.sb_floor = cptr<std::int32_t>(k[0]);
  h.g.sb_flags = cptr<std::uint8_t>(k[1]);
  h.g.sb_nu = cptr<std::uint64_t>(k[2]);
  h.g.db_floor = cptr<std::int32_t>(k[3]);
  h.g.db_flags = cptr<std::uint8_t>(k[4]);
  h.g.db_nu = cptr<std::uint64_t>(k[5]);
  h.g.zlen_sb = static_cast<int>(k[0].size());
  h.g.zlen_db = static_cast<int>(k[3].size());
  h.g.table_only = t[6].cast<int>();
  return h;
}

mf::LogResult lns_op(int op, const mf::LogVal& a, const mf::LogVal& b, int mode, int power,
                     const mf::GaussTables& g) {
  switch (op) {
    case mf::LNS_ADD: return mf::lns_add(a, b, 0u, mode, g);
    case mf::LNS_SUB: return mf::lns_add(a, b, 1u, mode, g);
    case mf::LNS_MUL: return mf::lns_mul(a, b);
    case mf::LNS_DIV: return mf::lns_div(a, b);
    case mf::LNS_SQRT: return mf::lns_sqrt(a);
    case mf::LNS_POW: return mf::lns_pow(a, power);
    case mf::LNS_NEG: { mf::LogVal v = a; if (v.cls != mf::IN_ZERO) v.neg ^= 1u;
                        return v.cls == mf::IN_FINITE ? mf::log_exact(v.neg, v.L)
                                                      : mf::log_special(v.cls, v.neg); }
    case mf::LNS_ABS: return a.cls == mf::IN_FINITE ? mf::log_exact(0u, a.L)
                                                    : mf::log_special(a.cls, 0u);
    default: return a.cls == mf::IN_FINITE ? mf::log_exact(a.neg, a.L)
                                           : mf::log_special(a.cls, a.neg);
  }
}

// Elementwise op on LNS operands of equal frac_bits (logs compatible), result into LNS `so`.
bool lns_arith(int op, const py::array& a, const py::tuple& sa, const py::array& b,
               const py::tuple& sb, const py::tuple& so, const py::array& thr, int mode, int sat,
               int n, int rsrc, std::uint64_t seed, std::uint64_t offset, py::object random,
               py::object gauss, int power, py::array out) {
  const std::size_t size = static_cast<std::size_t>(out.size());
  const mf::LNSSpec fa = lns_spec_from(sa), fb = lns_spec_from(sb), fo = lns_spec_from(so);
  thresholds(thr, fo);
  const bool binary = op == mf::LNS_ADD || op == mf::LNS_SUB || op == mf::LNS_MUL ||
                      op == mf::LNS_DIV;
  const CodeReader ra = reader(a, size);
  const CodeReader rb = binary ? reader(b, size) : ra;
  const GaussHolder gh = gauss_from(gauss);
  if ((op == mf::LNS_ADD || op == mf::LNS_SUB) && gauss.is_none())
    throw std::invalid_argument("internal: addition needs Gaussian-log tables");
  if (mode < 0 || mode >= mf::NUM_ROUNDINGS) throw std::invalid_argument("internal: mode");
  py::array keep;
  const RandomSource R = random_source(rsrc, n, seed, offset, random, size, keep);
  const bool rescale = op == 8 && fa.frac_bits != fo.frac_bits;
  const bool fast = binary && fa.frac_bits == fo.frac_bits && fb.frac_bits == fo.frac_bits;
  const bool is_add = op == mf::LNS_ADD || op == mf::LNS_SUB;
  std::vector<std::int32_t> packed(fast && is_add ? mf::lns_packed_size(gh.g) : 0);
  if (!packed.empty()) mf::lns_pack_gauss(gh.g, packed.data());
  const mf::LNSBinaryPlan plan =
      mf::make_lns_binary_plan(fa, fb, fo, op, mode, sat, n, gh.g, packed.data());
  // Binary ops: the per-call plan and a branch-free loop specialised on the op and on
  // deterministic vs stochastic rounding (it vectorises); blocks in which some operand is
  // NaN or Inf are then revisited, those elements by the general path.
  auto run_fast = [&](auto* pa, auto* pb, auto* po) {
    using Out = std::remove_pointer_t<decltype(po)>;
    std::atomic<bool> bad{false};
    auto loop = [&](auto op_tag, auto stoch_tag) {
      constexpr int kOp = decltype(op_tag)::value;
      constexpr bool kSt = decltype(stoch_tag)::value;
      py::gil_scoped_release nogil;
      mfcpu::parallel_for(size, [&](std::size_t b0, std::size_t e0) {
        const mf::LNSBinaryPlan pl = plan;  // local copy: stores through po may alias captures
        const RandomSource rs = R;
        const mf::LNSSpec sa_ = fa, sb_ = fb, so_ = fo;
        const mf::GaussTables g = gh.g;
        const int mode_ = mode, sat_ = sat, n_ = n, op_ = op;
        std::uint32_t acc = 0;
        std::uint32_t rbuf[kRandomBlock];
        for (std::size_t c0 = b0; c0 < e0; c0 += kRandomBlock) {
          const std::size_t len = std::min(e0 - c0, kRandomBlock);
          if (kSt) fill_random(rs, c0, len, rbuf);
          const auto* xa = pa + c0;
          const auto* xb = pb + c0;
          Out* xo = po + c0;
          std::uint32_t any_special = 0, nocode = 0;
          for (std::size_t k = 0; k < len; ++k) {
            std::uint32_t special;
            const std::uint32_t code =
                mf::lns_binary_fast<kOp, kSt>(pl, xa[k], xb[k], kSt ? rbuf[k] : 0u, special);
            any_special |= special;
            nocode |= std::uint32_t(code == mf::NO_CODE) & (special ^ 1u);
            xo[k] = static_cast<Out>(code);
          }
          acc |= nocode;
          if (!any_special) continue;
          for (std::size_t k = 0; k < len; ++k) {
            const mf::LogVal va = mf::lns_log_of_code(sa_, xa[k]);
            const mf::LogVal vb = mf::lns_log_of_code(sb_, xb[k]);
            if ((va.cls == mf::IN_FINITE || va.cls == mf::IN_ZERO) &&
                (vb.cls == mf::IN_FINITE || vb.cls == mf::IN_ZERO))
              continue;
            const mf::LogResult r = lns_op(op_, va, vb, mode_, 0, g);
            const std::uint32_t code =
                mf::lns_finish_result(so_, mode_, sat_, n_, r, kSt ? rbuf[k] : 0u);
            acc |= std::uint32_t(code == mf::NO_CODE);
            xo[k] = static_cast<Out>(code);
          }
        }
        if (acc) bad.store(true, std::memory_order_relaxed);
      });
    };
    using Add = std::integral_constant<int, mf::LNS_ADD>;
    using Mul = std::integral_constant<int, mf::LNS_MUL>;
    using Div = std::integral_constant<int, mf::LNS_DIV>;
    const bool st = mf::is_stochastic(mode);
    auto by_mode = [&](auto op_tag) {
      if (st) loop(op_tag, std::true_type{});
      else loop(op_tag, std::false_type{});
    };
    if (op == mf::LNS_MUL) by_mode(Mul{});
    else if (op == mf::LNS_DIV) by_mode(Div{});
    else by_mode(Add{});
    return !bad.load();
  };
  // Typed loops (codes are uint8/uint16): the per-element work is a few integer operations.
  auto run = [&](auto* pa, auto* pb, auto* po) {
    if (fast) return run_fast(pa, pb, po);
    std::atomic<bool> bad{false};
    py::gil_scoped_release nogil;
    mfcpu::parallel_for(size, [&](std::size_t b0, std::size_t e0) {
      // Local copies: stores through the (unsigned char) output may alias anything captured
      // by reference, which would force a reload of every field per element.
      const mf::LNSSpec sa_ = fa, sb_ = fb, so_ = fo;
      const mf::GaussTables g = gh.g;
      const RandomSource rs = R;
      const int op_ = op, mode_ = mode, sat_ = sat, n_ = n, power_ = power;
      const bool rescale_ = rescale;
      std::uint32_t acc = 0;
      for (std::size_t i = b0; i < e0; ++i) {
        const mf::LogVal va = mf::lns_log_of_code(sa_, pa[i]);
        const mf::LogVal vb = mf::lns_log_of_code(sb_, pb[i]);
        const mf::LogResult r = rescale_ ? mf::lns_rescale(va, sa_.frac_bits, so_.frac_bits)
                                         : lns_op(op_, va, vb, mode_, power_, g);
        const std::uint32_t code =
            mf::lns_finish_result(so_, mode_, sat_, n_, r, rs.rsrc ? rs(i) : 0u);
        acc |= std::uint32_t(code == mf::NO_CODE);
        po[i] = static_cast<std::remove_pointer_t<decltype(po)>>(code);
      }
      if (acc) bad.store(true, std::memory_order_relaxed);
    });
    return !bad.load();
  };
  auto with_b = [&](auto* pa, auto* po) {
    if (rb.size == 1) return run(pa, static_cast<const std::uint8_t*>(rb.p), po);
    return run(pa, static_cast<const std::uint16_t*>(rb.p), po);
  };
  auto with_a = [&](auto* po) {
    if (ra.size == 1) return with_b(static_cast<const std::uint8_t*>(ra.p), po);
    return with_b(static_cast<const std::uint16_t*>(ra.p), po);
  };
  if (ra.size > 2 || rb.size > 2 || out.itemsize() > 2)
    throw std::invalid_argument("internal: LNS codes are uint8/uint16");
  return out.itemsize() == 1 ? with_a(ptr<std::uint8_t>(out)) : with_a(ptr<std::uint16_t>(out));
}

// LNS codes -> a float (8-field spec) or fixed-point (3-field spec) format: the exact value
// (integer log) or its 62-bit truncation with sticky, rounded once.
bool lns_convert(const py::array& a, const py::tuple& sa, const py::array& thr, int op,
                 const py::tuple& so, int mode, int sat, int n, int flush, int rsrc,
                 std::uint64_t seed, std::uint64_t offset, py::object random, py::array out) {
  const std::size_t size = static_cast<std::size_t>(out.size());
  const mf::LNSSpec fa = lns_spec_from(sa);
  const std::uint64_t* t = thresholds(thr, fa);
  const CodeReader ra = reader(a, size);
  py::array keep;
  const RandomSource R = random_source(rsrc, n, seed, offset, random, size, keep);
  const bool to_fixed = so.size() == 3;
  const mf::FixedSpec ff = to_fixed ? fixed_spec_from(so) : mf::make_fixed_spec(0, 7, 1);
  const mf::FloatSpec fl = to_fixed ? mf::make_float_spec(5, 10, 15, 1, 1, 1, 0, 1)
                                    : float_spec_from(so);
  const mf::Plan plan = mf::make_plan(fl, mode, sat, flush);
  return fill_codes_any(out, [&](std::size_t i) -> std::uint64_t {
    mf::LogVal v = mf::lns_log_of_code(fa, ra(i));
    if (op == mf::LNS_NEG && v.cls != mf::IN_ZERO) v.neg ^= 1u;
    if (op == mf::LNS_ABS) v.neg = 0;
    const mf::Parts<std::uint64_t> p = mf::lns_parts_of_log(t, fa.frac_bits, v);
    if (to_fixed) return fixed_code(ff, mode, sat, n, mf::units_of_parts(p, ff.frac_bits), R(i));
    return lns_code(mf::project<std::uint64_t>(fl, plan, mode, n, p, R(i)));
  });
}

// ---- Contractions with LNS operands ----
// Products are exact logs La + Lb.  Accumulators (docs/lns_fixed.md §2.5):
//   1 format   an LNS format with the operands' frac_bits: s <- lns_add(s, p) rounded into it
//   2 float32  each product's value rounded to binary32 (RNE), then binary32 RNE additions
//   3 float64  each product's value rounded to binary64 (RNE), then binary64 RNE additions
// The sum is projected once into the output format (LNS, float or fixed point).
struct LNSContract : ContractShape {
  CodeReader A, B;
  bool has_b;
  mf::LNSSpec fa, fb, facc;
  const std::uint64_t* thr_a;   // thresholds of the operands' F
  const std::uint64_t* thr_o;   // thresholds of the output's F (LNS output)
  mf::GaussTables g;
  int out_kind;                 // 0 LNS, 1 float, 2 fixed
  mf::LNSSpec fo_lns;
  mf::FloatSpec fo_float, b32;
  mf::FixedSpec fo_fixed;
  RandomSource R;
};

struct LNSAcc {
  mf::LogVal log;                   // acc == 1
  mf::Parts<std::uint64_t> parts;   // acc == 2, 3 (exact value of a float32/float64)
};

LNSAcc lns_acc_zero() {
  LNSAcc v;
  v.log.cls = mf::IN_ZERO;
  v.log.neg = 0;
  v.log.L = 0;
  v.parts = mf::make_exact(mf::IN_ZERO, 0, 0, 0);
  return v;
}

LNSAcc lns_term(const LNSContract& c, std::size_t i, std::size_t j, int k) {
  const mf::LogVal a = mf::lns_log_of_code(c.fa, c.A(i * std::size_t(c.K) + k));
  mf::LogResult r;
  if (c.has_b) {
    r = mf::lns_mul(a, mf::lns_log_of_code(c.fb, c.B(std::size_t(k) * c.N + j)));
  } else {
    r = a.cls == mf::IN_FINITE ? mf::log_exact(a.neg, a.L) : mf::log_special(a.cls, a.neg);
  }
  LNSAcc v = lns_acc_zero();
  v.log.cls = r.cls;
  v.log.neg = r.neg;
  v.log.L = static_cast<std::int32_t>(r.t);  // |La + Lb| < 2^16
  if (c.acc == 2) {
    const mf::Plan plan = mf::make_plan(c.b32, mf::NEAREST_EVEN, mf::SAT_NONE, 0);
    const std::uint32_t code = mf::project<std::uint64_t>(
        c.b32, plan, mf::NEAREST_EVEN, 0, mf::lns_parts_of_log(c.thr_a, c.fa.frac_bits, v.log), 0u);
    v.parts = mf::exact_of_code(c.b32, code);
  } else if (c.acc == 3) {
    double d = v.log.cls == mf::IN_FINITE ? mf::lns_double_of_log(c.thr_a, c.fa.frac_bits, v.log.L)
               : v.log.cls == mf::IN_INF ? mf::double_of(0x7FF0000000000000ull)
               : v.log.cls == mf::IN_NAN ? mf::double_of(0x7FF8000000000000ull) : 0.0;
    if (v.log.neg) d = -d;
    v.parts = d != d ? mf::exact_nan() : mf::parts_of(d);
  }
  return v;
}

LNSAcc lns_acc_add(const LNSContract& c, const LNSAcc& s, const LNSAcc& t, std::uint64_t pos) {
  LNSAcc r = s;
  if (c.acc == 1) {
    const std::uint32_t Rb = mf::is_stochastic(c.mode) ? c.R(pos) : 0u;
    const mf::LogResult x = mf::lns_add(s.log, t.log, 0u, c.mode, c.g);
    const std::uint32_t code = mf::lns_finish_result(c.facc, c.mode, c.sat, c.n, x, Rb);
    r.log = code == mf::NO_CODE ? mf::LogVal{mf::IN_NAN, 0, 0} : mf::lns_log_of_code(c.facc, code);
    return r;
  }
  if (c.acc == 3) {
    const double v = double_of_parts(s.parts) + double_of_parts(t.parts);
    r.parts = v != v ? mf::exact_nan() : mf::parts_of(v);
    return r;
  }
  const mf::Plan plan = mf::make_plan(c.b32, mf::NEAREST_EVEN, mf::SAT_NONE, 0);
  const std::uint32_t code = mf::project<std::uint64_t>(
      c.b32, plan, mf::NEAREST_EVEN, 0, mf::exact_add(s.parts, t.parts, mf::NEAREST_EVEN), 0u);
  r.parts = mf::exact_of_code(c.b32, code);
  return r;
}

std::uint64_t lns_contract_one(const LNSContract& c, std::size_t o, std::vector<LNSAcc>& sums) {
  const std::size_t i = o / c.N, j = o % c.N;
  const std::uint64_t pos0 = o * std::uint64_t(c.K);
  sums.resize(c.pairwise ? std::size_t(c.K / c.block + 1) : 0u);
  const LNSAcc total = mf::reduce_in_order(
      c.K, c.pairwise, c.block, pos0, lns_acc_zero(),
      [&](const LNSAcc& s, int k, std::uint64_t pos) {
        return lns_acc_add(c, s, lns_term(c, i, j, k), pos);
      },
      [&](const LNSAcc& a, const LNSAcc& b, std::uint64_t pos) {
        return lns_acc_add(c, a, b, pos);
      },
      sums.data());
  const std::uint32_t Rb = c.R(c.total_steps + o);
  const mf::Parts<std::uint64_t> p =
      c.acc == 1 ? mf::lns_parts_of_log(c.thr_a, c.fa.frac_bits, total.log) : total.parts;
  if (c.out_kind == 0) {
    if (c.acc == 1) {
      const mf::LogResult r = mf::lns_rescale(total.log, c.facc.frac_bits, c.fo_lns.frac_bits);
      return lns_code(mf::lns_finish_result(c.fo_lns, c.mode, c.sat, c.n, r, Rb));
    }
    return lns_code(mf::lns_encode_parts(c.fo_lns, c.thr_o, c.mode, c.sat, c.n, p, Rb));
  }
  if (c.out_kind == 2)
    return fixed_code(c.fo_fixed, c.mode, c.sat, c.n, mf::units_of_parts(p, c.fo_fixed.frac_bits), Rb);
  const mf::Plan plan = mf::make_plan(c.fo_float, c.mode, c.sat, c.flush);
  return lns_code(mf::project<std::uint64_t>(c.fo_float, plan, c.mode, c.n, p, Rb));
}

bool lns_contract(const py::array& A, const py::tuple& sa, py::object B, const py::tuple& sb,
                  int M, int K, int N, int acc, const py::tuple& sacc, py::object gauss,
                  const py::tuple& so, int out_kind, const py::array& thr_a,
                  const py::array& thr_o, int mode, int sat, int n, int flush, int pairwise,
                  int block, int rsrc, std::uint64_t seed, std::uint64_t offset, py::array out) {
  if (K < 1 || out.size() != py::ssize_t(M) * N)
    throw std::invalid_argument("internal: lns_contract arguments");
  LNSContract c;
  static_cast<ContractShape&>(c) = contract_shape("lns_contract", M, K, N, acc, 1, 3, mode,
                                                  sat, n, flush, pairwise, block, rsrc);
  c.A = reader(A, std::size_t(M) * K);
  py::array Barr;
  c.has_b = !B.is_none();
  if (c.has_b) {
    Barr = B.cast<py::array>();
    c.B = reader(Barr, std::size_t(K) * N);
  } else {
    c.B = c.A;
  }
  c.fa = lns_spec_from(sa);
  c.fb = c.has_b ? lns_spec_from(sb) : c.fa;
  c.facc = acc == 1 ? lns_spec_from(sacc) : c.fa;
  c.thr_a = thresholds(thr_a, c.fa);
  const GaussHolder gh = gauss_from(gauss);
  if (acc == 1 && gauss.is_none()) throw std::invalid_argument("internal: LNS acc tables");
  c.g = gh.g;
  c.out_kind = out_kind;
  c.b32 = mf::make_float_spec(8, 23, 127, 1, 1, 1, mf::NAN_IEEE, 1);
  c.fo_lns = out_kind == 0 ? lns_spec_from(so) : c.fa;
  c.thr_o = out_kind == 0 ? thresholds(thr_o, c.fo_lns) : c.thr_a;
  c.fo_float = out_kind == 1 ? float_spec_from(so) : c.b32;
  c.fo_fixed = out_kind == 2 ? fixed_spec_from(so) : mf::make_fixed_spec(0, 7, 1);
  py::object none = py::none();
  py::array keep;
  c.R = random_source(rsrc, n, seed, offset, none, 0, keep);
  return contract_all<LNSAcc>(std::size_t(M) * N, out,
                              [&c](std::size_t o, std::vector<LNSAcc>& sums) {
    return lns_contract_one(c, o, sums);
  });
}

}  // namespace

void bind_fixed_lns(py::module_& m) {
  m.def("fixed_encode", &fixed_encode, py::arg("x"), py::arg("spec"), py::arg("mode"),
        py::arg("sat"), py::arg("n"), py::arg("rsrc"), py::arg("seed"), py::arg("offset"),
        py::arg("random"), py::arg("out"));
  m.def("fixed_decode", &fixed_decode, py::arg("codes"), py::arg("spec"), py::arg("out"));
  m.def("fixed_arith", &fixed_arith, py::arg("op"), py::arg("a"), py::arg("sa"), py::arg("b"),
        py::arg("sb"), py::arg("c"), py::arg("sc"), py::arg("so"), py::arg("mode"),
        py::arg("sat"), py::arg("n"), py::arg("rsrc"), py::arg("seed"), py::arg("offset"),
        py::arg("random"), py::arg("out"));
  m.def("fixed_contract", &fixed_contract, py::arg("A"), py::arg("sa"), py::arg("B"),
        py::arg("sb"), py::arg("M"), py::arg("K"), py::arg("N"), py::arg("acc"),
        py::arg("sacc"), py::arg("so"), py::arg("mode"), py::arg("sat"), py::arg("n"),
        py::arg("pairwise"), py::arg("block"), py::arg("rsrc"), py::arg("seed"),
        py::arg("offset"), py::arg("out"));
  m.def("lns_encode", &lns_encode, py::arg("x"), py::arg("spec"), py::arg("thr"),
        py::arg("mode"), py::arg("sat"), py::arg("n"), py::arg("rsrc"), py::arg("seed"),
        py::arg("offset"), py::arg("random"), py::arg("out"));
  m.def("lns_contract", &lns_contract, py::arg("A"), py::arg("sa"), py::arg("B"),
        py::arg("sb"), py::arg("M"), py::arg("K"), py::arg("N"), py::arg("acc"),
        py::arg("sacc"), py::arg("gauss"), py::arg("so"), py::arg("out_kind"), py::arg("thr_a"),
        py::arg("thr_o"), py::arg("mode"), py::arg("sat"), py::arg("n"), py::arg("flush"),
        py::arg("pairwise"), py::arg("block"), py::arg("rsrc"), py::arg("seed"),
        py::arg("offset"), py::arg("out"));
  m.def("lns_decode_table", &lns_decode_table, py::arg("spec"), py::arg("thr"));
  m.def("lns_arith", &lns_arith, py::arg("op"), py::arg("a"), py::arg("sa"), py::arg("b"),
        py::arg("sb"), py::arg("so"), py::arg("thr"), py::arg("mode"), py::arg("sat"),
        py::arg("n"), py::arg("rsrc"), py::arg("seed"), py::arg("offset"), py::arg("random"),
        py::arg("gauss"), py::arg("power"), py::arg("out"));
  m.def("lns_convert", &lns_convert, py::arg("a"), py::arg("sa"), py::arg("thr"), py::arg("op"),
        py::arg("so"), py::arg("mode"), py::arg("sat"), py::arg("n"), py::arg("flush"),
        py::arg("rsrc"), py::arg("seed"), py::arg("offset"), py::arg("random"), py::arg("out"));
}
