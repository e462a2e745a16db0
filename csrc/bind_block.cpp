// pybind11 bindings of block-scaled encode/decode (include/minifloat/block.h): loops over
// NumPy arrays in the canonical layout (outer, n0, mid, n1, inner) where blocks are k0 x k1
// tiles of the (n0, n1) axes (1-D blocks: n0 = k0 = 1).  The scale array has the layout
// (outer, nb0, mid, nb1, inner).  No bit decision of its own lives here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "minifloat/block.h"
#include "minifloat/block_dot.h"
#include "minifloat/project_f32.h"
#include "minifloat/random.h"
#include "gemm_f32.h"
#include "parallel.h"

namespace py = pybind11;

namespace {

struct Layout {
  std::size_t outer, n0, mid, n1, inner, k0, k1, nb0, nb1;
  std::size_t groups() const { return outer * nb0 * mid * nb1; }
};

Layout layout_from(const py::tuple& t) {
  if (t.size() != 7) throw std::invalid_argument("internal: layout must have 7 fields");
  Layout L;
  L.outer = t[0].cast<std::size_t>();
  L.n0 = t[1].cast<std::size_t>();
  L.mid = t[2].cast<std::size_t>();
  L.n1 = t[3].cast<std::size_t>();
  L.inner = t[4].cast<std::size_t>();
  L.k0 = t[5].cast<std::size_t>();
  L.k1 = t[6].cast<std::size_t>();
  if (L.k0 == 0 || L.k1 == 0) throw std::invalid_argument("internal: block size 0");
  L.nb0 = (L.n0 + L.k0 - 1) / L.k0;
  L.nb1 = (L.n1 + L.k1 - 1) / L.k1;
  return L;
}

mf::FloatSpec float_spec(const py::tuple& t) {
  if (t.size() != 8) throw std::invalid_argument("internal: float format tuple must have 8 fields");
  return mf::make_float_spec(t[0].cast<int>(), t[1].cast<int>(), t[2].cast<int>(),
                             t[3].cast<int>(), t[4].cast<int>(), t[5].cast<int>(),
                             t[6].cast<int>(), t[7].cast<int>());
}

// bspec = (elem_kind, elem tuple, scale tuple, rule, emax_e, prec_e, elem_max, pmin, pmax, T)
mf::BlockSpec block_spec(const py::tuple& t) {
  if (t.size() != 10) throw std::invalid_argument("internal: block spec must have 10 fields");
  mf::BlockSpec b{};
  b.elem_kind = t[0].cast<int>();
  const py::tuple e = t[1].cast<py::tuple>();
  if (b.elem_kind == 0) {
    b.ef = float_spec(e);
  } else {
    if (e.size() != 3) throw std::invalid_argument("internal: fixed format tuple");
    b.ex = mf::make_fixed_spec(e[0].cast<int>(), e[1].cast<int>(), e[2].cast<int>());
  }
  b.sf = float_spec(t[2].cast<py::tuple>());
  b.rule = t[3].cast<int>();
  b.emax_e = t[4].cast<int>();
  b.prec_e = t[5].cast<int>();
  b.elem_max = t[6].cast<double>();
  b.pmin = t[7].cast<int>();
  b.pmax = t[8].cast<int>();
  b.tensor = t[9].cast<double>();
  mf::finish_block_spec(b);
  return b;
}

// Magnitude bits of an input element (float order == unsigned order of the magnitude bits).
template <class In> struct MagBits;
template <> struct MagBits<float> {
  using U = std::uint32_t;
  static constexpr U kInf = 0x7F800000u;
  static U of(float v) { return mf::bits_of(v) & 0x7FFFFFFFu; }
  static double value(U u) { return double(mf::float_of(u)); }
};
template <> struct MagBits<double> {
  using U = std::uint64_t;
  static constexpr U kInf = 0x7FF0000000000000ull;
  static U of(double v) { return mf::bits_of(v) & 0x7FFFFFFFFFFFFFFFull; }
  static double value(U u) { return mf::double_of(u); }
};

template <class In> mf::Parts<std::uint64_t> parts_in(In v) {
  if constexpr (std::is_same_v<In, float>) return mf::parts_of_float<std::uint64_t, false>(v);
  else return mf::parts_of(v);
}

// The (j0, j1 range) spans of group g: for each j0 of the tile, the contiguous run
// x[start .. start + len) covers (j1, t) for j1 in the tile's columns and every t.
struct Group {
  std::size_t o, B0, m, B1, j0a, j0b, j1a, j1b;
};
Group group_of(const Layout& L, std::size_t g) {
  Group G;
  G.B1 = g % L.nb1;
  std::size_t r = g / L.nb1;
  G.m = r % L.mid;
  r /= L.mid;
  G.B0 = r % L.nb0;
  G.o = r / L.nb0;
  G.j0a = G.B0 * L.k0;
  G.j0b = std::min(L.n0, G.j0a + L.k0);
  G.j1a = G.B1 * L.k1;
  G.j1b = std::min(L.n1, G.j1a + L.k1);
  return G;
}
// The group after G (g + 1), without the divisions of group_of.
void next_group(const Layout& L, Group& G) {
  if (++G.B1 == L.nb1) {
    G.B1 = 0;
    if (++G.m == L.mid) {
      G.m = 0;
      if (++G.B0 == L.nb0) {
        G.B0 = 0;
        ++G.o;
      }
    }
  }
  G.j0a = G.B0 * L.k0;
  G.j0b = std::min(L.n0, G.j0a + L.k0);
  G.j1a = G.B1 * L.k1;
  G.j1b = std::min(L.n1, G.j1a + L.k1);
}

std::size_t span_start(const Layout& L, const Group& G, std::size_t j0) {
  return (((G.o * L.n0 + j0) * L.mid + G.m) * L.n1 + G.j1a) * L.inner;
}
std::size_t scale_index(const Layout& L, const Group& G) {
  return (((G.o * L.nb0 + G.B0) * L.mid + G.m) * L.nb1 + G.B1) * L.inner;
}

constexpr std::size_t kWords = 1024;
// Blocks (per thread and call) from which encode_rows_f32_rne builds its AmaxMemo.
constexpr std::size_t kAmaxMemoBlocks = 16384;

// The random values R of the `len` elements from flat index `start`: Philox words at stream
// positions offset + start .. (top n bits) into `words`, or the caller's explicit array.
inline const std::uint32_t* span_random(int rsrc, int n, std::uint64_t seed,
                                        std::uint64_t offset, std::size_t start,
                                        std::size_t len, const std::uint32_t* rnd,
                                        std::uint32_t* words) {
  if (rsrc != 1) return rnd + start;
  mf::philox_fill(seed, offset + start, len, words);
  for (std::size_t i = 0; i < len; ++i) words[i] = mf::top_bits(words[i], n);
  return words;
}

// One block's run of float32 elements on the float32 path (project_f32.h): x / 2^E in the
// element format F is x in F with bias - E (its values times 2^E), so the block's scale is
// folded into the path's constants and the loop is project_f32's, vectorised.  The plan
// (special codes) does not depend on the bias.
// kQuot: d is not a power of two; each element goes through block.h's quotient proxy.
template <int MODE, bool kAll, bool kQuot, class Out>
void f32_span(const float* xs, Out* cs, std::size_t len, const mf::FloatSpec& fs,
              const mf::Plan& plan, int n, const std::uint32_t* R, double d) {
  const mf::F32Consts c = mf::make_f32_consts(fs);
  alignas(64) std::uint32_t tmp[kWords];
  for (std::size_t i = 0; i < len; ++i) {
    std::uint32_t r = 0;
    if constexpr (mf::is_stochastic(MODE)) r = R[i];
    std::uint32_t u = mf::bits_of(xs[i]);
    if constexpr (kQuot) u = mf::quotient_f32_bits(u, d);
    tmp[i] = mf::project_f32<MODE, kAll>(fs, plan, c, n, u, r);
  }
  for (std::size_t i = 0; i < len; ++i) cs[i] = static_cast<Out>(tmp[i]);
}

// The float32 path over `len` lanes, each with its block's constants: with `quot` every lane
// through block.h's quotient proxy by dD[i] (a power-of-two d is an exact quotient there
// too), else a power-of-two d = 2^dE[i] folded into the bias (emin and base move by dE[i]).
template <int MODE, bool kAll>
void f32_lanes(const float* xs, std::uint32_t* tmp, std::size_t len, const mf::FloatSpec& f,
               const mf::Plan& plan, const mf::F32Consts& c0, int n, const std::uint32_t* R,
               bool quot, const std::uint32_t* dE, const std::uint32_t* dB, const double* dD) {
  if (quot) {
    for (std::size_t i = 0; i < len; ++i) {
      std::uint32_t rv = 0;
      if constexpr (mf::is_stochastic(MODE)) rv = R[i];
      const std::uint32_t uq = mf::quotient_f32_bits(mf::bits_of(xs[i]), dD[i]);
      tmp[i] = mf::project_f32<MODE, kAll>(f, plan, c0, n, uq, rv);
    }
  } else {
    for (std::size_t i = 0; i < len; ++i) {
      mf::F32Consts ci = c0;
      ci.emin127 += std::int32_t(dE[i]);
      ci.base += dB[i];
      std::uint32_t rv = 0;
      if constexpr (mf::is_stochastic(MODE)) rv = R[i];
      tmp[i] = mf::project_f32<MODE, kAll>(f, plan, ci, n, mf::bits_of(xs[i]), rv);
    }
  }
}

// A block's lane constants for f32_lanes: with `quot` the divisor d (1 for a NaN scale),
// else the bias shift e (0 when the block is not `fast`, i.e. redone on the generic path).
// Returns whether f32_lanes' result stands for the block's lanes.
bool lane_consts(const mf::BlockScale& s, bool quot, bool fast, std::uint32_t& e, double& d) {
  if (quot) {
    d = s.is_nan ? 1.0 : s.pow2 ? mf::pow2(s.E) : s.D * mf::pow2(s.De);
    e = 0;
    return !s.is_nan;
  }
  e = fast ? std::uint32_t(s.E) : 0u;
  d = 1.0;
  return fast;
}

// Whether a block with a power-of-two d = 2^E can take the float32 path with E folded into
// the element format's bias (the shifted format must still be one project_f32 handles).
template <int MODE>
bool pow2_fast(const mf::FloatSpec& f, const mf::BlockScale& s, int n) {
  mf::FloatSpec fs = f;
  fs.bias -= s.E;
  fs.emin += s.E;
  return s.pow2 && !s.is_nan && mf::f32_path_ok(fs, MODE, n);
}

// One element's code on the generic path (block.h), 0 under a NaN scale; a float element
// format without the code it needs (NO_CODE) sets `acc`.
template <int MODE, class In>
std::uint32_t generic_code(const mf::BlockSpec& b, const mf::Plan& plan, const mf::BlockScale& s,
                           int sat, int n, In v, std::uint32_t rv, std::uint32_t& acc) {
  if (s.is_nan) return 0;
  const std::uint32_t c = mf::block_element_code(b, plan, s, MODE, sat, n, parts_in(v), rv);
  acc |= std::uint32_t(b.elem_kind == 0 && c == mf::NO_CODE);
  return c;
}

// Codes computed as uint32 to the output's width (restrict: a byte store may otherwise alias
// anything, and GCC then keeps this loop scalar; inlined, it lost the restrict and was
// scalar again).
template <class Out>
__attribute__((noinline)) void narrow(const std::uint32_t* __restrict in, Out* __restrict out,
                                      std::size_t len) {
  for (std::size_t i = 0; i < len; ++i) out[i] = static_cast<Out>(in[i]);
}

// project_f32_rne over one block's elements; kQuot: through the quotient proxy by d.  The
// format, plan and constants come by value: the loop then vectorises (references to them
// made GCC keep it scalar).
template <bool kInf, bool kQuot>
inline __attribute__((always_inline)) void rne_span(const float* xs, std::uint32_t* out,
                                                    std::size_t len, const mf::FloatSpec f,
                                                    const mf::Plan plan, const mf::F32Consts c,
                                                    double d) {
  for (std::size_t i = 0; i < len; ++i) {
    std::uint32_t u = mf::bits_of(xs[i]);
    if constexpr (kQuot) u = mf::quotient_f32_bits(u, d);
    out[i] = mf::project_f32_rne<kInf>(f, plan, c, u);
  }
}

// The largest finite magnitude of xs[0 .. len) (as bits) and the largest of all (NaN/Inf
// flags), folded into a and all; branch-free (masks, not ?:) so that GCC vectorises the two
// reductions.
template <class In, class U = typename MagBits<In>::U>
inline __attribute__((always_inline)) void block_amax(const In* xs, std::size_t len, U& a,
                                                      U& all) {
  using MB = MagBits<In>;
  U am = a, al = all;
  for (std::size_t i = 0; i < len; ++i) {
    const U u = MB::of(xs[i]);
    const U fin = u & (U(0) - U(u < MB::kInf));
    al = al > u ? al : u;
    am = am > fin ? am : fin;
  }
  a = am;
  all = al;
}

// The largest magnitude of xs[0 .. len) (as bits, NaN and Inf included): block_amax's `all`
// alone, the one reduction a block without NaN or Inf needs (there a == all).  K > 0: the
// block length, known at compile time (len == K), which lets GCC unroll the loop.
template <std::size_t K = 0>
inline __attribute__((always_inline)) std::uint32_t block_magmax(const float* xs,
                                                                 std::size_t len) {
  const std::size_t n = K ? K : len;
  std::uint32_t al = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t u = MagBits<float>::of(xs[i]);
    al = al > u ? al : u;
  }
  return al;
}

