// pybind11 bindings: loops over NumPy arrays calling the header core.  No algorithm of its
// own lives here; every bit decision is in include/minifloat/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <vector>
#include <stdexcept>
#include <type_traits>

#include "minifloat/accumulate.h"
#include "minifloat/arith.h"
#include "minifloat/decode.h"
#include "minifloat/project.h"
#include "minifloat/project_f32.h"
#include "minifloat/random.h"
#include "contract_args.h"
#include "minifloat/contract.h"
#include "gemm_f32.h"
#include "parallel.h"

namespace py = pybind11;
using mf::FloatSpec;

namespace {

FloatSpec spec_from(const py::tuple& t) {
  if (t.size() != 8) throw std::invalid_argument("format tuple must have 8 fields");
  return mf::make_float_spec(t[0].cast<int>(), t[1].cast<int>(), t[2].cast<int>(),
                             t[3].cast<int>(), t[4].cast<int>(), t[5].cast<int>(),
                             t[6].cast<int>(), t[7].cast<int>());
}

template <class T> T* data_of(py::array& a) { return static_cast<T*>(a.mutable_data()); }
template <class T> const T* cdata_of(const py::array& a) { return static_cast<const T*>(a.data()); }

// Exact parts of a wider float, decomposed in Python (codec.py PARTS_DTYPE).
struct PartsIn {
  std::uint64_t sig;
  std::int32_t e_lsb;
  std::int32_t flags;  // class | sign << 8
};
static_assert(sizeof(PartsIn) == 16, "PartsIn must match codec.PARTS_DTYPE");

// Exact parts of one input element (the generic path; float32 input normally takes
// encode_range_f32 below).
template <class W, class In> MF_HD mf::Parts<W> parts(In v) {
  if constexpr (std::is_same_v<In, PartsIn>) {
    mf::Parts<W> p;
    p.cls = v.flags & 0xFF;
    p.neg = std::uint32_t(v.flags >> 8) & 1u;
    p.sig = v.sig;
    p.e_lsb = v.e_lsb;
    p.ex = v.sig ? v.e_lsb + mf::top_bit(v.sig) : 0;
    return p;
  } else if constexpr (std::is_same_v<In, float>) {
    return mf::parts_of_float<W, false>(v);
  } else {
    return mf::parts_of(v);
  }
}

constexpr std::size_t kRandomBlock = 1024;  // elements per batch of Philox words

template <int MODE, class In, class Out>
void encode_range(const In* x, Out* out, std::size_t b, std::size_t e, const FloatSpec& spec,
                  int sat, int n, int flush, int rsrc, std::uint64_t seed, std::uint64_t offset,
                  const std::uint32_t* rnd, std::atomic<bool>& bad) {
  using W = std::uint64_t;
  // Local copies: the compiler must see that stores to out cannot change them.
  const FloatSpec f = spec;
  const mf::Plan plan = mf::make_plan(f, MODE, sat, flush);
  std::uint32_t acc = 0;
  if constexpr (!mf::is_stochastic(MODE)) {
    for (std::size_t i = b; i < e; ++i) {
      const std::uint32_t c = mf::project<W>(f, plan, MODE, n, parts<W>(x[i]), 0u);
      acc |= std::uint32_t(c == mf::NO_CODE);
      out[i] = static_cast<Out>(c);
    }
  } else if (rsrc == 2) {
    for (std::size_t i = b; i < e; ++i) {
      const std::uint32_t c = mf::project<W>(f, plan, MODE, n, parts<W>(x[i]), rnd[i]);
      acc |= std::uint32_t(c == mf::NO_CODE);
      out[i] = static_cast<Out>(c);
    }
  } else {
    alignas(64) std::uint32_t words[kRandomBlock];
    for (std::size_t i0 = b; i0 < e; i0 += kRandomBlock) {
      const std::size_t i1 = std::min(e, i0 + kRandomBlock);
      mf::philox_fill(seed, offset + i0, i1 - i0, words);
      for (std::size_t i = i0; i < i1; ++i) {
        const std::uint32_t R = mf::top_bits(words[i - i0], n);
        const std::uint32_t c = mf::project<W>(f, plan, MODE, n, parts<W>(x[i]), R);
        acc |= std::uint32_t(c == mf::NO_CODE);
        out[i] = static_cast<Out>(c);
      }
    }
  }
  if (acc) bad.store(true, std::memory_order_relaxed);
}

// float32 input where mf::f32_path_ok holds (project_f32.h).  Codes are computed as uint32
// into a block buffer, then narrowed: one loop that both computes and narrows to bytes makes
// GCC interleave four vectors of work, which spills AVX2's 16 registers (measured 1.8x slower).
// kAll = false where mf::plain_call holds (signed format, no flushing).
template <int MODE, bool kAll, class Out>
void encode_range_f32(const float* x, Out* out, std::size_t b, std::size_t e,
                      const FloatSpec& spec, int sat, int n, int flush, int rsrc,
                      std::uint64_t seed, std::uint64_t offset, const std::uint32_t* rnd,
                      std::atomic<bool>& bad) {
  const FloatSpec f = spec;
  const mf::Plan plan = mf::make_plan(f, MODE, sat, flush);
  const mf::F32Consts k = mf::make_f32_consts(f);
  // Nearest-even on the FPU's rounding (project_f32.h), checked in the thread that runs it.
  const bool rne = MODE == mf::NEAREST_EVEN && mf::f32_rne_ok(f, plan) && mf::f32_fpu_ok();
  const bool rne_inf = mf::f32_rne_inf(plan);
  alignas(64) std::uint32_t codes[mfcpu::kStreamBlock];
  alignas(64) std::uint32_t words[mfcpu::kStreamBlock];
  std::uint32_t acc = 0;
  for (std::size_t i0 = b; i0 < e; i0 += mfcpu::kStreamBlock) {
    const std::size_t m = std::min(e - i0, mfcpu::kStreamBlock);
    const float* xb = x + i0;
    mfcpu::prefetch_ahead(xb, m, e - i0);
    if constexpr (MODE == mf::NEAREST_EVEN && !kAll) {
      if (rne && rne_inf) {
        for (std::size_t i = 0; i < m; ++i)
          codes[i] = mf::project_f32_rne<true>(f, plan, k, mf::bits_of(xb[i]));
      } else if (rne) {
        for (std::size_t i = 0; i < m; ++i)
          codes[i] = mf::project_f32_rne<false>(f, plan, k, mf::bits_of(xb[i]));
      } else {
        for (std::size_t i = 0; i < m; ++i)
          codes[i] = mf::project_f32<MODE, kAll>(f, plan, k, n, mf::bits_of(xb[i]), 0u);
      }
    } else if constexpr (!mf::is_stochastic(MODE)) {
      for (std::size_t i = 0; i < m; ++i)
        codes[i] = mf::project_f32<MODE, kAll>(f, plan, k, n, mf::bits_of(xb[i]), 0u);
    } else if (rsrc == 2) {
      const std::uint32_t* rb = rnd + i0;
      for (std::size_t i = 0; i < m; ++i)
        codes[i] = mf::project_f32<MODE, kAll>(f, plan, k, n, mf::bits_of(xb[i]), rb[i]);
    } else {
      mf::philox_fill(seed, offset + i0, m, words);
      for (std::size_t i = 0; i < m; ++i)
        codes[i] = mf::project_f32<MODE, kAll>(f, plan, k, n, mf::bits_of(xb[i]),
                                               mf::top_bits(words[i], n));
    }
    Out* ob = out + i0;
    if (f.has_nan) {  // NO_CODE only comes from NaN input into a format without NaN
      for (std::size_t i = 0; i < m; ++i) ob[i] = static_cast<Out>(codes[i]);
    } else {
      for (std::size_t i = 0; i < m; ++i) {
        acc |= std::uint32_t(codes[i] == mf::NO_CODE);
        ob[i] = static_cast<Out>(codes[i]);
      }
    }
  }
  if (acc) bad.store(true, std::memory_order_relaxed);
}

template <int MODE, class In, class Out>
bool encode_typed(const py::array& x, py::array& out, const FloatSpec& f, int sat, int n,
                  int flush, int rsrc, std::uint64_t seed, std::uint64_t offset,
                  const std::uint32_t* rnd) {
  const In* xp = cdata_of<In>(x);
  Out* op = data_of<Out>(out);
  const std::size_t size = static_cast<std::size_t>(x.size());
  std::atomic<bool> bad{false};
  {
    py::gil_scoped_release nogil;
    // float32 input: the uint32 path when it covers the call (it does for every
    // deterministic call the old kLean shortcut covered, and more).
    bool fast = false, plain = false;
    if constexpr (std::is_same_v<In, float>) {
      fast = mf::f32_path_ok(f, MODE, n);
      plain = mf::plain_call(f, mf::make_plan(f, MODE, sat, flush));
    }
    mfcpu::parallel_for(size, [&](std::size_t b, std::size_t e) {
      if constexpr (std::is_same_v<In, float>) {
        if (fast && plain) {
          encode_range_f32<MODE, false, Out>(xp, op, b, e, f, sat, n, flush, rsrc, seed, offset,
                                             rnd, bad);
          return;
        }
        if (fast) {
          encode_range_f32<MODE, true, Out>(xp, op, b, e, f, sat, n, flush, rsrc, seed, offset,
                                            rnd, bad);
          return;
        }
      }
      encode_range<MODE, In, Out>(xp, op, b, e, f, sat, n, flush, rsrc, seed, offset, rnd, bad);
    });
  }
  return !bad.load();
}

template <int MODE>
bool encode_mode(const py::array& x, py::array& out, const FloatSpec& f, int sat, int n, int flush,
                 int rsrc, std::uint64_t seed, std::uint64_t offset, const std::uint32_t* rnd) {
  const bool wide = out.itemsize() == 2;
  const char kind = x.dtype().kind();
  const auto isz = x.itemsize();
#define MF_DISPATCH(IN)                                                                      \
  return wide ? encode_typed<MODE, IN, std::uint16_t>(x, out, f, sat, n, flush, rsrc, seed,  \
                                                      offset, rnd)                           \
              : encode_typed<MODE, IN, std::uint8_t>(x, out, f, sat, n, flush, rsrc, seed,   \
                                                     offset, rnd)
  if (kind == 'f' && isz == 4) MF_DISPATCH(float);
  if (kind == 'f' && isz == 8) MF_DISPATCH(double);
  if (kind == 'i' && isz == 8) MF_DISPATCH(std::int64_t);
  if (kind == 'u' && isz == 8) MF_DISPATCH(std::uint64_t);
  if (kind == 'V' && isz == 16) MF_DISPATCH(PartsIn);
#undef MF_DISPATCH
  throw std::invalid_argument("internal: encode input must be float32/float64/int64/uint64");
}

template <int... M>
bool encode_dispatch(std::integer_sequence<int, M...>, int mode, const py::array& x,
                     py::array& out, const FloatSpec& f, int sat, int n, int flush, int rsrc,
                     std::uint64_t seed, std::uint64_t offset, const std::uint32_t* rnd) {
  bool ok = true;
  bool found = ((mode == M ? (ok = encode_mode<M>(x, out, f, sat, n, flush, rsrc, seed, offset, rnd),
                              true)
                           : false) ||
                ...);
  if (!found) throw std::invalid_argument("internal: unknown rounding mode");
  return ok;
}

// Returns False when some element had no faithful code (NaN into a format without NaN);
// the caller raises and discards `out`.
bool encode(const py::array& x, const py::tuple& spec, int mode, int sat, int n, int flush,
            int rsrc, std::uint64_t seed, std::uint64_t offset, py::object random, py::array out) {
  const FloatSpec f = spec_from(spec);
  if (x.size() != out.size()) throw std::invalid_argument("internal: out size");
  const std::uint32_t* rnd = nullptr;
  py::array rarr;
  if (rsrc == 2) {
    rarr = random.cast<py::array>();
    if (rarr.size() != x.size() || rarr.itemsize() != 4)
      throw std::invalid_argument("internal: random must be uint32 of x's size");
    rnd = cdata_of<std::uint32_t>(rarr);
  }
  return encode_dispatch(std::make_integer_sequence<int, mf::NUM_ROUNDINGS>{}, mode, x, out, f,
                         sat, n, flush, rsrc, seed, offset, rnd);
}

// Decode through a value table (num_codes entries, built by decode_table and cached in
// Python).  Returns the largest code seen so the caller can reject out-of-range codes.
template <class C, class V>
std::uint32_t gather(const C* codes, V* out, std::size_t n, const V* table) {
  std::atomic<std::uint32_t> top{0};
  py::gil_scoped_release nogil;
  mfcpu::parallel_for(n, [&](std::size_t b, std::size_t e) {
    std::uint32_t mx = 0;
    for (std::size_t i = b; i < e; ++i) {
      const std::uint32_t c = codes[i];
      mx = mx > c ? mx : c;
      out[i] = table[c];
    }
    std::uint32_t cur = top.load();
    while (mx > cur && !top.compare_exchange_weak(cur, mx)) {
    }
  });
  return top.load();
}

// Out-of-range codes are first clamped by the caller's check; here the table covers every
// value of the code dtype (Python pads it with NaN up to 2^(8*itemsize)).
std::uint32_t decode(const py::array& codes, const py::array& table, py::array out) {
  const std::size_t n = static_cast<std::size_t>(codes.size());
  const bool wide = codes.itemsize() == 2;
  if (out.itemsize() == 8) {
    const double* t = cdata_of<double>(table);
    return wide ? gather(cdata_of<std::uint16_t>(codes), data_of<double>(out), n, t)
                : gather(cdata_of<std::uint8_t>(codes), data_of<double>(out), n, t);
  }
  const float* t = cdata_of<float>(table);
  return wide ? gather(cdata_of<std::uint16_t>(codes), data_of<float>(out), n, t)
              : gather(cdata_of<std::uint8_t>(codes), data_of<float>(out), n, t);
}

py::array_t<double> decode_table(const py::tuple& spec) {
  const FloatSpec f = spec_from(spec);
  py::array_t<double> t(static_cast<py::ssize_t>(f.num_codes));
  double* p = t.mutable_data();
  for (std::uint32_t c = 0; c < f.num_codes; ++c) p[c] = mf::decode_double(f, c);
  return t;
}

py::dict derive(const py::tuple& spec) {
  const FloatSpec f = spec_from(spec);
  py::dict d;
  d["bits"] = f.bits;
  d["emin"] = f.emin;
  d["kmax"] = f.kmax;
  d["has_zero"] = bool(f.has_zero);
  d["has_nan"] = bool(f.has_nan);
  d["has_inf"] = bool(f.has_inf);
  d["sign_bit"] = f.sign_bit;
  d["mag_mask"] = f.mag_mask;
  d["num_codes"] = f.num_codes;
  d["code_of_max"] = std::uint32_t(f.kmax);
  d["code_of_nan"] = f.has_nan ? py::object(py::int_(mf::nan_code(f, 0))) : py::none();
  d["code_of_inf"] = f.has_inf ? py::object(py::int_(f.inf_mag)) : py::none();
  d["code_of_zero"] = f.has_zero ? py::object(py::int_(0)) : py::none();
  return d;
}

// Elementwise exact arithmetic on codes (arith.h) with one projection into the result format.
// Operands are uint16 code arrays of the output's size (the caller broadcasts); the result is
// written to out (uint8/uint16).  Returns False if a NaN result has no code in the output format.
template <class Out>
bool arith_loop(int op, const std::uint16_t* a, const std::uint16_t* b, const std::uint16_t* c,
                const FloatSpec& fa, const FloatSpec& fb, const FloatSpec& fc,
                const FloatSpec& fo, int mode, int sat, int n, int flush, int rsrc,
                std::uint64_t seed, std::uint64_t offset, const std::uint32_t* rnd, Out* out,
                std::size_t size) {
  std::atomic<bool> bad{false};
  const mf::Plan plan = mf::make_plan(fo, mode, sat, flush);
  const int arity = mf::op_arity(op);
  const bool b_uzero = mf::zero_is_unsigned(fb);
  py::gil_scoped_release nogil;
  mfcpu::parallel_for(size, [&](std::size_t b0, std::size_t e0) {
    std::uint32_t acc = 0;
    const mf::Exact none = mf::make_exact(mf::IN_ZERO, 0, 0, 0);
    for (std::size_t i = b0; i < e0; ++i) {
      const mf::Exact xa = mf::exact_of_code(fa, a[i]);
      const mf::Exact xb = arity >= 2 ? mf::exact_of_code(fb, b[i]) : none;
      const mf::Exact xc = arity >= 3 ? mf::exact_of_code(fc, c[i]) : none;
      const mf::Exact r = mf::exact_op(op, xa, xb, xc, mode, b_uzero);
      std::uint32_t R = 0;
      if (rsrc == 1) R = mf::top_bits(mf::philox_word(seed, offset + i), n);
      if (rsrc == 2) R = rnd[i];
      const std::uint32_t code = mf::project<std::uint64_t>(fo, plan, mode, n, r, R);
      acc |= std::uint32_t(code == mf::NO_CODE);
      out[i] = static_cast<Out>(code);
    }
    if (acc) bad.store(true);
  });
  return !bad.load();
}

bool arith(int op, const py::array& a, const py::tuple& sa, const py::array& b,
           const py::tuple& sb, const py::array& c, const py::tuple& sc, const py::tuple& so,
           int mode, int sat, int n, int flush, int rsrc, std::uint64_t seed,
           std::uint64_t offset, py::object random, py::array out) {
  if (op < 0 || op >= mf::NUM_OPS || mode < 0 || mode >= mf::NUM_ROUNDINGS)
    throw std::invalid_argument("internal: bad op or mode");
  const std::size_t size = static_cast<std::size_t>(out.size());
  const int arity = mf::op_arity(op);
  if (static_cast<std::size_t>(a.size()) != size || a.itemsize() != 2 ||
      (arity >= 2 && (static_cast<std::size_t>(b.size()) != size || b.itemsize() != 2)) ||
      (arity >= 3 && (static_cast<std::size_t>(c.size()) != size || c.itemsize() != 2)))
    throw std::invalid_argument("internal: operands must be uint16 arrays of out's size");
  const std::uint32_t* rnd = nullptr;
  py::array rarr;
  if (rsrc == 2) {
    rarr = random.cast<py::array>();
    if (static_cast<std::size_t>(rarr.size()) != size || rarr.itemsize() != 4)
      throw std::invalid_argument("internal: random must be uint32 of out's size");
    rnd = cdata_of<std::uint32_t>(rarr);
  }
  const FloatSpec fa = spec_from(sa), fb = spec_from(sb), fc = spec_from(sc), fo = spec_from(so);
  const auto* pa = cdata_of<std::uint16_t>(a);
  const auto* pb = arity >= 2 ? cdata_of<std::uint16_t>(b) : pa;
  const auto* pc = arity >= 3 ? cdata_of<std::uint16_t>(c) : pa;
  if (out.itemsize() == 2)
    return arith_loop(op, pa, pb, pc, fa, fb, fc, fo, mode, sat, n, flush, rsrc, seed, offset,
                      rnd, data_of<std::uint16_t>(out), size);
  return arith_loop(op, pa, pb, pc, fa, fb, fc, fo, mode, sat, n, flush, rsrc, seed, offset, rnd,
                    data_of<std::uint8_t>(out), size);
}

// ---- Contractions: C[o] = sum_k A[i,k] * B[k,j] with an explicit accumulator ----
struct ContractArgs : ContractShape {
  const std::uint16_t* A;
  const std::uint16_t* B;  // nullptr: terms are A[i,k] alone (sums)
  FloatSpec fa, fb, facc, fo;
  int rsrc;
  std::uint64_t seed, offset;
  int32_t e0, limbs;
};

// One output per element, computed by mf::contract_one (contract.h, shared with the GPU).
template <class Out>
bool contract_loop(const ContractArgs& c, Out* out, std::size_t M) {
  const std::size_t total = M * static_cast<std::size_t>(c.N);
  std::atomic<bool> bad{false};
  mf::ContractSpec cs;
  cs.fa = c.fa;
  cs.fb = c.fb;
  cs.facc = c.facc;
  cs.fo = c.fo;
  cs.K = c.K;
  cs.N = c.N;
  cs.acc = c.acc;
  cs.mode = c.mode;
  cs.sat = c.sat;
  cs.n = c.n;
  cs.flush = c.flush;
  cs.rsrc = c.rsrc;
  cs.pairwise = c.pairwise;
  cs.block = c.block;
  cs.e0 = c.e0;
  cs.limbs = c.limbs;
  cs.seed = c.seed;
  cs.offset = c.offset;
  cs.total_steps = c.total_steps;
  const mf::Plan out_plan = mf::make_plan(c.fo, c.mode, c.sat, c.flush);
  const std::size_t nsums = c.pairwise ? std::size_t(c.K / c.block + 1) : 1u;
  py::gil_scoped_release nogil;
  mfcpu::parallel_for(total, [&](std::size_t b0, std::size_t e0) {
    std::vector<mf::Exact> xs(nsums);
    std::vector<double> ds(nsums);
    std::uint32_t badacc = 0;
    for (std::size_t o = b0; o < e0; ++o) {
      const std::uint32_t code = mf::contract_one(cs, out_plan, c.A, c.B, o, xs.data(),
                                                  ds.data());
      badacc |= std::uint32_t(code == mf::NO_CODE);
      out[o] = static_cast<Out>(code);
    }
    if (badacc) bad.store(true);
  });
  return !bad.load();
}

bool contract(const py::array& A, const py::tuple& sa, py::object B, const py::tuple& sb, int M,
              int K, int N, int acc, const py::tuple& sacc, const py::tuple& so, int mode, int sat,
              int n, int flush, int pairwise, int block, int rsrc, std::uint64_t seed,
              std::uint64_t offset, int e0, int limbs, py::array out) {
  if (A.itemsize() != 2 || A.size() != py::ssize_t(M) * K || out.size() != py::ssize_t(M) * N)
    throw std::invalid_argument("internal: contract shapes");
  if (limbs < 1 || limbs > mf::KMAX_LIMBS)
    throw std::invalid_argument("internal: contract parameters");
  ContractArgs c;
  static_cast<ContractShape&>(c) =
      contract_shape("contract", M, K, N, acc, 0, 3, mode, sat, n, flush, pairwise, block, rsrc);
  c.A = cdata_of<std::uint16_t>(A);
  py::array Barr;
  c.B = nullptr;
  if (!B.is_none()) {
    Barr = B.cast<py::array>();
    if (Barr.itemsize() != 2 || Barr.size() != py::ssize_t(K) * N)
      throw std::invalid_argument("internal: contract B shape");
    c.B = cdata_of<std::uint16_t>(Barr);
  }
  c.fa = spec_from(sa);
  c.fb = spec_from(sb);
  c.facc = spec_from(sacc);
  c.fo = spec_from(so);
  c.rsrc = rsrc;
  c.seed = seed;
  c.offset = offset;
  c.e0 = e0;
  c.limbs = limbs;
  if (out.itemsize() == 2) return contract_loop(c, data_of<std::uint16_t>(out), std::size_t(M));
  return contract_loop(c, data_of<std::uint8_t>(out), std::size_t(M));
}

// out[i] = table[a[i] * nb + b[i]] for uint8 codes and a uint16 result table (the 64 K-entry
// tables of <= 8-bit binary operations).  Returns the largest entry used, so the caller can
// detect the 0xFFFF "no code" marker.
std::uint32_t gather2(const py::array& a, const py::array& b, const py::array& table, int nb,
                      py::array out) {
  const std::size_t n = static_cast<std::size_t>(out.size());
  if (a.size() != out.size() || b.size() != out.size() || a.itemsize() != 1 ||
      b.itemsize() != 1 || table.itemsize() != 2 || out.itemsize() != 1)
    throw std::invalid_argument("internal: gather2 arguments");
  const auto* pa = cdata_of<std::uint8_t>(a);
  const auto* pb = cdata_of<std::uint8_t>(b);
  const auto* t = cdata_of<std::uint16_t>(table);
  const std::size_t tsize = static_cast<std::size_t>(table.size());
  auto* po = data_of<std::uint8_t>(out);
  std::atomic<std::uint32_t> top{0};
  bool range_ok = true;
  const bool full = nb == 256 && tsize == 65536;  // every uint8 pair is inside the table
  for (std::size_t i = 0; i < n && range_ok && !full; ++i)  // guard against foreign codes
    range_ok = std::size_t(pa[i]) * nb + pb[i] < tsize;
  if (!range_ok) throw std::invalid_argument("internal: gather2 code out of table range");
  py::gil_scoped_release nogil;
  mfcpu::parallel_for(n, [&](std::size_t b0, std::size_t e0) {
    // Local copies: po is a uint8_t (char-type) pointer, so without them every store
    // through it could change the captured pointers and the loop reloads them each element
    // (measured 2x slower).
    const std::uint8_t* const A = pa;
    const std::uint8_t* const B = pb;
    const std::uint16_t* const T = t;
    std::uint8_t* const O = po;
    const std::size_t NB = static_cast<std::size_t>(nb);
    std::uint32_t mx = 0;
    for (std::size_t i = b0; i < e0; ++i) {
      const std::uint32_t v = T[std::size_t(A[i]) * NB + B[i]];
      mx = mx > v ? mx : v;
      O[i] = static_cast<std::uint8_t>(v);
    }
    std::uint32_t cur = top.load();
    while (mx > cur && !top.compare_exchange_weak(cur, mx)) {
    }
  });
  return top.load();
}

// C = A @ B in binary32, every C[i,j] accumulated in k order: C <- fma(A[i,k], B[k,j], C).
// Used only when every product A[i,k]*B[k,j] is exact in binary32 (checked in linalg.py), so
// the fused multiply-add rounds exactly once per step, like "round(C + exact product)": the
// bits are those of the sequential float32 accumulator, and the loop is a register-blocked
// GEMM micro-kernel (4 rows x 64 columns of C live in vector registers).
// C = A B with sequential-k binary32 FMAs (one rounding per step; canonical +NaN), by
// register-blocked tiles over B packed into panels.  b_at(k, j) gives B's value (a float
// array, or a table lookup of codes).  Runs without the GIL.
template <class BAt>
void gemm_seq_f32(const float* a, BAt b_at, float* c, int M, int K, int N) {
  constexpr int RB = mfcpu::kGemmRB, CB = mfcpu::kGemmCB;
  const std::size_t row_blocks = (std::size_t(M) + RB - 1) / RB;
  const std::size_t panels = (std::size_t(N) + CB - 1) / CB;
  const std::size_t panel_size = std::size_t(K) * CB;
  // B packed once: panel p holds columns [p*CB, p*CB + CB) row by row, zero-padded.  The
  // buffer is kept between calls (up to 16 MiB per calling thread): a fresh 256 KiB one per
  // call cost ~100 page faults after glibc returned the memory, ~0.4 ms on the development VM
  // against ~0.5 ms of arithmetic at 256^3.
  thread_local std::vector<float> keep;
  std::vector<float> once;
  const std::size_t need = panels * panel_size;
  std::vector<float>& packed = need <= (std::size_t(4) << 20) ? keep : once;
  if (packed.size() < need) packed.resize(need);
  mfcpu::parallel_for(panels, [&](std::size_t p0, std::size_t p1) {
    for (std::size_t p = p0; p < p1; ++p) {
      const int j0 = int(p) * CB, nj = std::min(CB, N - j0);
      float* dst = packed.data() + p * panel_size;
      for (int k = 0; k < K; ++k)
        for (int j = 0; j < CB; ++j)
          dst[std::size_t(k) * CB + j] = j < nj ? b_at(k, j0 + j) : 0.0f;
    }
  }, 1);
  // One parallel region over (panel, row block) tiles; consecutive tiles share a panel, so a
  // thread's panel stays in cache while rows of A stream past it.
  mfcpu::parallel_for(panels * row_blocks, [&](std::size_t t0, std::size_t t1) {
    for (std::size_t t = t0; t < t1; ++t) {
      const std::size_t p = t / row_blocks, rb = t % row_blocks;
      const int j0 = int(p) * CB, i0 = int(rb) * RB;
      mfcpu::gemm_f32_tile(a, packed.data() + p * panel_size, c, K, N, i0,
                           std::min(RB, M - i0), j0, std::min(CB, N - j0));
    }
  }, 1);
}

void matmul_f32_seq(const py::array& A, const py::array& B, py::array C, int M, int K, int N) {
  if (A.itemsize() != 4 || B.itemsize() != 4 || C.itemsize() != 4 ||
      A.size() != py::ssize_t(M) * K || B.size() != py::ssize_t(K) * N ||
      C.size() != py::ssize_t(M) * N)
    throw std::invalid_argument("internal: matmul_f32_seq shapes");
  const float* a = cdata_of<float>(A);
  const float* b = cdata_of<float>(B);
  float* c = data_of<float>(C);
  py::gil_scoped_release nogil;
  gemm_seq_f32(a, [b, N](int k, int j) { return b[std::size_t(k) * N + j]; }, c, M, K, N);
}

// The float32-accumulate matmul on codes in one call (linalg.py's fast path): A's codes decoded
// through the float32 table `ta`, B's decoded while its panels are packed, C encoded into the
// output format by encode() -- no intermediate arrays and no Python between the steps, which
// at 256^3 cost as much as the arithmetic.  Tables are NaN-padded to every value of the code
// dtype (the caller checks the codes' range where the format has fewer codes than the
// dtype); returns encode()'s result.
bool matmul_f32_codes(const py::array& A, const py::array& ta, const py::array& B,
                           const py::array& tb, int M, int K, int N, const py::tuple& so,
                           int mode, int sat, int n, int flush, int rsrc, std::uint64_t seed,
                           std::uint64_t offset, py::array out) {
  if (A.size() != py::ssize_t(M) * K || B.size() != py::ssize_t(K) * N ||
      out.size() != py::ssize_t(M) * N || ta.itemsize() != 4 || tb.itemsize() != 4 ||
      ta.size() != (py::ssize_t(1) << (8 * A.itemsize())) ||
      tb.size() != (py::ssize_t(1) << (8 * B.itemsize())))
    throw std::invalid_argument("internal: matmul_f32_codes shapes");
  // Decoded A and C live in per-thread buffers kept between calls (see gemm_seq_f32).
  thread_local std::vector<float> abuf, cbuf;
  if (abuf.size() < std::size_t(M) * K) abuf.resize(std::size_t(M) * K);
  if (cbuf.size() < std::size_t(M) * N) cbuf.resize(std::size_t(M) * N);
  const float* tav = cdata_of<float>(ta);
  const std::size_t na = std::size_t(M) * K;
  if (A.itemsize() == 2) gather(cdata_of<std::uint16_t>(A), abuf.data(), na, tav);
  else gather(cdata_of<std::uint8_t>(A), abuf.data(), na, tav);
  {
    const float* tbv = cdata_of<float>(tb);
    py::gil_scoped_release nogil;
    auto run = [&](auto* bc) {
      gemm_seq_f32(abuf.data(), [bc, tbv, N](int k, int j) {
        return tbv[bc[std::size_t(k) * N + j]];
      }, cbuf.data(), M, K, N);
    };
    if (B.itemsize() == 2) run(cdata_of<std::uint16_t>(B));
    else run(cdata_of<std::uint8_t>(B));
  }
  py::array_t<float> cview({py::ssize_t(M) * N}, {py::ssize_t(sizeof(float))}, cbuf.data(),
                           py::capsule(cbuf.data(), [](void*) {}));
  const bool ok = encode(cview, so, mode, sat, n, flush, rsrc, seed, offset, py::none(), out);
  return ok;
}

// Sequential accumulation into a low-precision format, vectorised over the columns of C:
// s[j] <- value(project_acc(add_round_odd(s[j], A[i,k] * B[k,j]))).  A and B hold decoded
// values (doubles) whose products are exact in binary64 (checked in linalg.py); the result is
// identical to the generic AccFormat path for deterministic modes (see add_round_odd).
// Writes the accumulated values (exact values of the accumulator format) to S.
template <int MODE>
void accumulate_rows(const double* __restrict__ a, const double* __restrict__ b,
                     const double* __restrict__ table, double* __restrict__ sp,
                     const FloatSpec& facc, int sat, int flush, int K, int N, std::size_t r0,
                     std::size_t r1, std::atomic<bool>& bad) {
  const FloatSpec f = facc;  // local copies: stores to s cannot alias them
  const mf::Plan plan = mf::make_plan(f, MODE, sat, flush);
  std::uint32_t badacc = 0;
  for (std::size_t i = r0; i < r1; ++i) {
    double* __restrict__ s = sp + i * std::size_t(N);
    for (int j = 0; j < N; ++j) s[j] = 0.0;
    for (int k = 0; k < K; ++k) {
      const double av = a[i * std::size_t(K) + k];
      const double* __restrict__ brow = b + std::size_t(k) * N;
      for (int j = 0; j < N; ++j) {
        const double t = mf::add_round_odd(s[j], av * brow[j], MODE);
        const std::uint32_t code =
            mf::project<std::uint64_t>(f, plan, MODE, 0, mf::parts_of(t), 0u);
        const std::uint32_t none = std::uint32_t(code == mf::NO_CODE);
        badacc |= none;
        s[j] = table[mf::pick(none, 0u, code)];
      }
    }
  }
  if (badacc) bad.store(true);
}

// The same accumulation in binary32 (accumulate.h: AccF32), when the accumulator format and
// the operand values allow it (acc_f32_ok, products_fit_f32): vectorised over the columns of
// C.  The state of a tile of kAccRows rows x kAccCols columns lives in two ping-pong buffers,
// k runs outermost (the order of additions of each output is k = 0, 1, ...), and B is packed
// in zero-padded panels of kAccCols columns so the column loop has a fixed trip count.  Lanes
// the fast step flags as special are redone through the exact core (acc_f32_add_exact) right
// after the vector pass of their row and step.
constexpr int kAccRows = 4, kAccCols = 128;

template <int MODE>
void acc_f32_tile(const float* __restrict__ a, const float* __restrict__ panel,
                  double* __restrict__ S, const FloatSpec& facc, const mf::Plan& plan,
                  const mf::AccF32& cfg, int K, int N, std::size_t i0, int ni, int j0, int nj,
                  std::atomic<bool>& bad) {
  alignas(64) float buf[2][kAccRows][kAccCols];
  alignas(64) std::uint32_t flag[kAccCols];
  float (*cur)[kAccCols] = buf[0];
  float (*nxt)[kAccCols] = buf[1];
  const mf::AccF32 c = cfg;  // local copy: stores to the buffers cannot alias it
  std::uint32_t badacc = 0;
  for (int r = 0; r < kAccRows; ++r)
    for (int j = 0; j < kAccCols; ++j) cur[r][j] = 0.0f;
  for (int k = 0; k < K; ++k) {
    const float* __restrict__ brow = panel + std::size_t(k) * kAccCols;
    for (int r = 0; r < ni; ++r) {
      const float av = a[(i0 + r) * std::size_t(K) + k];
      const float* __restrict__ s = cur[r];
      float* __restrict__ t = nxt[r];
      std::uint32_t any = 0;
      for (int j = 0; j < kAccCols; ++j) {
        std::uint32_t sp;
        t[j] = mf::acc_f32_add(c, MODE, s[j], av * brow[j], sp);
        flag[j] = sp;
        any |= sp;
      }
      if (any) {
        for (int j = 0; j < kAccCols; ++j) {
          if (!flag[j]) continue;
          std::uint32_t b = 0;
          t[j] = mf::acc_f32_add_exact(facc, plan, MODE, s[j], av * brow[j], b);
          badacc |= b;
        }
      }
    }
    float (*tmp)[kAccCols] = cur;
    cur = nxt;
    nxt = tmp;
  }
  for (int r = 0; r < ni; ++r)
    for (int j = 0; j < nj; ++j) S[(i0 + r) * std::size_t(N) + j0 + j] = cur[r][j];
  if (badacc) bad.store(true);
}

// Whether every value of X is a binary32 number and, with the values of Y, every product is
// exact in binary32 with magnitude < 2^127 (what acc_f32_add needs).  Summarised per array as
// (most significant bits, lowest LSB exponent, highest exponent) over finite non-zero values.
struct F32Fit {
  int bits = 0, lsb = 1 << 20, top = -(1 << 20);
};
F32Fit f32_fit(const double* x, std::size_t n) {
  F32Fit r;
  for (std::size_t i = 0; i < n; ++i) {
    const mf::Parts<std::uint64_t> p = mf::parts_of(x[i]);
    if (p.cls != mf::IN_FINITE) continue;
    const int tz = __builtin_ctzll(p.sig);
    r.bits = std::max(r.bits, mf::top_bit(p.sig) - tz + 1);
    r.lsb = std::min(r.lsb, p.e_lsb + tz);
    r.top = std::max(r.top, p.ex);
  }
  return r;
}
bool products_fit_f32(const F32Fit& x, const F32Fit& y) {
  const bool each = x.bits <= 24 && y.bits <= 24 && x.lsb >= -149 && y.lsb >= -149 &&
                    x.top <= 127 && y.top <= 127;
  return each && x.bits + y.bits <= 24 && x.lsb + y.lsb >= -149 && x.top + y.top + 2 <= 127;
}

template <int MODE>
void accumulate_f32(const float* a, const float* packed, double* S, const FloatSpec& facc,
                    int sat, int flush, int M, int K, int N, std::atomic<bool>& bad) {
  const mf::Plan plan = mf::make_plan(facc, MODE, sat, flush);
  const mf::AccF32 cfg = mf::make_acc_f32(facc);
  const std::size_t row_blocks = (std::size_t(M) + kAccRows - 1) / kAccRows;
  const std::size_t panels = (std::size_t(N) + kAccCols - 1) / kAccCols;
  mfcpu::parallel_for(row_blocks * panels, [&](std::size_t t0, std::size_t t1) {
    for (std::size_t t = t0; t < t1; ++t) {
      const std::size_t p = t % panels, rb = t / panels;
      const int j0 = int(p) * kAccCols;
      const std::size_t i0 = rb * kAccRows;
      acc_f32_tile<MODE>(a, packed + p * std::size_t(K) * kAccCols, S, facc, plan, cfg, K, N, i0,
                         int(std::min<std::size_t>(kAccRows, std::size_t(M) - i0)), j0,
                         std::min(kAccCols, N - j0), bad);
    }
  }, 1);
}

// Returns 0 when a NaN sum has no code in the accumulator format (the caller raises), else the
// loop that ran: 1 the binary64 one above, 2 the binary32 one (tests check which is taken).
int accumulate_format_seq(const py::array& A, const py::array& B, const py::tuple& sacc,
                          const py::array& acc_table, int mode, int sat, int flush, int M,
                          int K, int N, py::array S) {
  if (A.itemsize() != 8 || B.itemsize() != 8 || S.itemsize() != 8 || acc_table.itemsize() != 8 ||
      A.size() != py::ssize_t(M) * K || B.size() != py::ssize_t(K) * N ||
      S.size() != py::ssize_t(M) * N || mode < 0 || mf::is_stochastic(mode))
    throw std::invalid_argument("internal: accumulate_format_seq arguments");
  const FloatSpec facc = spec_from(sacc);
  if (static_cast<std::uint64_t>(acc_table.size()) != facc.num_codes)
    throw std::invalid_argument("internal: accumulator value table size");
  const double* a = cdata_of<double>(A);
  const double* b = cdata_of<double>(B);
  const double* table = cdata_of<double>(acc_table);
  double* sp = data_of<double>(S);
  std::atomic<bool> bad{false};
  py::gil_scoped_release nogil;
  if (mf::acc_f32_ok(facc, mode) &&
      products_fit_f32(f32_fit(a, std::size_t(M) * K), f32_fit(b, std::size_t(K) * N))) {
    // Same bits through binary32 (see acc_f32_tile): A as floats, B packed in panels.
    const std::size_t panels = (std::size_t(N) + kAccCols - 1) / kAccCols;
    std::vector<float> af(std::size_t(M) * K), packed(panels * std::size_t(K) * kAccCols);
    for (std::size_t i = 0; i < af.size(); ++i) af[i] = static_cast<float>(a[i]);
    for (std::size_t p = 0; p < panels; ++p)
      for (int k = 0; k < K; ++k)
        for (int j = 0; j < kAccCols; ++j) {
          const std::size_t col = p * kAccCols + j;
          packed[(p * K + k) * kAccCols + j] =
              col < std::size_t(N) ? static_cast<float>(b[std::size_t(k) * N + col]) : 0.0f;
        }
    switch (mode) {
#define MF_F32(M_) \
  case M_: accumulate_f32<M_>(af.data(), packed.data(), sp, facc, sat, flush, M, K, N, bad); break;
      MF_F32(0) MF_F32(1) MF_F32(2) MF_F32(3) MF_F32(4) MF_F32(5) MF_F32(6)
#undef MF_F32
      default: break;
    }
    return bad.load() ? 0 : 2;
  }
  mfcpu::parallel_for(std::size_t(M), [&](std::size_t r0, std::size_t r1) {
    switch (mode) {
#define MF_ROWS(M_) \
  case M_: accumulate_rows<M_>(a, b, table, sp, facc, sat, flush, K, N, r0, r1, bad); break;
      MF_ROWS(0) MF_ROWS(1) MF_ROWS(2) MF_ROWS(3) MF_ROWS(4) MF_ROWS(5) MF_ROWS(6)
#undef MF_ROWS
      default: break;
    }
  }, 1);
  return bad.load() ? 0 : 1;
}

py::array_t<std::uint32_t> philox_words(std::uint64_t seed, std::uint64_t offset, py::ssize_t n) {
  py::array_t<std::uint32_t> out(n);
  std::uint32_t* p = out.mutable_data();
  for (py::ssize_t i = 0; i < n; ++i) p[i] = mf::philox_word(seed, offset + std::uint64_t(i));
  return out;
}

}  // namespace

