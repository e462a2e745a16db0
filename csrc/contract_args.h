// The parameters every contraction binding takes from Python (float codes: module.cpp;
// fixed point and LNS: bind_fixed_lns.cpp), checked and filled in one place.  The order of
// the additions is mf::reduce_in_order (accumulate.h), shared by all of them.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

struct ContractShape {
  int K, N;              // reduction length, output columns (rows: the caller's M)
  int acc;               // accumulator kind (each binding's own enumeration)
  int mode, sat, n;      // projection of every rounding: mode, saturation, random bits
  int flush;             // flush subnormal results (float outputs)
  int pairwise, block;   // order (reduce_in_order)
  std::uint64_t total_steps;  // M * N * max(K, 1): stream position of the final roundings
};

// Checks the parts every binding shares ("internal:" errors: Python checked the user's
// arguments already) and fills a ContractShape.
inline ContractShape contract_shape(const char* who, int M, int K, int N, int acc, int acc_min,
                                    int acc_max, int mode, int sat, int n, int flush,
                                    int pairwise, int block, int rsrc) {
  if (M < 0 || K < 0 || N < 0 || block < 1 || rsrc == 2 || acc < acc_min || acc > acc_max ||
      n < 0 || n > 32)
    throw std::invalid_argument(std::string("internal: ") + who + " arguments");
  ContractShape s;
  s.K = K;
  s.N = N;
  s.acc = acc;
  s.mode = mode;
  s.sat = sat;
  s.n = n;
  s.flush = flush;
  s.pairwise = pairwise;
  s.block = block;
  s.total_steps = std::uint64_t(M) * std::uint64_t(N) * std::uint64_t(K > 0 ? K : 1);
  return s;
}