// project_f32_rne of xs[i] * fac[i] over a run: fac[i] = 2^-E of element i's block, so that
// the product is x / d exactly (see encode_rows_f32_rne) and every block takes the element
// format's own constants, in one loop over the whole run.
template <bool kInf>
__attribute__((noinline)) void rne_scaled(const float* __restrict xs,
                                          const float* __restrict fac,
                                          std::uint32_t* __restrict out, std::size_t len,
                                          const mf::FloatSpec f, const mf::Plan plan,
                                          const mf::F32Consts c) {
  for (std::size_t i = 0; i < len; ++i)
    out[i] = mf::project_f32_rne<kInf>(f, plan, c, mf::bits_of(xs[i] * fac[i]));
}

// project_f32_rne of block.h's quotient proxy of xs[i] by d[i] (the divisor of element i's
// block) over a run: every block with a non-power-of-two d in one loop.
template <bool kInf>
__attribute__((noinline)) void rne_quot(const float* __restrict xs, const double* __restrict d,
                                        std::uint32_t* __restrict out, std::size_t len,
                                        const mf::FloatSpec f, const mf::Plan plan,
                                        const mf::F32Consts c) {
  for (std::size_t i = 0; i < len; ++i)
    out[i] = mf::project_f32_rne<kInf>(f, plan, c, mf::quotient_f32_bits(mf::bits_of(xs[i]),
                                                                         d[i]));
}

// Nearest-even rounding of x / d into a 4-bit element format (magnitudes v_0 < ... < v_7,
// E2M1's 0, 0.5, ..., 6) by comparisons instead of a division: with the boundaries
// b_j = (v_j + v_{j+1}) / 2, |x| / d rounds to magnitude index k = the number of j with
// |x| > b_j d, a tie |x| = b_j d going to the even index (j + 1 for odd j), and saturates at
// v_7.  Each b_j d is an exact binary64 product (checked when the table is built), and |x| is
// exact in binary64, so every comparison is exact.  t: the 7 products of the block's d.
template <std::size_t K>
inline __attribute__((always_inline)) void fp4_block(const float* __restrict xs,
                                                     std::uint32_t* __restrict out,
                                                     std::size_t len, const double* t,
                                                     std::uint32_t sign_bit,
                                                     std::uint32_t neg_zero) {
  const std::size_t n = K ? K : len;
  const double t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3], t4 = t[4], t5 = t[5], t6 = t[6];
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t u = mf::bits_of(xs[i]);
    const double a = double(mf::float_of(u & 0x7FFFFFFFu));
    const std::uint32_t k = std::uint32_t(a > t0) + std::uint32_t(a >= t1) +
                            std::uint32_t(a > t2) + std::uint32_t(a >= t3) +
                            std::uint32_t(a > t4) + std::uint32_t(a >= t5) +
                            std::uint32_t(a > t6);
    const std::uint32_t neg = (u >> 31) & std::uint32_t((k != 0u) | neg_zero);
    out[i] = k | (sign_bit & (0u - neg));
  }
}

// Whether fp4_block gives project_f32_rne's codes for the element format f: f has 4 bits,
// a sign and magnitude indices 0..7; fp4_block's rule with d = 1 matches project_f32_rne on
// every boundary, its neighbours, zeros, negative values and an overflow; and every product
// b_j d of the segments' divisors is exact.  Fills t (7 per segment).
bool fp4_ok(const mf::FloatSpec& f, const mf::Plan& plan, const std::vector<double>& d,
            std::vector<double>& t) {
  if (f.bits != 4 || !f.is_signed || f.kmax != 7 || f.has_inf || f.has_nan || !f.has_zero)
    return false;
  double b[7];
  for (int j = 0; j < 7; ++j)
    b[j] = (mf::decode_double(f, std::uint32_t(j)) + mf::decode_double(f, std::uint32_t(j + 1))) / 2;
  const mf::F32Consts c = mf::make_f32_consts(f);
  const std::uint32_t neg_zero = std::uint32_t(f.negative_zero != 0);
  std::vector<float> probe = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e30f, -1e30f, 3.4e38f};
  for (double bj : b) {
    const float v = float(bj);
    if (double(v) != bj) return false;
    for (float w : {std::nextafter(v, 0.0f), v, std::nextafter(v, 1e30f)}) {
      probe.push_back(w);
      probe.push_back(-w);
    }
  }
  for (float v : probe) {
    std::uint32_t got;
    fp4_block<1>(&v, &got, 1, b, f.sign_bit, neg_zero);
    if (got != mf::project_f32_rne<false>(f, plan, c, mf::bits_of(v))) return false;
  }
  t.clear();
  for (double dj : d)
    for (double bj : b) {
      const double p = bj * dj;
      if (!(std::fma(bj, dj, -p) == 0.0) || !(p > 0.0) || !std::isfinite(p)) return false;
      t.push_back(p);
    }
  return true;
}

// The scale of a block under RULE_AMAX (s = RN(A / (max * T)) in the scale format,
// saturating; the smallest positive scale for a zero one) as a function of its finite float32
// amax bits a: a step function that never decreases (a rounding of a quotient by a positive
// constant), so the finite range [0, 0x7F7FFFFF] splits into at most as many segments as
// the scale format has positive codes.  Each segment's first a is found by bisection with
// block_scale itself (the definition stays in block.h), and a table over a's top 16 bits
// (exponent and 7 fraction bits) gives the segment to start from, so a block's scale costs a
// load and a compare or two.  Built only for scale formats of at most 255 such segments
// (8-bit scales: E4M3, UE4M3), where building (about 31 block_scale calls per segment) pays
// off from a few ten thousand blocks on.
struct AmaxMemo {
  std::vector<std::uint32_t> lo;   // segment j: amax bits in [lo[j], lo[j + 1])
  std::vector<mf::BlockScale> s;   // its scale
  std::vector<double> d;           // its divisor d = s * T
  std::vector<std::uint8_t> first;  // the segment holding amax bits h << 16
  bool ok = false;
  // 4-bit elements (magnitude indices 0..7, E2M1): the 7 rounding boundaries of the element
  // format times segment j's d, t[7 j .. 7 j + 7), all exact products (see fp4_block).
  std::vector<double> t;
  bool fp4 = false;

