// Portability layer: the headers in this folder are compiled by a C++17 host compiler and,
// unchanged, by NVRTC for the GPU.  Device-callable code uses only these integer types,
// no exceptions, no iostream, no STL containers.
#pragma once

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define MF_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
// Forced: the loops in csrc/ vectorise only when the whole projection is inlined into them,
// and GCC's unit-growth limit stops inlining in a module with many instantiations.
#define MF_HD inline __attribute__((always_inline))
#else
#define MF_HD inline
#endif

#if defined(__CUDACC_RTC__)
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef signed char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long long int64_t;
#else
#include <cstdint>
#include <cstring>
#endif

namespace mf {

// Bit-exact reinterpretation (std::bit_cast is C++20; memcpy/intrinsics are both exact).
MF_HD uint64_t bits_of(double x) {
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
  return static_cast<uint64_t>(__double_as_longlong(x));
#else
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}
MF_HD double double_of(uint64_t u) {
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}
MF_HD uint32_t bits_of(float x) {
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
  return static_cast<uint32_t>(__float_as_uint(x));
#else
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}
MF_HD float float_of(uint32_t u) {
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
  return __uint_as_float(u);
#else
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

// Exact power of two as a double for -1074 <= e <= 1023 (subnormal results included).
MF_HD double pow2(int32_t e) {
  return e >= -1022 ? double_of(static_cast<uint64_t>(e + 1023) << 52)
                    : double_of(uint64_t(1) << (e + 1074));
}

// Index of the highest set bit of a non-zero 64-bit integer.
MF_HD int32_t top_bit(uint64_t v) {
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
  return 63 - __clzll(static_cast<long long>(v));
#else
  return 63 - __builtin_clzll(v);
#endif
}

template <class T> MF_HD T min_of(T a, T b) { return a < b ? a : b; }
template <class T> MF_HD T max_of(T a, T b) { return a < b ? b : a; }

}  // namespace mf
