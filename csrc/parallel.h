// Splits [0, n) over worker threads.  The split never changes a result: every kernel is
// elementwise and stochastic bits are indexed by absolute position (random.h).
//
// The workers are persistent (a pool started on first use and grown when the thread setting
// grows): starting a std::thread per call cost ~30-100 us on the development VM, as much as
// the work of a 64K-element decode or a 256^3 GEMM half, so per-call threads made small calls
// slower with 2 threads than with 1.  After a job a worker spins briefly (kWorkerSpin) for the
// next one, then sleeps on a condition variable.  Binding-side code (CPU only).
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>
#include <unistd.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define MFCPU_PAUSE() _mm_pause()
#else
#define MFCPU_PAUSE() std::this_thread::yield()
#endif

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

// Software prefetch (into all cache levels), 8 KiB ahead, of the lines of the next `m`
// elements of a streaming loop over `x` with `left` elements remaining from x.  Measured on
// the Xeon of docs/benchmarks.md (16M-element float32 -> E4M3 encode, 1 thread, a standalone
// copy of the loop): blocks of 1024 without prefetch 0.58-0.99 G elem/s, blocks of 256 with
// this 1.6-1.8 G elem/s (cached data: 1.8).
template <class T>
inline void prefetch_ahead(const T* x, std::size_t m, std::size_t left) {
  constexpr std::size_t kLine = 64 / sizeof(T), kAhead = 8192 / sizeof(T);
  if (left < kAhead + m) return;
  for (std::size_t j = 0; j < m; j += kLine) __builtin_prefetch(x + kAhead + j, 0, 3);
}

// Block length of the streaming float32 loops (encode, fixed-point encode): codes are computed
// into a block buffer of this many uint32, then narrowed (see module.cpp).  256 beat 1024 and
// 4096 by 1.4-2x in the measurement above.
constexpr std::size_t kStreamBlock = 256;

// Elements below which one thread does everything.
constexpr std::size_t kGrain = std::size_t(1) << 15;

// One job: `parts` chunks [t*chunk, min(n, (t+1)*chunk)); chunk 0 runs on the caller, chunk
// t >= 1 on worker t-1.
struct PoolJob {
  void (*call)(void*, std::size_t, std::size_t) = nullptr;
  void* ctx = nullptr;
  std::size_t n = 0, chunk = 0, parts = 0;
  bool spin = true;  // false when there are more threads than cores (see Pool)
};

class Pool {
 public:
  // How long a thread spins before it sleeps.  A worker waits kWorkerSpin for the next job:
  // enough for the next call of a Python sequence (decode, decode, GEMM, encode), short enough
  // not to hold a core long after the last one.  The caller waits for its workers up to
  // kCallerSpin: its own core has nothing else to do, and sleeping there cost a context switch
  // and a wake-up of tens of microseconds on the development VM.
  // With more threads than cores (MINIFLOAT_NUM_THREADS above the core count) nobody spins:
  // a spinning thread would hold a core another one of the job needs.
  static constexpr std::chrono::microseconds kWorkerSpin{200}, kCallerSpin{2000};