  std::size_t find(std::uint32_t a) const {
    std::size_t j = first[a >> 16];
    while (j + 1 < lo.size() && lo[j + 1] <= a) ++j;
    return j;
  }
};

AmaxMemo amax_memo(const mf::BlockSpec& b, const mf::Plan& plan) {
  constexpr std::uint32_t kTop = 0x7F7FFFFFu;  // FLT_MAX
  auto scale = [&](std::uint32_t a) {
    return mf::block_scale(b, double(mf::float_of(a)), 0u, 0u, b.scale_f32 ? a : mf::NO_CODE);
  };
  AmaxMemo m;
  const std::uint32_t top_code = scale(kTop).code;
  std::uint32_t a = 0;
  mf::BlockScale s = scale(0);
  for (;;) {
    if (m.lo.size() == 255 || s.is_nan || (!m.s.empty() && s.code <= m.s.back().code))
      return AmaxMemo{};  // too many segments, or not the step function assumed
    m.lo.push_back(a);
    m.s.push_back(s);
    m.d.push_back(s.pow2 ? mf::pow2(s.E) : s.D * mf::pow2(s.De));
    if (s.code == top_code) break;
    std::uint32_t l = a, h = kTop;  // scale(l) is s, scale(h) is not
    while (h - l > 1) {
      const std::uint32_t mid = l + (h - l) / 2;
      (scale(mid).code == s.code ? l : h) = mid;
    }
    a = h;
    s = scale(h);
  }
  m.fp4 = fp4_ok(b.ef, plan, m.d, m.t);
  m.first.resize((kTop >> 16) + 1);
  std::size_t j = 0;
  for (std::uint32_t h = 0; h < m.first.size(); ++h) {
    while (j + 1 < m.lo.size() && m.lo[j + 1] <= h << 16) ++j;
    m.first[h] = std::uint8_t(j);
  }
  m.ok = true;
  return m;
}

// A run of consecutive blocks of one row (1-D blocks along the last axis, n0 == 1): nrun
// blocks from group g (at most per_run, not past ge), their elements x[start .. start + len)
// and their first scale index si.  run_of also prefetches the run's input 8 KiB ahead, as
// the elementwise float32 loops do (parallel.h).
struct Run {
  std::size_t nrun, start, len, si;
};
template <class In>
Run run_of(const Layout& L, std::size_t g, std::size_t ge, std::size_t per_run, const In* x) {
  const Group G = group_of(L, g);
  const std::size_t k = L.k1;
  Run R;
  R.nrun = std::min({L.nb1 - G.B1, ge - g, per_run});
  R.start = span_start(L, G, 0);  // n0 == 1: j0 == 0
  R.len = std::min(L.n1, (G.B1 + R.nrun) * k) - G.B1 * k;
  R.si = scale_index(L, G);
  const In* xs = x + R.start;
  for (std::size_t i = 0; i < R.len; i += 256)
    mfcpu::prefetch_ahead(xs + i, std::min<std::size_t>(256, R.len - i),
                          (ge - g) * k > i ? (ge - g) * k - i : 0);
  return R;
}

// encode_rows_f32 for nearest-even calls that project_f32_rne covers (f32_rne_ok for the
// element format, f32_fpu_ok in this thread).  A block with a power-of-two d = 2^E is
// "scaled": its elements are multiplied by 2^-E in float32, which is exact wherever the
// product is a normal float32 or zero (2^-E itself normal, no overflow: checked per block
// from its amax), and where it is not (|x / d| < 2^-126, the product rounded or flushed)
// both x / d and the product round to zero with x's sign, because the element format's
// quantum there is 2^(emin - m) >= 2^-125 (scaled_ok).  The scaled blocks of a run then go
// through ONE loop with the element format's own constants (rne_scaled).  The other blocks
// are done after it, each in one loop with its constants: a power-of-two d = 2^E folded into
// the bias, else every element through block.h's quotient proxy; blocks neither covers (NaN
// scale, a shifted range project_f32_rne does not cover, a quotient outside quotient_f32_ok)
// go element by element through the generic path.  K > 0: the block length (L.k1 == K) at
// compile time, for the per-block reduction and factor fill; a last partial block takes
// their K = 0 loops.
template <bool kInf, std::size_t K, class Out>
std::uint32_t encode_rows_f32_rne(const float* x, Out* codes, std::uint32_t* scodes,
                                  const Layout& L, const mf::BlockSpec& b,
                                  const mf::Plan& plan_in, int sat, std::size_t gb,
                                  std::size_t ge) {
  using MB = MagBits<float>;
  const mf::FloatSpec f = b.ef;
  const mf::Plan plan = plan_in;
  const mf::F32Consts c0 = mf::make_f32_consts(f);
  const std::size_t k = L.k1, per_run = std::max<std::size_t>(1, kWords / k);
  const bool quot_ok = mf::quotient_f32_ok(f, mf::NEAREST_EVEN, 0);
  const bool scaled_ok = f.emin - f.man_bits >= -125;
  // The exponents E whose shifted format project_f32_rne covers.
  std::int32_t e_lo, e_hi;
  mf::f32_rne_shifts(f, e_lo, e_hi);
  // Under the floor rule without a tensor scale, block_scale(A) depends on A only through
  // floor(log2 A) (block.h: E = floor(log2 A) - emax_e, then clamped): the scale of every
  // normal float32 amax is that of the power of two of its binade, memoised here per
  // exponent field from block_scale itself.  Zero and subnormal amax, NaN and Inf go to
  // block_scale directly.  Worth it from a few hundred blocks on.
  const bool memo = b.rule == mf::RULE_FLOOR && b.tensor == 1.0 && ge - gb >= 512;
  // A block's scaled-path test (see above) from its scale and its amax exponent field be,
  // and its factor 2^-E (a normal float32 when the test holds).
  auto scaled_by = [&](const mf::BlockScale& s, std::int32_t be) {
    return scaled_ok && !s.is_nan && s.pow2 && s.E >= -127 && s.E <= 126 &&
           be - 127 - s.E <= 127;
  };
  auto factor = [](const mf::BlockScale& s) {
    return mf::float_of(std::uint32_t(127 - s.E) << 23);
  };
  // RULE_AMAX (NVFP4): a block's scale from its amax through AmaxMemo, and every block with
  // a finite amax through the quotient proxy in one loop over the run (rne_quot).
  const AmaxMemo amemo = b.rule == mf::RULE_AMAX && b.scale_f32 && quot_ok &&
                                 ge - gb >= kAmaxMemoBlocks
                             ? amax_memo(b, plan)
                             : AmaxMemo{};
  const std::uint32_t neg_zero = std::uint32_t(f.negative_zero != 0);
  std::vector<mf::BlockScale> by_exp(memo ? 255 : 0);
  // by_exp's scale codes, and the factors 2^-E of the scaled ones (0: not scaled)
  std::vector<std::uint32_t> memo_code(by_exp.size());
  std::vector<float> memo_fac(by_exp.size());
  for (std::size_t be = 1; be < by_exp.size(); ++be) {
    by_exp[be] = mf::block_scale(b, mf::pow2(std::int32_t(be) - 127), 0u, 0u,
                                 b.scale_f32 ? std::uint32_t(be) << 23 : mf::NO_CODE);
    memo_code[be] = by_exp[be].code;
    memo_fac[be] = scaled_by(by_exp[be], std::int32_t(be)) ? factor(by_exp[be]) : 0.0f;
  }
  alignas(64) std::uint32_t tmp[kWords];
  alignas(64) float fac[kWords];
  alignas(64) double dq[kWords];
  std::vector<mf::BlockScale> sc(per_run);
  std::vector<std::uint8_t> done(per_run);  // the block's lanes come from a run-wide loop
  std::uint32_t acc = 0;
  for (std::size_t g = gb; g < ge;) {
    const auto [nrun, start, len, si] = run_of(L, g, ge, per_run, x);
    const float* xs = x + start;
    bool all_done = true, any_scaled = false, any_quot = false;
    for (std::size_t r = 0; r < nrun; ++r) {
      const std::size_t i0 = r * k, i1 = std::min(len, i0 + k);
      const bool whole = K != 0 && i1 - i0 == K;
      std::uint32_t all = whole ? block_magmax<K>(xs + i0, K) : block_magmax(xs + i0, i1 - i0);
      std::uint32_t a = all;
      if (all >= MB::kInf) {
        a = all = 0;
        block_amax<float>(xs + i0, i1 - i0, a, all);
      }
      if (amemo.ok && all < MB::kInf) {
        const std::size_t j = amemo.find(a);
        scodes[si + r] = amemo.s[j].code;
        done[r] = 1;
        if (!kInf && amemo.fp4) {  // a 4-bit element format: the codes here, by comparisons
          if (whole) fp4_block<K>(xs + i0, tmp + i0, K, &amemo.t[7 * j], f.sign_bit, neg_zero);
          else fp4_block<0>(xs + i0, tmp + i0, i1 - i0, &amemo.t[7 * j], f.sign_bit, neg_zero);
          continue;
        }
        if (whole) std::fill_n(dq + i0, K, amemo.d[j]);
        else std::fill(dq + i0, dq + i1, amemo.d[j]);
        any_quot = true;
        continue;
      }
      if (amemo.ok) std::fill(dq + i0, dq + i1, 1.0);  // lanes redone below
      const std::int32_t be = std::int32_t(a >> 23);
      float fr;
      if (memo && all < MB::kInf && be >= 1 && memo_fac[std::size_t(be)] != 0.0f) {
        // the common case in a few loads: a memoised scale on the scaled path
        acc |= std::uint32_t(memo_code[std::size_t(be)] == mf::NO_CODE);
        scodes[si + r] = memo_code[std::size_t(be)];
        fr = memo_fac[std::size_t(be)];
        done[r] = 1;
        any_scaled = true;
      } else {
        const mf::BlockScale s =
            memo && all < MB::kInf && be >= 1
                ? by_exp[std::size_t(be)]
                : mf::block_scale(b, MB::value(a), std::uint32_t(all > MB::kInf),
                                  std::uint32_t(all == MB::kInf), b.scale_f32 ? a : mf::NO_CODE);
        acc |= std::uint32_t(s.code == mf::NO_CODE);
        scodes[si + r] = s.code;
        sc[r] = s;
        // with amemo, no block is scaled: rne_quot's lanes and rne_scaled's never mix
        const bool sr = !amemo.ok && scaled_by(s, be);
        done[r] = std::uint8_t(sr);
        all_done &= sr;
        any_scaled |= sr;
        fr = sr ? factor(s) : 1.0f;
      }
      if (whole) std::fill_n(fac + i0, K, fr);
      else std::fill(fac + i0, fac + i1, fr);
    }
    if (any_scaled) rne_scaled<kInf>(xs, fac, tmp, len, f, plan, c0);
    if (any_quot) rne_quot<kInf>(xs, dq, tmp, len, f, plan, c0);
    for (std::size_t r = 0; r < nrun && !all_done; ++r) {
      if (done[r]) continue;
      const std::size_t i0 = r * k, i1 = std::min(len, i0 + k);
      const mf::BlockScale& s = sc[r];
      if (!s.is_nan && s.pow2 && s.E >= e_lo && s.E <= e_hi) {
        mf::F32Consts ci = c0;
        ci.emin127 += s.E;
        ci.base += std::uint32_t(s.E) << f.man_bits;
        rne_span<kInf, false>(xs + i0, tmp + i0, i1 - i0, f, plan, ci, 1.0);
      } else if (!s.is_nan && !s.pow2 && quot_ok) {
        const double d = s.D * mf::pow2(s.De);  // exact: D < 2^53, d in double's range
        rne_span<kInf, true>(xs + i0, tmp + i0, i1 - i0, f, plan, c0, d);
      } else {
        for (std::size_t i = i0; i < i1; ++i)
          tmp[i] = generic_code<mf::NEAREST_EVEN>(b, plan, s, sat, 0, xs[i], 0u, acc);
      }
    }
    narrow(tmp, codes + start, len);
    g += nrun;
  }
  return acc;
}

