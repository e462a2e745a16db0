// Splits [0, n) over worker threads.  The split never changes a result: every kernel is
// elementwise and stochastic bits are indexed by absolute position (random.h).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <thread>
#include <vector>

namespace mfcpu {

inline int& thread_setting() {
  static int n = [] {
    if (const char* s = std::getenv("MINIFLOAT_NUM_THREADS")) {
      const int v = std::atoi(s);
      if (v > 0) return v;
    }
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }();
  return n;
}

// Elements below which one thread does everything (thread start-up costs ~20 us).
constexpr std::size_t kGrain = std::size_t(1) << 15;

// grain: the fewest items worth a thread of their own.
template <class Fn> void parallel_for(std::size_t n, Fn&& fn, std::size_t grain = kGrain) {
  const std::size_t want = std::min<std::size_t>(thread_setting(), (n + grain - 1) / grain);
  if (want <= 1) {
    fn(std::size_t(0), n);
    return;
  }
  // Chunks are multiples of 64 items (for element loops: threads never share a cache line of
  // output) unless the grain is finer than that.
  const std::size_t align = grain >= 64 ? 64 : 1;
  const std::size_t chunk = ((n + want - 1) / want + align - 1) / align * align;
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < want; ++t) {
    const std::size_t b = t * chunk, e = std::min(n, b + chunk);
    if (b < e) pool.emplace_back([=, &fn] { fn(b, e); });
  }
  fn(std::size_t(0), std::min(n, chunk));
  for (auto& th : pool) th.join();
}

}  // namespace mfcpu