  // Spins (pausing) until done() or `limit` has passed; returns done().
  template <class Done> static bool spin(Done&& done, std::chrono::microseconds limit) {
    const auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      for (int i = 0; i < 64; ++i) {
        if (done()) return true;
        MFCPU_PAUSE();
      }
      if (std::chrono::steady_clock::now() - t0 > limit) return done();
    }
  }

  // Runs `job` with the caller taking chunk 0; returns after every chunk has finished and
  // rethrows the first exception a worker raised.
  void run(const PoolJob& job) {
    grow(job.parts - 1);
    {
      std::lock_guard<std::mutex> lk(m_);
      job_ = job;
      error_ = nullptr;
      pending_.store(int(job.parts - 1), std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_work_.notify_all();
    std::exception_ptr mine;
    try {
      job.call(job.ctx, 0, std::min(job.n, job.chunk));
    } catch (...) {
      mine = std::current_exception();
    }
    const auto finished = [&] { return pending_.load(std::memory_order_acquire) == 0; };
    if (!spin(finished, job.spin ? kCallerSpin : std::chrono::microseconds(0))) {
      std::unique_lock<std::mutex> lk(m_);
      cv_done_.wait(lk, finished);
    }
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(error_);
  }

  std::mutex submit;  // one job at a time; other callers run their work without the pool

 private:
  void grow(std::size_t want) {
    const unsigned long g = gen_.load(std::memory_order_acquire);  // before run() bumps it
    while (workers_ < want) {
      const std::size_t idx = workers_++;
      std::thread([this, idx, g] { loop(idx, g); }).detach();
    }
  }

  void loop(std::size_t idx, unsigned long seen) {
    bool spin_after = true;  // as the last job said
    for (;;) {
      const auto posted = [&] { return gen_.load(std::memory_order_acquire) != seen; };
      if (!spin(posted, spin_after ? kWorkerSpin : std::chrono::microseconds(0))) {
        std::unique_lock<std::mutex> lk(m_);
        cv_work_.wait(lk, posted);
      }
      PoolJob job;
      {  // the generation and its job are read together: run() writes both under m_
        std::lock_guard<std::mutex> lk(m_);
        seen = gen_.load(std::memory_order_relaxed);
        job = job_;
      }
      spin_after = job.spin;
      const std::size_t t = idx + 1;
      if (t >= job.parts) continue;  // this job needs fewer workers
      const std::size_t b = t * job.chunk, e = std::min(job.n, b + job.chunk);
      try {
        if (b < e) job.call(job.ctx, b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(m_);
        if (!error_) error_ = std::current_exception();
      }
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(m_);
        cv_done_.notify_all();
      }
    }
  }

  std::mutex m_;
  std::condition_variable cv_work_, cv_done_;
  std::atomic<unsigned long> gen_{0};
  std::atomic<int> pending_{0};
  PoolJob job_;
  std::exception_ptr error_;
  std::size_t workers_ = 0;
};

// The process's pool.  It is never destroyed (workers may still be asleep on it at exit), and a
// forked child, which inherits the memory but not the threads, starts a fresh one.
inline Pool& pool() {
  static std::mutex guard;
  static Pool* p = nullptr;
  static pid_t owner = 0;
  std::lock_guard<std::mutex> lk(guard);
  const pid_t me = getpid();
  if (p == nullptr || owner != me) {
    p = new Pool();  // a parent's pool, if any, is abandoned in the child on purpose
    owner = me;
  }
  return *p;
}

// Marks the threads inside a pool job, so that a nested parallel_for runs inline.
inline bool& in_parallel_region() {
  thread_local bool flag = false;
  return flag;
}

// grain: the fewest items worth a thread of their own.
template <class Fn> void parallel_for(std::size_t n, Fn&& fn, std::size_t grain = kGrain) {
  const std::size_t want = std::min<std::size_t>(thread_setting(), (n + grain - 1) / grain);
  if (want <= 1 || in_parallel_region()) {
    fn(std::size_t(0), n);
    return;
  }
  // Chunks are multiples of 64 items (for element loops: threads never share a cache line of
  // output) unless the grain is finer than that.
  const std::size_t align = grain >= 64 ? 64 : 1;
  const std::size_t chunk = ((n + want - 1) / want + align - 1) / align * align;
  const std::size_t parts = (n + chunk - 1) / chunk;
  if (parts <= 1) {
    fn(std::size_t(0), n);
    return;
  }
  using F = std::remove_reference_t<Fn>;
  PoolJob job;
  job.call = [](void* ctx, std::size_t b, std::size_t e) {
    bool& flag = in_parallel_region();
    const bool was = flag;
    flag = true;
    struct Reset {
      bool& f;
      bool v;
      ~Reset() { f = v; }
    } reset{flag, was};
    (*static_cast<F*>(ctx))(b, e);
  };
  job.ctx = const_cast<void*>(static_cast<const void*>(&fn));
  job.n = n;
  job.chunk = chunk;
  job.parts = parts;
  static const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  job.spin = thread_setting() <= cores;
  Pool& p = pool();
  std::unique_lock<std::mutex> lk(p.submit, std::try_to_lock);
  if (!lk.owns_lock()) {  // another thread's job holds the pool: do this one here
    fn(std::size_t(0), n);
    return;
  }
  p.run(job);
}

}  // namespace mfcpu