// 1-D blocks along the last axis of float32 input with float elements: runs of up to
// kWords elements (consecutive blocks of one row) at a time.  Pass 1 takes each block's amax
// and scale; pass 2 is ONE vectorised loop over the run on the float32 path, each lane with
// its block's constants (a power-of-two d = 2^E folded into the bias: the path's emin and base
// move by E); blocks the path cannot take (NaN scale, a non-power-of-two d, a shifted range
// outside float32's) are redone element by element on the generic path.
template <int MODE, bool kAll, class Out>
std::uint32_t encode_rows_f32(const float* x, Out* codes, std::uint32_t* scodes,
                              const Layout& L, const mf::BlockSpec& b, const mf::Plan& plan,
                              int sat, int n, int rsrc, std::uint64_t seed,
                              std::uint64_t offset, const std::uint32_t* rnd, std::size_t gb,
                              std::size_t ge) {
  if constexpr (MODE == mf::NEAREST_EVEN && !kAll) {
    if (mf::f32_rne_ok(b.ef, plan) && mf::f32_fpu_ok()) {
      const bool inf = mf::f32_rne_inf(plan);
#define MF_RNE_ROWS(KINF, KB) \
  encode_rows_f32_rne<KINF, KB>(x, codes, scodes, L, b, plan, sat, gb, ge)
      if (L.k1 == 32) return inf ? MF_RNE_ROWS(true, 32) : MF_RNE_ROWS(false, 32);
      if (L.k1 == 16) return inf ? MF_RNE_ROWS(true, 16) : MF_RNE_ROWS(false, 16);
      return inf ? MF_RNE_ROWS(true, 0) : MF_RNE_ROWS(false, 0);
#undef MF_RNE_ROWS
    }
  }
  using MB = MagBits<float>;
  const mf::FloatSpec& f = b.ef;
  const mf::F32Consts c0 = mf::make_f32_consts(f);
  const std::size_t k = L.k1, per_run = std::max<std::size_t>(1, kWords / k);
  alignas(64) std::uint32_t words[kWords], tmp[kWords], dE[kWords], dB[kWords];
  alignas(64) double dD[kWords];
  mf::BlockScale sc[kWords];
  const bool quot_ok = mf::quotient_f32_ok(f, MODE, n) && mf::f32_path_ok(f, MODE, n);
  std::uint32_t fast[kWords];
  std::uint32_t acc = 0;
  for (std::size_t g = gb; g < ge;) {
    const auto [nrun, start, len, si] = run_of(L, g, ge, per_run, x);
    const float* xs = x + start;
    bool any_quot = false;
    for (std::size_t r = 0; r < nrun; ++r) {
      const std::size_t i0 = r * k, i1 = std::min(len, i0 + k);
      std::uint32_t a = 0, all = 0;
      block_amax<float>(xs + i0, i1 - i0, a, all);
      sc[r] = mf::block_scale(b, MB::value(a), std::uint32_t(all > MB::kInf),
                              std::uint32_t(all == MB::kInf), b.scale_f32 ? a : mf::NO_CODE);
      acc |= std::uint32_t(sc[r].code == mf::NO_CODE);
      scodes[si + r] = sc[r].code;
      fast[r] = std::uint32_t(pow2_fast<MODE>(f, sc[r], n));
      any_quot |= !sc[r].pow2 && !sc[r].is_nan && quot_ok;
    }
    // A run with a non-power-of-two d: every lane through the quotient proxy (a power-of-two
    // d is an exact quotient there too); else every lane with its bias folded.
    for (std::size_t r = 0; r < nrun; ++r) {
      const std::size_t i0 = r * k, i1 = std::min(len, i0 + k);
      std::uint32_t e = 0;
      double d = 1.0;
      fast[r] = lane_consts(sc[r], any_quot, fast[r] != 0, e, d);
      if (any_quot) {
        std::fill(dD + i0, dD + i1, d);
      } else {
        std::fill(dE + i0, dE + i1, e);
        std::fill(dB + i0, dB + i1, e << f.man_bits);
      }
    }
    const std::uint32_t* R = words;
    if constexpr (mf::is_stochastic(MODE))
      R = span_random(rsrc, n, seed, offset, start, len, rnd, words);
    f32_lanes<MODE, kAll>(xs, tmp, len, f, plan, c0, n, R, any_quot, dE, dB, dD);
    for (std::size_t r = 0; r < nrun; ++r) {
      if (fast[r]) continue;
      const std::size_t i0 = r * k, i1 = std::min(len, i0 + k);
      for (std::size_t i = i0; i < i1; ++i) {
        std::uint32_t rv = 0;
        if constexpr (mf::is_stochastic(MODE)) rv = R[i];
        tmp[i] = generic_code<MODE>(b, plan, sc[r], sat, n, xs[i], rv, acc);
      }
    }
    narrow(tmp, codes + start, len);
    g += nrun;
  }
  return acc;
}

// Scratch of encode_inner_f32, allocated once per thread: each block's lane constants
// (tE, tB, tD, tfast, indexed by t) and their tiling over one chunk (cE, cB, cD, codes ctmp).
struct InnerScratch {
  std::vector<std::uint32_t> tE, tB, tfast, cE, cB, ctmp;
  std::vector<double> tD, cD;
  explicit InnerScratch(std::size_t inner)
      : tE(inner), tB(inner), tfast(inner), cE(inner ? kWords : 0), cB(inner ? kWords : 0),
        ctmp(inner ? kWords : 0), tD(inner), cD(inner ? kWords : 0) {}
};

// Group G of float32 input with float elements and blocks along an axis before the last
// (inner > 1: a block's elements are `inner` apart; its scales sc[0 .. inner) are known):
// the float32 path over each contiguous span of `len` elements in chunks of kWords, lane i
// with the constants of block t = i mod inner; lanes it cannot take are redone generically.
template <int MODE, class Out>
void encode_inner_f32(const float* x, Out* codes, const Layout& L, const Group& G,
                      std::size_t len, const mf::BlockSpec& b, const mf::Plan& plan, bool plain,
                      bool quot_ok, int sat, int n, int rsrc, std::uint64_t seed,
                      std::uint64_t offset, const std::uint32_t* rnd,
                      const std::vector<mf::BlockScale>& sc, InnerScratch& w,
                      std::uint32_t& acc) {
  const mf::F32Consts c0 = mf::make_f32_consts(b.ef);
  alignas(64) std::uint32_t words[kWords];
  bool any_quot = false;
  for (std::size_t t = 0; t < L.inner; ++t) {
    w.tfast[t] = std::uint32_t(pow2_fast<MODE>(b.ef, sc[t], n));
    any_quot |= !sc[t].pow2 && !sc[t].is_nan && quot_ok;
  }
  bool all_fast = true;
  for (std::size_t t = 0; t < L.inner; ++t) {
    w.tfast[t] = lane_consts(sc[t], any_quot, w.tfast[t] != 0, w.tE[t], w.tD[t]);
    w.tB[t] = w.tE[t] << b.ef.man_bits;
    all_fast &= w.tfast[t] != 0;
  }
  for (std::size_t j0 = G.j0a; j0 < G.j0b; ++j0) {
    const std::size_t start = span_start(L, G, j0);
    for (std::size_t i0 = 0; i0 < len; i0 += kWords) {
      const std::size_t m = std::min(kWords, len - i0);
      // tile the constants f32_lanes reads over the chunk (t runs i0 mod inner, ...)
      for (std::size_t i = 0, t = i0 % L.inner; i < m;) {
        const std::size_t q = std::min(L.inner - t, m - i);
        if (any_quot) {
          std::copy_n(&w.tD[t], q, &w.cD[i]);
        } else {
          std::copy_n(&w.tE[t], q, &w.cE[i]);
          std::copy_n(&w.tB[t], q, &w.cB[i]);
        }
        i += q;
        t = 0;
      }
      const std::uint32_t* R = words;
      if constexpr (mf::is_stochastic(MODE))
        R = span_random(rsrc, n, seed, offset, start + i0, m, rnd, words);
      const float* xs = x + start + i0;
      std::uint32_t* tmp = w.ctmp.data();
      if (plain)
        f32_lanes<MODE, false>(xs, tmp, m, b.ef, plan, c0, n, R, any_quot, w.cE.data(),
                               w.cB.data(), w.cD.data());
      else
        f32_lanes<MODE, true>(xs, tmp, m, b.ef, plan, c0, n, R, any_quot, w.cE.data(),
                              w.cB.data(), w.cD.data());
      if (!all_fast) {
        for (std::size_t i = 0, t = i0 % L.inner; i < m; ++i) {
          if (!w.tfast[t]) {
            std::uint32_t rv = 0;
            if constexpr (mf::is_stochastic(MODE)) rv = R[i];
            tmp[i] = generic_code<MODE>(b, plan, sc[t], sat, n, xs[i], rv, acc);
          }
          t = t + 1 == L.inner ? 0 : t + 1;
        }
      }
      narrow(tmp, codes + start + i0, m);
    }
  }
}

