// One output of a contraction of float-format codes (a matrix product or a row sum): the
// generic definition of docs/arithmetic.md, shared by the CPU binding (csrc/module.cpp,
// contract) and the GPU kernel (minifloat/backends/cuda_linalg.py), so that both give the same
// bits for every accumulator, order and rounding mode.
//
//   C[o] = project_out( accumulate_{k in order}( A[i,k] * B[k,j] ) ),  o = i * N + j
//
// Products are exact (exact_mul); the accumulator is ACC_EXACT (Kulisch, one rounding at the
// end), ACC_FORMAT (every addition projected into facc: exact_add then project), ACC_FLOAT32
// (the same with IEEE binary32, nearest-even) or ACC_FLOAT64 (binary64 additions; the caller
// checks that every product is a double).  Addition number j of output o (mf::reduce_in_order)
// reads the random bits of stream position offset + o * K + j; the final rounding of output o
// those of offset + total_steps + o (total_steps = M * N * max(K, 1)).
#pragma once
#include "minifloat/accumulate.h"
#include "minifloat/project.h"
#include "minifloat/random.h"

namespace mf {

struct ContractSpec {
  FloatSpec fa, fb, facc, fo;
  int32_t K, N;          // reduction length, output columns
  int32_t acc;           // AccKind
  int32_t mode, sat, n, flush, rsrc;   // projection (rsrc 0: no random bits, 1: Philox)
  int32_t pairwise, block;             // order (reduce_in_order)
  int32_t e0, limbs;     // the Kulisch window (ACC_EXACT)
  uint64_t seed, offset, total_steps;
};

// Accumulation into a float format: s <- project(s + t) per addition (state: an exact value
// of the format).
struct AccFormatStep {
  FloatSpec spec;
  Plan plan;
  int32_t mode, n, rsrc;
  uint64_t seed, offset;
  MF_HD Exact zero() const { return make_exact(IN_ZERO, 0, 0, 0); }
  MF_HD Exact add(const Exact& s, const Exact& t, uint64_t pos) const {
    uint32_t R = 0;
    if (rsrc == 1) R = top_bits(philox_word(seed, offset + pos), n);
    return exact_of_code(spec, project<uint64_t>(spec, plan, mode, n, exact_add(s, t, mode), R));
  }
  MF_HD Exact exact(const Exact& s) const { return s; }
};

// Accumulation in binary64: t is a double (checked by the caller), so s + t rounds once.
struct AccFloat64Step {
  MF_HD double zero() const { return 0.0; }
  MF_HD static double to_double(const Exact& t) {
    const double inf = double_of(0x7FF0000000000000ull);
    if (t.cls == IN_NAN) return double_of(0x7FF8000000000000ull);
    if (t.cls == IN_INF) return t.neg ? -inf : inf;
    if (t.cls == IN_ZERO) return t.neg ? -0.0 : 0.0;
    const double v = double(t.sig) * pow2(t.e_lsb);  // sig < 2^53, exponent in range: exact
    return t.neg ? -v : v;
  }
  MF_HD double add(double s, const Exact& t, uint64_t) const { return s + to_double(t); }
  // Arithmetic NaNs are the canonical +NaN (as in arith.h), whatever sign the FPU gave.
  MF_HD Exact exact(double s) const { return s != s ? exact_nan() : parts_of(s); }
};

// Sums of a pairwise order are kept in caller-provided scratch of this many states: a
// contraction needs ceil(K / block) of them (the caller checks K / block < kMaxSums where
// the scratch is a fixed array, as on the GPU).
constexpr int32_t kContractMaxSums = 128;

template <class Acc, class Term, class State>
MF_HD State contract_reduce(const Acc& acc, const ContractSpec& c, Term term, uint64_t pos0,
                            State* scratch) {
  return reduce_in_order(
      c.K, c.pairwise, c.block, pos0, acc.zero(),
      [&](const State& s, int32_t k, uint64_t pos) { return acc.add(s, term(k), pos); },
      [&](const State& a, const State& b, uint64_t pos) { return acc.add(a, acc.exact(b), pos); },
      scratch);
}

// The code of output o = i * N + j.  A: M x K codes, row-major; B: K x N codes, or nullptr
// for row sums (terms A[i, k]).  xs / ds: scratch for the pairwise order (ceil(K / block)
// states).  NO_CODE when the result is NaN and fo has no NaN.
MF_HD uint32_t contract_one(const ContractSpec& c, const Plan& out_plan, const uint16_t* A,
                            const uint16_t* B, uint64_t o, Exact* xs, double* ds) {
  const uint64_t N = uint64_t(c.N), K = uint64_t(c.K);
  const uint64_t i = o / N, j = o % N;
  auto term = [&](int32_t k) {
    const Exact a = exact_of_code(c.fa, A[i * K + uint64_t(k)]);
    return B ? exact_mul(a, exact_of_code(c.fb, B[uint64_t(k) * N + j])) : a;
  };
  const uint64_t pos0 = o * K;
  Exact value;
  if (c.acc == ACC_EXACT) {
    Kulisch kacc;
    kulisch_init(kacc, c.e0, c.limbs);
    for (int32_t k = 0; k < c.K; ++k) kulisch_add(kacc, term(k));
    value = kulisch_value(kacc, c.mode);
  } else if (c.acc == ACC_FORMAT) {
    const AccFormatStep acc{c.facc, make_plan(c.facc, c.mode, c.sat, c.flush), c.mode, c.n,
                            c.rsrc, c.seed, c.offset};
    value = contract_reduce(acc, c, term, pos0, xs);
  } else if (c.acc == ACC_FLOAT32) {
    // IEEE binary32 with round-to-nearest-even, whatever the products are: the accumulator of
    // fp32-accumulating hardware.
    const FloatSpec b32 = make_float_spec(8, 23, 127, 1, 1, 1, NAN_IEEE, 1);
    const AccFormatStep acc{b32, make_plan(b32, NEAREST_EVEN, SAT_NONE, 0), NEAREST_EVEN, 0, 0,
                            0, 0};
    value = contract_reduce(acc, c, term, pos0, xs);
  } else {
    const AccFloat64Step acc;
    value = acc.exact(contract_reduce(acc, c, term, pos0, ds));
  }
  uint32_t R = 0;
  if (c.rsrc == 1) R = top_bits(philox_word(c.seed, c.offset + c.total_steps + o), c.n);
  return project<uint64_t>(c.fo, out_plan, c.mode, c.n, value, R);
}

}  // namespace mf
