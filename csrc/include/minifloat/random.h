// Counter-based random bits: Philox4x32-10 (Salmon et al., SC'11; Random123).
// docs/semantics.md §4: element j = offset + i uses word (j mod 4) of
// philox(counter = (q lo, q hi, 0, 0), key = (seed lo, seed hi)), q = j div 4.
// Identical on CPU and GPU, independent of thread count.
#pragma once
#include "minifloat/config.h"

namespace mf {

struct Philox4 { uint32_t w[4]; };

MF_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                            uint32_t k0, uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  const uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(M0) * c0;
    const uint64_t p1 = uint64_t(M1) * c2;
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
  Philox4 r;
  r.w[0] = c0; r.w[1] = c1; r.w[2] = c2; r.w[3] = c3;
  return r;
}

// The 32-bit word for stream position j.
MF_HD uint32_t philox_word(uint64_t seed, uint64_t j) {
  const uint64_t q = j >> 2;
  const Philox4 r = philox4x32_10(uint32_t(q), uint32_t(q >> 32), 0u, 0u, uint32_t(seed),
                                  uint32_t(seed >> 32));
  return r.w[j & 3u];
}

// The top n bits (1 <= n <= 32) of a word: the R of the stochastic rounding modes.
MF_HD uint32_t top_bits(uint32_t word, int32_t n) { return word >> (32 - n); }

}  // namespace mf