template <int MODE, class In, class Out>
bool encode_groups(const In* x, Out* codes, std::uint32_t* scodes, const Layout& L,
                   const mf::BlockSpec& bs, int sat, int n, int rsrc, std::uint64_t seed,
                   std::uint64_t offset, const std::uint32_t* rnd) {
  using MB = MagBits<In>;
  using U = typename MB::U;
  std::atomic<bool> bad{false};
  py::gil_scoped_release nogil;
  mfcpu::parallel_for(L.groups(), [&](std::size_t gb, std::size_t ge) {
    const mf::BlockSpec b = bs;
    mf::Plan plan{};
    if (b.elem_kind == 0) plan = mf::make_plan(b.ef, MODE, sat, 0);
    const bool plain = b.elem_kind == 0 && mf::plain_call(b.ef, plan);
    const bool quot_ok = b.elem_kind == 0 && mf::f32_path_ok(b.ef, MODE, n) &&
                         mf::quotient_f32_ok(b.ef, MODE, n);
    std::vector<U> amax(L.inner), maxall(L.inner);
    std::vector<mf::BlockScale> sc(L.inner);
    alignas(64) std::uint32_t words[kWords];
    InnerScratch inner(std::is_same_v<In, float> && L.inner > 1 ? L.inner : 0);
    std::uint32_t acc = 0;
    if constexpr (std::is_same_v<In, float>) {
      if (L.inner == 1 && L.n0 == 1 && b.elem_kind == 0 && L.k1 <= kWords) {
        acc = plain ? encode_rows_f32<MODE, false>(x, codes, scodes, L, b, plan, sat, n, rsrc,
                                                   seed, offset, rnd, gb, ge)
                    : encode_rows_f32<MODE, true>(x, codes, scodes, L, b, plan, sat, n, rsrc,
                                                  seed, offset, rnd, gb, ge);
        if (acc) bad.store(true, std::memory_order_relaxed);
        return;
      }
    }
    Group G = group_of(L, gb);
    for (std::size_t g = gb; g < ge; ++g, next_group(L, G)) {
      const std::size_t len = (G.j1b - G.j1a) * L.inner;
      // Pass 1: the largest finite magnitude of each block (as bits) and NaN/Inf flags.
      std::fill(amax.begin(), amax.end(), U(0));
      std::fill(maxall.begin(), maxall.end(), U(0));
      for (std::size_t j0 = G.j0a; j0 < G.j0b; ++j0) {
        const In* xs = x + span_start(L, G, j0);
        if (L.inner == 1) {
          block_amax<In>(xs, len, amax[0], maxall[0]);
        } else {
          for (std::size_t i = 0, t = 0; i < len; ++i) {
            const U u = MB::of(xs[i]);
            maxall[t] = std::max(maxall[t], u);
            amax[t] = std::max(amax[t], u < MB::kInf ? u : U(0));
            t = t + 1 == L.inner ? 0 : t + 1;
          }
        }
      }
      const std::size_t si = scale_index(L, G);
      for (std::size_t t = 0; t < L.inner; ++t) {
        sc[t] = mf::block_scale(b, MB::value(amax[t]), std::uint32_t(maxall[t] > MB::kInf),
                                std::uint32_t(maxall[t] == MB::kInf));
        acc |= std::uint32_t(sc[t].code == mf::NO_CODE);
        scodes[si + t] = sc[t].code;
      }
      // Pass 2: the element codes (position of element = its flat index).
      if constexpr (std::is_same_v<In, float>) {
        // Blocks along an axis before the last (inner > 1): the float32 path (encode_inner_f32).
        if (L.inner > 1 && b.elem_kind == 0) {
          encode_inner_f32<MODE>(x, codes, L, G, len, b, plan, plain, quot_ok, sat, n, rsrc,
                                 seed, offset, rnd, sc, inner, acc);
          continue;
        }
        // Blocks along the last axis with a power-of-two d: the float32 path.
        mf::FloatSpec fs = b.ef;
        const mf::BlockScale& s0 = sc[0];
        if (s0.pow2) {
          fs.bias -= s0.E;
          fs.emin += s0.E;
        }
        const double d = s0.D * mf::pow2(s0.De);  // exact: D < 2^53, d in double's range
        if (L.inner == 1 && b.elem_kind == 0 && !s0.is_nan && len <= kWords &&
            (s0.pow2 ? mf::f32_path_ok(fs, MODE, n) : quot_ok)) {
          for (std::size_t j0 = G.j0a; j0 < G.j0b; ++j0) {
            const std::size_t start = span_start(L, G, j0);
            const std::uint32_t* R = words;
            if constexpr (mf::is_stochastic(MODE))
              R = span_random(rsrc, n, seed, offset, start, len, rnd, words);
            if (s0.pow2) {
              if (plain) f32_span<MODE, false, false>(x + start, codes + start, len, fs, plan, n, R, d);
              else f32_span<MODE, true, false>(x + start, codes + start, len, fs, plan, n, R, d);
            } else {
              if (plain) f32_span<MODE, false, true>(x + start, codes + start, len, fs, plan, n, R, d);
              else f32_span<MODE, true, true>(x + start, codes + start, len, fs, plan, n, R, d);
            }
          }
          continue;
        }
      }
      for (std::size_t j0 = G.j0a; j0 < G.j0b; ++j0) {
        const std::size_t start = span_start(L, G, j0);
        const In* xs = x + start;
        Out* cs = codes + start;
        for (std::size_t i0 = 0; i0 < len; i0 += kWords) {
          const std::size_t i1 = std::min(len, i0 + kWords);
          if constexpr (mf::is_stochastic(MODE)) {
            if (rsrc == 1) mf::philox_fill(seed, offset + start + i0, i1 - i0, words);
          }
          for (std::size_t i = i0, t = i0 % L.inner; i < i1; ++i) {
            const mf::BlockScale& s = sc[t];
            std::uint32_t R = 0;
            if constexpr (mf::is_stochastic(MODE))
              R = rsrc == 2 ? rnd[start + i] : mf::top_bits(words[i - i0], n);
            cs[i] = static_cast<Out>(generic_code<MODE>(b, plan, s, sat, n, xs[i], R, acc));
            t = t + 1 == L.inner ? 0 : t + 1;
          }
        }
      }
    }
    if (acc) bad.store(true, std::memory_order_relaxed);
  });
  return !bad.load();
}

template <int MODE>
bool encode_mode(const py::array& x, py::array& codes, py::array& scodes, const Layout& L,
                 const mf::BlockSpec& b, int sat, int n, int rsrc, std::uint64_t seed,
                 std::uint64_t offset, const std::uint32_t* rnd) {
  auto* sp = static_cast<std::uint32_t*>(scodes.mutable_data());
  const bool f32 = x.dtype().is(py::dtype::of<float>());
  const bool wide = codes.itemsize() == 2;
#define MF_BLOCK_CALL(IN, OUT)                                                               \
  encode_groups<MODE, IN, OUT>(static_cast<const IN*>(x.data()),                             \
                               static_cast<OUT*>(codes.mutable_data()), sp, L, b, sat, n, rsrc, \
                               seed, offset, rnd)
  if (f32) return wide ? MF_BLOCK_CALL(float, std::uint16_t) : MF_BLOCK_CALL(float, std::uint8_t);
  return wide ? MF_BLOCK_CALL(double, std::uint16_t) : MF_BLOCK_CALL(double, std::uint8_t);
#undef MF_BLOCK_CALL
}

template <int... M>
bool encode_dispatch(std::integer_sequence<int, M...>, int mode, const py::array& x,
                     py::array& codes, py::array& scodes, const Layout& L,
                     const mf::BlockSpec& b, int sat, int n, int rsrc, std::uint64_t seed,
                     std::uint64_t offset, const std::uint32_t* rnd) {
  bool ok = true;
  const bool found =
      ((mode == M ? (ok = encode_mode<M>(x, codes, scodes, L, b, sat, n, rsrc, seed, offset, rnd),
                     true)
                  : false) ||
       ...);
  if (!found) throw std::invalid_argument("internal: unknown rounding mode");
  return ok;
}

