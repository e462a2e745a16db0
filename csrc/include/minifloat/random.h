// Counter-based random bits: Philox4x32-10 (Salmon et al., SC'11; Random123).
// docs/semantics.md §4: element j = offset + i uses word (j mod 4) of
// philox(counter = (q lo, q hi, 0, 0), key = (seed lo, seed hi)), q = j div 4.
// Identical on CPU and GPU, independent of thread count.
#pragma once
#include "minifloat/config.h"

namespace mf {

struct Philox4 { uint32_t w[4]; };

constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;

// One Philox4x32 round with round key (k0, k1).
MF_HD void philox_round(uint32_t& c0, uint32_t& c1, uint32_t& c2, uint32_t& c3, uint32_t k0,
                        uint32_t k1) {
  const uint64_t p0 = uint64_t(kPhiloxM0) * c0;
  const uint64_t p1 = uint64_t(kPhiloxM1) * c2;
  const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
  const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
  c0 = hi1 ^ c1 ^ k0;
  c1 = lo1;
  c2 = hi0 ^ c3 ^ k1;
  c3 = lo0;
}

MF_HD Philox4 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                            uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    philox_round(c0, c1, c2, c3, k0, k1);
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
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

// out[k] = philox_word(seed, j0 + k) for k < count: the stream of design §3 for a run of
// consecutive positions, one Philox call per four positions (every batched CPU loop draws its
// bits here).
MF_HD void philox_fill(uint64_t seed, uint64_t j0, uint64_t count, uint32_t* out) {
  const uint32_t s0 = uint32_t(seed), s1 = uint32_t(seed >> 32);
  uint64_t k = 0;
  if ((j0 & 3u) != 0 && count != 0) {  // j0 inside a block: its tail comes first
    const uint64_t q = j0 >> 2;
    const Philox4 r = philox4x32_10(uint32_t(q), uint32_t(q >> 32), 0u, 0u, s0, s1);
    for (uint32_t m = uint32_t(j0 & 3u); m < 4u && k < count; ++m, ++k) out[k] = r.w[m];
  }
  // Whole blocks, four words straight out (a countable loop over q: GCC vectorises it across
  // blocks, about 1.5x faster than a loop that steps k by 4).
  const uint64_t q0 = (j0 + k) >> 2, blocks = (count - k) >> 2;
  uint32_t* ob = out + k;
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint64_t q = q0 + b;
    const Philox4 r = philox4x32_10(uint32_t(q), uint32_t(q >> 32), 0u, 0u, s0, s1);
    ob[4 * b] = r.w[0];
    ob[4 * b + 1] = r.w[1];
    ob[4 * b + 2] = r.w[2];
    ob[4 * b + 3] = r.w[3];
  }
  k += 4 * blocks;
  if (k < count) {
    const uint64_t q = (j0 + k) >> 2;
    const Philox4 r = philox4x32_10(uint32_t(q), uint32_t(q >> 32), 0u, 0u, s0, s1);
    for (uint32_t m = 0; k < count; ++m, ++k) out[k] = r.w[m];
  }
}

// The top n bits (1 <= n <= 32) of a word: the R of the stochastic rounding modes.
MF_HD uint32_t top_bits(uint32_t word, int32_t n) { return word >> (32 - n); }

}  // namespace mf