void bind_fixed_lns(py::module_& m);  // bind_fixed_lns.cpp
void bind_block(py::module_& m);      // bind_block.cpp

// The module name is a compile definition: the same sources are built once per ISA level as
// minifloat._core_<level> (CMakeLists.txt); minifloat/_core.py picks one at import.
#ifndef MF_MODULE_NAME
#define MF_MODULE_NAME _core
#endif
#ifndef MF_ISA_LEVEL
#define MF_ISA_LEVEL "unknown"
#endif
#ifndef MF_ISA_FLAGS
#define MF_ISA_FLAGS ""
#endif

PYBIND11_MODULE(MF_MODULE_NAME, m) {
  bind_fixed_lns(m);
  bind_block(m);
  m.doc() = "minifloat C++ core: loops over NumPy arrays calling the header-only kernels";
  m.def("encode", &encode, py::arg("x"), py::arg("spec"), py::arg("mode"), py::arg("sat"),
        py::arg("n"), py::arg("flush"), py::arg("rsrc"), py::arg("seed"), py::arg("offset"),
        py::arg("random"), py::arg("out"));
  m.def("arith", &arith, py::arg("op"), py::arg("a"), py::arg("sa"), py::arg("b"), py::arg("sb"),
        py::arg("c"), py::arg("sc"), py::arg("so"), py::arg("mode"), py::arg("sat"), py::arg("n"),
        py::arg("flush"), py::arg("rsrc"), py::arg("seed"), py::arg("offset"), py::arg("random"),
        py::arg("out"));
  m.def("contract", &contract, py::arg("A"), py::arg("sa"), py::arg("B"), py::arg("sb"),
        py::arg("M"), py::arg("K"), py::arg("N"), py::arg("acc"), py::arg("sacc"), py::arg("so"),
        py::arg("mode"), py::arg("sat"), py::arg("n"), py::arg("flush"), py::arg("pairwise"),
        py::arg("block"), py::arg("rsrc"), py::arg("seed"), py::arg("offset"), py::arg("e0"),
        py::arg("limbs"), py::arg("out"));
  m.def("gather2", &gather2, py::arg("a"), py::arg("b"), py::arg("table"), py::arg("nb"),
        py::arg("out"));
  m.def("matmul_f32_codes", &matmul_f32_codes, py::arg("A"), py::arg("ta"), py::arg("B"),
        py::arg("tb"), py::arg("M"), py::arg("K"), py::arg("N"), py::arg("so"), py::arg("mode"),
        py::arg("sat"), py::arg("n"), py::arg("flush"), py::arg("rsrc"), py::arg("seed"),
        py::arg("offset"), py::arg("out"));
  m.def("matmul_f32_seq", &matmul_f32_seq, py::arg("A"), py::arg("B"), py::arg("C"), py::arg("M"),
        py::arg("K"), py::arg("N"));
  m.def("accumulate_format_seq", &accumulate_format_seq, py::arg("A"), py::arg("B"),
        py::arg("sacc"), py::arg("acc_table"), py::arg("mode"), py::arg("sat"), py::arg("flush"),
        py::arg("M"), py::arg("K"), py::arg("N"), py::arg("S"));
  m.def("decode", &decode, py::arg("codes"), py::arg("table"), py::arg("out"));
  m.def("decode_table", &decode_table, py::arg("spec"));
  m.def("derive", &derive, py::arg("spec"));
  m.def("philox_words", &philox_words, py::arg("seed"), py::arg("offset"), py::arg("n"));
  m.def("set_num_threads", [](int n) { mfcpu::thread_setting() = n; });
  m.def("get_num_threads", [] { return mfcpu::thread_setting(); });
  m.attr("ISA_LEVEL") = MF_ISA_LEVEL;
  m.attr("ISA_FLAGS") = MF_ISA_FLAGS;
  // What the compiler targeted (its predefined macros), to check the flags took effect.
  m.attr("ISA_TARGET") = ""
#if defined(__AVX512F__)
                         "avx512f "
#endif
#if defined(__AVX512BW__)
                         "avx512bw "
#endif
#if defined(__AVX2__)
                         "avx2 "
#endif
#if defined(__FMA__)
                         "fma "
#endif
#if defined(__SSE2__)
                         "sse2 "
#endif
#if defined(__ARM_NEON)
                         "neon "
#endif
#if defined(__ARM_FEATURE_SVE)
                         "sve "
#endif
      ;
}