// Returns False when some block needed a code that does not exist (a NaN scale in a scale
// format without NaN, or NaN into a float element without NaN); the caller raises and
// discards the outputs.
bool block_encode(const py::array& x, const py::tuple& layout, const py::tuple& bspec, int mode,
                  int sat, int n, int rsrc, std::uint64_t seed, std::uint64_t offset,
                  py::object random, py::array codes, py::array scodes) {
  const Layout L = layout_from(layout);
  const mf::BlockSpec b = block_spec(bspec);
  const std::size_t size = L.outer * L.n0 * L.mid * L.n1 * L.inner;
  const bool f32 = x.dtype().is(py::dtype::of<float>());
  if (!f32 && !x.dtype().is(py::dtype::of<double>()))
    throw std::invalid_argument("internal: block input must be float32 or float64");
  if (std::size_t(x.size()) != size || std::size_t(codes.size()) != size)
    throw std::invalid_argument("internal: layout size");
  if (std::size_t(scodes.size()) != L.groups() * L.inner || scodes.itemsize() != 4)
    throw std::invalid_argument("internal: scale codes must be uint32 of the scale shape");
  const std::uint32_t* rnd = nullptr;
  py::array rarr;
  if (rsrc == 2) {
    rarr = random.cast<py::array>();
    if (std::size_t(rarr.size()) != size || rarr.itemsize() != 4)
      throw std::invalid_argument("internal: random must be uint32 of x's size");
    rnd = static_cast<const std::uint32_t*>(rarr.data());
  }
  return encode_dispatch(std::make_integer_sequence<int, mf::NUM_ROUNDINGS>{}, mode, x, codes,
                         scodes, L, b, sat, n, rsrc, seed, offset, rnd);
}

// values = element_table[code] * scale_table[scale code] * T, exact in float64 (the bit
// budget is checked in Python), then rounded once to the output type.
template <class C, class SC, class V>
void decode_groups(const C* codes, const SC* scodes, V* out, const Layout& L, const double* et,
                   const double* st, double T) {
  py::gil_scoped_release nogil;
  mfcpu::parallel_for(L.groups(), [&](std::size_t gb, std::size_t ge) {
    std::vector<double> sv(L.inner);
    Group G = group_of(L, gb);
    for (std::size_t g = gb; g < ge; ++g, next_group(L, G)) {
      const std::size_t len = (G.j1b - G.j1a) * L.inner;
      const std::size_t si = scale_index(L, G);
      for (std::size_t t = 0; t < L.inner; ++t) sv[t] = st[scodes[si + t]] * T;
      for (std::size_t j0 = G.j0a; j0 < G.j0b; ++j0) {
        const std::size_t start = span_start(L, G, j0);
        if (L.inner == 1) {
          const double s = sv[0];
          for (std::size_t i = 0; i < len; ++i) out[start + i] = V(et[codes[start + i]] * s);
        } else {
          for (std::size_t i = 0, t = 0; i < len; ++i) {
            out[start + i] = V(et[codes[start + i]] * sv[t]);
            t = t + 1 == L.inner ? 0 : t + 1;
          }
        }
      }
    }
  });
}

void block_decode(const py::array& codes, const py::array& scodes, const py::tuple& layout,
                  const py::array& etable, const py::array& stable, double T, py::array out) {
  const Layout L = layout_from(layout);
  const std::size_t size = L.outer * L.n0 * L.mid * L.n1 * L.inner;
  if (std::size_t(codes.size()) != size || std::size_t(out.size()) != size ||
      std::size_t(scodes.size()) != L.groups() * L.inner)
    throw std::invalid_argument("internal: layout size");
  const auto* et = static_cast<const double*>(etable.data());
  const auto* st = static_cast<const double*>(stable.data());
  const bool f32 = out.dtype().is(py::dtype::of<float>());
  auto run = [&](auto* cp, auto* sp) {
    if (f32) decode_groups(cp, sp, static_cast<float*>(out.mutable_data()), L, et, st, T);
    else decode_groups(cp, sp, static_cast<double*>(out.mutable_data()), L, et, st, T);
  };
  auto with_scales = [&](auto* cp) {
    if (scodes.itemsize() == 1) run(cp, static_cast<const std::uint8_t*>(scodes.data()));
    else run(cp, static_cast<const std::uint16_t*>(scodes.data()));
  };
  if (codes.itemsize() == 1) with_scales(static_cast<const std::uint8_t*>(codes.data()));
  else with_scales(static_cast<const std::uint16_t*>(codes.data()));
}

// RN_binary32(a / d) for a >= 0 finite and d > 0 finite (the NVFP4 per-tensor scale
// amax / (scale max * element max)), from the exact quotient.
double divide_round_f32(double a, double d) {
  const mf::FloatSpec f32 = mf::make_float_spec(8, 23, 127, 1, 1, 1, mf::NAN_IEEE, 1);
  const mf::Plan plan = mf::make_plan(f32, mf::NEAREST_EVEN, mf::SAT_FINITE, 0);
  const mf::OddPow od = mf::odd_pow(d);
  const mf::Parts<std::uint64_t> q = mf::divide_parts(mf::parts_of(a), od.odd, od.e);
  return double(mf::float_of(mf::project<std::uint64_t>(f32, plan, mf::NEAREST_EVEN, 0, q, 0u)));
}

// The largest magnitude of the finite elements of contiguous float32/float64 x (0 if none):
// one vectorised pass over the magnitude bits.
template <class In> double finite_amax_of(const In* x, std::size_t n) {
  using MB = MagBits<In>;
  using U = typename MB::U;
  U a = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const U u = MB::of(x[i]);
    const U fin = u & (U(0) - U(u < MB::kInf));
    a = a > fin ? a : fin;
  }
  return MB::value(a);
}

double finite_amax(const py::array& x) {
  const std::size_t n = std::size_t(x.size());
  py::gil_scoped_release nogil;
  if (x.dtype().is(py::dtype::of<float>()))
    return finite_amax_of(static_cast<const float*>(x.data()), n);
  if (x.dtype().is(py::dtype::of<double>()))
    return finite_amax_of(static_cast<const double*>(x.data()), n);
  throw std::invalid_argument("internal: finite_amax input must be float32 or float64");
}

// ---- Block dot products (block_dot.h): C = A @ B of block-scaled operands ----
// Binary64 vectors for the fast path's exact block partial dots (explicit FMAs: the build
// turns off contraction, and an exact multiply-add is the same value either way).
#if defined(__AVX512F__)
using vf64 = __m512d;
constexpr int kDW = 8, kDNV = 4;  // 6 x 4 zmm partial dots
inline vf64 d_load(const double* p) { return _mm512_loadu_pd(p); }
inline vf64 d_bcast(double x) { return _mm512_set1_pd(x); }
inline vf64 d_fma(vf64 a, vf64 b, vf64 c) { return _mm512_fmadd_pd(a, b, c); }
inline void d_store(double* p, vf64 v) { _mm512_storeu_pd(p, v); }
inline vf64 d_zero() { return _mm512_setzero_pd(); }
#elif defined(__AVX2__) && defined(__FMA__)
using vf64 = __m256d;
constexpr int kDW = 4, kDNV = 2;  // 6 x 2 ymm partial dots
inline vf64 d_load(const double* p) { return _mm256_loadu_pd(p); }
inline vf64 d_bcast(double x) { return _mm256_set1_pd(x); }
inline vf64 d_fma(vf64 a, vf64 b, vf64 c) { return _mm256_fmadd_pd(a, b, c); }
inline void d_store(double* p, vf64 v) { _mm256_storeu_pd(p, v); }
inline vf64 d_zero() { return _mm256_setzero_pd(); }
#else
struct vf64 { double x[2]; };  // portable fallback: exact products and sums either way
constexpr int kDW = 2, kDNV = 2;
inline vf64 d_load(const double* p) { return vf64{{p[0], p[1]}}; }
inline vf64 d_bcast(double x) { return vf64{{x, x}}; }
inline vf64 d_fma(vf64 a, vf64 b, vf64 c) {
  for (int i = 0; i < 2; ++i) c.x[i] = a.x[i] * b.x[i] + c.x[i];
  return c;
}
inline void d_store(double* p, vf64 v) { p[0] = v.x[0]; p[1] = v.x[1]; }
inline vf64 d_zero() { return vf64{{0.0, 0.0}}; }
#endif
constexpr int kDRB = 6, kDCB = kDW * kDNV;  // C rows x columns per tile

// The element arithmetic of the partial dots: binary64, or binary32 where every partial sum
// of a block is exact in binary32 (MXFP4, MXFP6, MXINT8, NVFP4: twice the lanes).  Both give
// the exact partial dot, so the bits do not depend on the choice.
struct F64Ops {
  using T = double;
  using V = vf64;
  static constexpr int NV = kDNV, W = kDW;
  static V load(const T* p) { return d_load(p); }
  static V bcast(T x) { return d_bcast(x); }
  static V fma(V a, V b, V c) { return d_fma(a, b, c); }
  static void store(T* p, V v) { d_store(p, v); }
  static V zero() { return d_zero(); }
};
struct F32Ops {
  using T = float;
  using V = mfcpu::vf32;
  static constexpr int NV = kDCB / mfcpu::kVW, W = mfcpu::kVW;
  static_assert(kDCB % mfcpu::kVW == 0, "panel width must be a multiple of the f32 vector");
  static V load(const T* p) { return mfcpu::v_load(p); }
  static V bcast(T x) { return mfcpu::v_bcast(x); }
  static V fma(V a, V b, V c) { return mfcpu::v_fma(a, b, c); }
  static void store(T* p, V v) { mfcpu::v_store(p, v); }
  static V zero() { return mfcpu::v_zero(); }
};

// The fast path: S (M x N) = the accumulated sums, sequential order, binary32 (f32) or binary64
// accumulator.  Bp: B packed in panels of kDCB columns (K rows each, zero-padded); SBp: SB
// packed the same way (NB rows).  Every t_b is exact in binary64 (the caller checked).
template <class Ops, class T = typename Ops::T>
void block_matmul_fast(const T* A, const T* Bp, const double* SA, const double* SBp,
                       double* S, int M, int K, int N, int kb, bool f32) {
  using V = typename Ops::V;
  constexpr int NV = Ops::NV, W = Ops::W;
  const int NB = (K + kb - 1) / kb, npan = (N + kDCB - 1) / kDCB, ntile = (M + kDRB - 1) / kDRB;
  mfcpu::parallel_for(std::size_t(ntile) * npan, [&](std::size_t t0, std::size_t t1) {
    alignas(64) double s[kDRB][kDCB];
    alignas(64) T t[kDRB][kDCB];
    for (std::size_t tile = t0; tile < t1; ++tile) {
      // Panel-major: one packed panel of B (K x kDCB) stays in cache while every row tile
      // of A streams past it (row-major tiles would stream all of B once per row tile).
      const int i0 = int(tile % ntile) * kDRB, pan = int(tile / ntile);
      const int ni = std::min(kDRB, M - i0), j0 = pan * kDCB, nj = std::min(kDCB, N - j0);
      const T* ar[kDRB];
      const double* sr[kDRB];
      for (int r = 0; r < kDRB; ++r) {
        ar[r] = A + std::size_t(i0 + std::min(r, ni - 1)) * K;
        sr[r] = SA + std::size_t(i0 + std::min(r, ni - 1)) * NB;
      }
      const T* panel = Bp + std::size_t(pan) * K * kDCB;
      const double* spanel = SBp + std::size_t(pan) * NB * kDCB;
      for (int r = 0; r < kDRB; ++r)
        for (int c = 0; c < kDCB; ++c) s[r][c] = 0.0;
      for (int b = 0; b < NB; ++b) {
        V acc[kDRB][NV];
#pragma GCC unroll 8
        for (int r = 0; r < kDRB; ++r)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) acc[r][v] = Ops::zero();
        const int k1 = std::min(K, (b + 1) * kb);
        for (int k = b * kb; k < k1; ++k) {
          const T* brow = panel + std::size_t(k) * kDCB;
          V bv[NV];
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) bv[v] = Ops::load(brow + v * W);
#pragma GCC unroll 8
          for (int r = 0; r < kDRB; ++r) {
            const V av = Ops::bcast(ar[r][k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[r][v] = Ops::fma(av, bv[v], acc[r][v]);
          }
        }
#pragma GCC unroll 8
        for (int r = 0; r < kDRB; ++r)
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) Ops::store(&t[r][v * W], acc[r][v]);
        const double* sb = spanel + std::size_t(b) * kDCB;
        for (int r = 0; r < kDRB; ++r) {
          const double sa = sr[r][b];
          if (f32) {
            for (int c = 0; c < kDCB; ++c)
              s[r][c] = mf::block_step_f32(s[r][c], double(t[r][c]) * (sa * sb[c]));
          } else {
            for (int c = 0; c < kDCB; ++c)
              s[r][c] = mf::block_step_f64(s[r][c], double(t[r][c]) * (sa * sb[c]));
          }
        }
      }
      for (int r = 0; r < ni; ++r)
        for (int c = 0; c < nj; ++c) S[std::size_t(i0 + r) * N + j0 + c] = s[r][c];
    }
  });
}

// One block step of the split path done by the definition (block_dot.h's generic step):
// s <- round(s + t_b) with t_b's products summed in a Kulisch accumulator.
double block_step_generic(double s, const mf::BlockVec& x, const mf::BlockVec& y, int b, int k0,
                          int k1, const mf::BlockAcc& acc, int e0, int limbs, std::uint32_t& bad) {
  mf::Kulisch k;
  mf::kulisch_init(k, e0, limbs);
  const mf::Exact se = mf::exact_trimmed(s);
  std::uint32_t signs = (se.cls == mf::IN_ZERO) ? (se.neg | (se.neg << 1)) : 6u;
  if (se.cls != mf::IN_ZERO) mf::kulisch_add(k, se);
  mf::block_products(k, x, y, b, k0, k1, signs);
  return mf::exact_to_double_rne(acc.round(mf::block_kulisch_value(k, acc.amode(), signs), 0, bad));
}

// The split fast path (E5M2-like elements, whose block partial dots need more bits than
// binary64 holds): A's finite elements are split by magnitude into NP pieces AP[p] (each
// element in one piece, 0 in the others; blocks.py chose the cuts) such that each piece's
// partial dot with B's finite elements is exact in binary64 (any order of the FMAs).  The NP
// exact piece sums are added with error-free checks (2Sum); where every error is 0, t_b =
// their sum times sA * sB is exact in binary64 and block_step_f32/f64 round the addition as on
// the fast path.  Otherwise (a t_b wider than 53 bits), and for every block holding an Inf or
// NaN element or a NaN scale (flags fa/fb), the step is redone by the definition from the
// original values A, B (block_step_generic).  The same bits as block_dot_generic.
void block_matmul_split(const double* AP, int NP, const double* Bp, const double* SA,
                        const double* SBp, const double* A, const double* B, const double* SB,
                        const std::uint8_t* fa, const std::uint8_t* fb, double* S, int M, int K,
                        int N, int kb, bool f32, const mf::BlockAcc& bacc, int e0, int limbs,
                        std::atomic<bool>& bad) {
  using Ops = F64Ops;
  using V = Ops::V;
  constexpr int NV = Ops::NV, W = Ops::W;
  const int NB = (K + kb - 1) / kb, npan = (N + kDCB - 1) / kDCB, ntile = (M + kDRB - 1) / kDRB;
  const std::size_t MK = std::size_t(M) * K;
  mfcpu::parallel_for(std::size_t(ntile) * npan, [&](std::size_t t0, std::size_t t1) {
    alignas(64) double s[kDRB][kDCB];
    alignas(64) double t[4][kDRB][kDCB];
    std::uint32_t badl = 0;
    for (std::size_t tile = t0; tile < t1; ++tile) {
      const int i0 = int(tile % ntile) * kDRB, pan = int(tile / ntile);
      const int ni = std::min(kDRB, M - i0), j0 = pan * kDCB, nj = std::min(kDCB, N - j0);
      int row[kDRB];
      for (int r = 0; r < kDRB; ++r) row[r] = i0 + std::min(r, ni - 1);
      const double* panel = Bp + std::size_t(pan) * K * kDCB;
      const double* spanel = SBp + std::size_t(pan) * NB * kDCB;
      for (int r = 0; r < kDRB; ++r)
        for (int c = 0; c < kDCB; ++c) s[r][c] = 0.0;
      for (int b = 0; b < NB; ++b) {
        const int k0 = b * kb, k1 = std::min(K, (b + 1) * kb);
        for (int p = 0; p < NP; ++p) {
          const double* ar[kDRB];
          for (int r = 0; r < kDRB; ++r) ar[r] = AP + p * MK + std::size_t(row[r]) * K;
          if (p > 0) {  // a piece with no non-zero element here: its partial dots are +0
            bool any = false;
            for (int r = 0; r < kDRB && !any; ++r)
              for (int k = k0; k < k1; ++k) any |= ar[r][k] != 0.0;
            if (!any) {
              for (int r = 0; r < kDRB; ++r)
                for (int c = 0; c < kDCB; ++c) t[p][r][c] = 0.0;
              continue;
            }
          }
          V acc[kDRB][NV];
#pragma GCC unroll 8
          for (int r = 0; r < kDRB; ++r)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[r][v] = Ops::zero();
          for (int k = k0; k < k1; ++k) {
            const double* brow = panel + std::size_t(k) * kDCB;
            V bv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) bv[v] = Ops::load(brow + v * W);
#pragma GCC unroll 8
            for (int r = 0; r < kDRB; ++r) {
              const V av = Ops::bcast(ar[r][k]);
#pragma GCC unroll 4
              for (int v = 0; v < NV; ++v) acc[r][v] = Ops::fma(av, bv[v], acc[r][v]);
            }
          }
#pragma GCC unroll 8
          for (int r = 0; r < kDRB; ++r)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) Ops::store(&t[p][r][v * W], acc[r][v]);
        }
        const double* sb = spanel + std::size_t(b) * kDCB;
        for (int r = 0; r < kDRB; ++r) {
          const double sa = SA[std::size_t(row[r]) * NB + b];
          const bool far = fa[std::size_t(row[r]) * NB + b] != 0;
          for (int c = 0; c < kDCB; ++c) {
            double h = t[0][r][c], err = 0.0;
            for (int p = 1; p < NP; ++p) {  // 2Sum: h + t_p = h' + e exactly
              const double x = t[p][r][c], hn = h + x, bb = hn - h;
              err = std::max(err, std::fabs((h - (hn - bb)) + (x - bb)));
              h = hn;
            }
            const bool slow = far || (j0 + c < N && fb[std::size_t(b) * N + j0 + c]) ||
                              err != 0.0;
            if (slow) {
              if (j0 + c >= N) continue;  // a padding column
              const mf::BlockVec x{A + std::size_t(row[r]) * K, 1, SA + std::size_t(row[r]) * NB, 1};
              const mf::BlockVec y{B + j0 + c, N, SB + j0 + c, N};
              s[r][c] = block_step_generic(s[r][c], x, y, b, k0, k1, bacc, e0, limbs, badl);
            } else if (f32) {
              s[r][c] = mf::block_step_f32(s[r][c], h * (sa * sb[c]));
            } else {
              s[r][c] = mf::block_step_f64(s[r][c], h * (sa * sb[c]));
            }
          }
        }
      }
      for (int r = 0; r < ni; ++r)
        for (int c = 0; c < nj; ++c) S[std::size_t(i0 + r) * N + j0 + c] = s[r][c];
    }
    if (badl) bad.store(true);
  });
}

// Codes of C = A @ B for block-scaled operands (block_dot.h): A (M, K) and B (K, N) element
// values, SA (M, NB) and SB (NB, N) the scale value of each element's block, T = TA * TB.
// fast = 1: the binary64-exact fast path (sequential binary32/binary64 accumulators only);
// fast = 2: the same with a binary32 output (out: uint32 bits of RNE_f32(T * S)).
bool block_matmul(const py::array& A, const py::array& B, const py::array& SA,
                  const py::array& SB, int M, int K, int N, int kb, double T, int acc,
                  const py::tuple& sacc, const py::tuple& so, int mode, int sat, int n, int flush,
                  int pairwise, int block, int rsrc, std::uint64_t seed, std::uint64_t offset,
                  int fast, int e0, int limbs, py::array out, const py::array& AP) {
  const int NB = kb > 0 ? (K + kb - 1) / kb : 0;
  if (M < 0 || K < 1 || N < 0 || kb < 1 || block < 1 || limbs < 1 || limbs > mf::KMAX_LIMBS ||
      acc < mf::ACC_EXACT || acc > mf::ACC_FLOAT64 || n < 0 || n > 32 ||
      std::size_t(A.size()) != std::size_t(M) * K || std::size_t(B.size()) != std::size_t(K) * N ||
      std::size_t(SA.size()) != std::size_t(M) * NB ||
      std::size_t(SB.size()) != std::size_t(NB) * N || std::size_t(out.size()) != std::size_t(M) * N ||
      (fast && (pairwise || (acc != mf::ACC_FLOAT32 && acc != mf::ACC_FLOAT64))))
    throw std::invalid_argument("internal: block_matmul arguments");
  // AP: the split path's pieces of A (NP, M, K) float64, or empty
  const int NP = (M > 0 && AP.size() > 0) ? int(std::size_t(AP.size()) / (std::size_t(M) * K)) : 0;
  if (AP.size() > 0 && (!fast || A.itemsize() != 8 || NP < 1 || NP > 4 || AP.itemsize() != 8 ||
                        std::size_t(AP.size()) != std::size_t(NP) * M * K))
    throw std::invalid_argument("internal: block_matmul pieces");
  const bool f32in = A.itemsize() == 4;  // binary32-exact partial dots (blocks.py checked)
  if (A.itemsize() != B.itemsize() || (f32in && !fast))
    throw std::invalid_argument("internal: block_matmul element arrays");
  const double* a = f32in ? nullptr : static_cast<const double*>(A.data());
  const double* bm = f32in ? nullptr : static_cast<const double*>(B.data());
  const double* sa = static_cast<const double*>(SA.data());
  const double* sb = static_cast<const double*>(SB.data());
  const mf::FloatSpec facc = float_spec(sacc), fo = float_spec(so);
  const mf::BlockAcc bacc = mf::make_block_acc(acc, facc, mode, sat, flush, n, rsrc, seed, offset);
  const mf::Plan oplan = mf::make_plan(fo, mode, sat, flush);
  const mf::Exact texact = mf::exact_trimmed(T);
  const std::size_t total = std::size_t(M) * N;
  const std::uint64_t steps = std::uint64_t(total) * std::uint64_t(NB);
  std::vector<double> S(fast ? total : 0u);
  std::atomic<bool> bad{false};
  py::gil_scoped_release nogil;
  if (fast) {
    const int npan = (N + kDCB - 1) / kDCB;
    // B and SB packed in panels of kDCB columns, row by row (contiguous reads).
    auto pack = [&](const auto* src, int rows, auto& dst) {
      for (int p = 0; p < npan; ++p) {
        const int nc = std::min(kDCB, N - p * kDCB);
        for (int k = 0; k < rows; ++k)
          std::copy(src + std::size_t(k) * N + p * kDCB, src + std::size_t(k) * N + p * kDCB + nc,
                    dst.begin() + std::ptrdiff_t((std::size_t(p) * rows + k) * kDCB));
      }
    };
    std::vector<double> SBp(std::size_t(npan) * NB * kDCB, 1.0);
    pack(sb, NB, SBp);
    const bool f32acc = acc == mf::ACC_FLOAT32;
    if (NP > 0) {
      // B's finite elements (Inf/NaN blocks take the generic step), and the blocks' flags
      std::vector<double> Bf(std::size_t(K) * N);
      for (std::size_t q = 0; q < Bf.size(); ++q) Bf[q] = std::isfinite(bm[q]) ? bm[q] : 0.0;
      std::vector<double> Bp(std::size_t(npan) * K * kDCB, 0.0);
      pack(Bf.data(), K, Bp);
      std::vector<std::uint8_t> fa(std::size_t(M) * NB, 0), fb(std::size_t(NB) * N, 0);
      for (int i = 0; i < M; ++i)
        for (int k = 0; k < K; ++k)
          if (!std::isfinite(a[std::size_t(i) * K + k])) fa[std::size_t(i) * NB + k / kb] = 1;
      for (std::size_t q = 0; q < fa.size(); ++q)
        if (std::isnan(sa[q])) fa[q] = 1;
      for (int k = 0; k < K; ++k)
        for (int j = 0; j < N; ++j)
          if (!std::isfinite(bm[std::size_t(k) * N + j])) fb[std::size_t(k / kb) * N + j] = 1;
      for (std::size_t q = 0; q < fb.size(); ++q)
        if (std::isnan(sb[q])) fb[q] = 1;
      block_matmul_split(static_cast<const double*>(AP.data()), NP, Bp.data(), sa, SBp.data(), a,
                         bm, sb, fa.data(), fb.data(), S.data(), M, K, N, kb, f32acc, bacc, e0,
                         limbs, bad);
    } else if (f32in) {
      std::vector<float> Bp(std::size_t(npan) * K * kDCB, 0.0f);
      pack(static_cast<const float*>(B.data()), K, Bp);
      block_matmul_fast<F32Ops>(static_cast<const float*>(A.data()), Bp.data(), sa, SBp.data(),
                                S.data(), M, K, N, kb, f32acc);
    } else {
      std::vector<double> Bp(std::size_t(npan) * K * kDCB, 0.0);
      pack(bm, K, Bp);
      block_matmul_fast<F64Ops>(a, Bp.data(), sa, SBp.data(), S.data(), M, K, N, kb, f32acc);
    }
  }
  if (fast == 2 && out.itemsize() == 4) {  // binary32 output: RN32(T * S), one rounding
    auto* o = static_cast<std::uint32_t*>(out.mutable_data());
    mfcpu::parallel_for(total, [&](std::size_t b0, std::size_t e1) {
      for (std::size_t idx = b0; idx < e1; ++idx) {
        const double v = T == 1.0 ? S[idx] : mf::mul_round_odd(S[idx], T);
        const std::uint32_t u = mf::bits_of(static_cast<float>(v));
        o[idx] = (u & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC00000u : u;  // canonical +NaN
      }
    });
    return true;
  }
  auto finish = [&](auto* o) {
    mfcpu::parallel_for(total, [&](std::size_t b0, std::size_t e1) {
      std::vector<mf::Exact> scratch(std::size_t(NB / block + 2));
      std::uint32_t badl = 0;
      for (std::size_t idx = b0; idx < e1; ++idx) {
        const std::size_t i = idx / std::size_t(N), j = idx % std::size_t(N);
        mf::Exact v;
        if (fast) {
          v = mf::exact_trimmed(S[idx]);
        } else {
          const mf::BlockVec x{a + i * K, 1, sa + i * NB, 1};
          const mf::BlockVec y{bm + j, N, sb + j, N};
          v = mf::block_dot_generic(x, y, K, kb, bacc, pairwise, block, idx * std::uint64_t(NB), e0,
                                    limbs, scratch.data(), badl);
        }
        if (v.cls == mf::IN_NAN) v = mf::exact_nan();  // arithmetic NaNs: canonical +NaN
        else if (T != 1.0) v = mf::exact_mul_wide(v, texact);
        std::uint32_t R = 0;
        if (rsrc == 1) R = mf::top_bits(mf::philox_word(seed, offset + steps + idx), n);
        const std::uint32_t code = mf::project<std::uint64_t>(fo, oplan, mode, n, v, R);
        badl |= std::uint32_t(code == mf::NO_CODE);
        o[idx] = static_cast<std::remove_pointer_t<decltype(o)>>(code);
      }
      if (badl) bad.store(true);
    });
  };
  if (out.itemsize() == 1) finish(static_cast<std::uint8_t*>(out.mutable_data()));
  else if (out.itemsize() == 2) finish(static_cast<std::uint16_t*>(out.mutable_data()));
  else finish(static_cast<std::uint32_t*>(out.mutable_data()));
  return !bad.load();
}

}  // namespace

void bind_block(py::module_& m) {
  m.def("block_encode", &block_encode, py::arg("x"), py::arg("layout"), py::arg("bspec"),
        py::arg("mode"), py::arg("sat"), py::arg("n"), py::arg("rsrc"), py::arg("seed"),
        py::arg("offset"), py::arg("random"), py::arg("codes"), py::arg("scodes"));
  m.def("block_decode", &block_decode, py::arg("codes"), py::arg("scodes"), py::arg("layout"),
        py::arg("etable"), py::arg("stable"), py::arg("tensor"), py::arg("out"));
  m.def("divide_round_f32", &divide_round_f32, py::arg("a"), py::arg("d"));
  m.def("finite_amax", &finite_amax, py::arg("x"));
  m.def("block_matmul", &block_matmul, py::arg("A"), py::arg("B"), py::arg("SA"), py::arg("SB"),
        py::arg("M"), py::arg("K"), py::arg("N"), py::arg("kb"), py::arg("T"), py::arg("acc"),
        py::arg("sacc"), py::arg("so"), py::arg("mode"), py::arg("sat"), py::arg("n"),
        py::arg("flush"), py::arg("pairwise"), py::arg("block"), py::arg("rsrc"), py::arg("seed"),
        py::arg("offset"), py::arg("fast"), py::arg("e0"), py::arg("limbs"), py::arg("out"),
        py::arg("AP") = py::array_t<double>());
}
