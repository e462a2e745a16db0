// Register-blocked binary32 GEMM micro-kernel for the sequential float32 accumulator
// (module.cpp: matmul_f32_seq).  Each C element is accumulated in k order with a fused
// multiply-add, c <- fma(a, b, c): one IEEE rounding per step, so the bits are those of the
// sequential binary32 accumulator whenever products are exact in binary32 (linalg.py checks).
// Binding-side code (CPU only): it holds no bit-level algorithm of its own.
#pragma once
#include <algorithm>
#include <cstddef>
#include <limits>
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace mfcpu {

#if defined(__AVX512F__)
using vf32 = __m512;
constexpr int kVW = 16, kNV = 4;  // 6 x 4 zmm accumulators of 32 registers
inline vf32 v_load(const float* p) { return _mm512_loadu_ps(p); }
inline vf32 v_bcast(float x) { return _mm512_set1_ps(x); }
inline vf32 v_fma(vf32 a, vf32 b, vf32 c) { return _mm512_fmadd_ps(a, b, c); }
inline void v_store(float* p, vf32 v) { _mm512_storeu_ps(p, v); }
inline vf32 v_zero() { return _mm512_setzero_ps(); }
#elif defined(__AVX2__) && defined(__FMA__)
using vf32 = __m256;
constexpr int kVW = 8, kNV = 2;  // 6 x 2 ymm accumulators of 16 registers
inline vf32 v_load(const float* p) { return _mm256_loadu_ps(p); }
inline vf32 v_bcast(float x) { return _mm256_set1_ps(x); }
inline vf32 v_fma(vf32 a, vf32 b, vf32 c) { return _mm256_fmadd_ps(a, b, c); }
inline void v_store(float* p, vf32 v) { _mm256_storeu_ps(p, v); }
inline vf32 v_zero() { return _mm256_setzero_ps(); }
#else
struct vf32 { float x[4]; };  // portable fallback: same arithmetic, scalar fmaf
constexpr int kVW = 4, kNV = 2;
inline vf32 v_load(const float* p) { return vf32{{p[0], p[1], p[2], p[3]}}; }
inline vf32 v_bcast(float x) { return vf32{{x, x, x, x}}; }
inline vf32 v_fma(vf32 a, vf32 b, vf32 c) {
  for (int i = 0; i < 4; ++i) c.x[i] = __builtin_fmaf(a.x[i], b.x[i], c.x[i]);
  return c;
}
inline void v_store(float* p, vf32 v) { for (int i = 0; i < 4; ++i) p[i] = v.x[i]; }
inline vf32 v_zero() { return vf32{{0.f, 0.f, 0.f, 0.f}}; }
#endif

constexpr int kGemmRB = 6;              // rows of C per tile
constexpr int kGemmCB = kVW * kNV;      // columns of C per tile (= packed panel width)

// C[i0 .. i0+ni, j0 .. j0+nj] from rows of A (row-major, K columns) and one packed panel of B
// (K rows of kGemmCB floats, zero-padded).  ni <= kGemmRB, nj <= kGemmCB.
inline void gemm_f32_tile(const float* a, const float* panel, float* c, int K, int N, int i0,
                          int ni, int j0, int nj) {
  const float* ar[kGemmRB];
  for (int r = 0; r < kGemmRB; ++r) ar[r] = a + std::size_t(i0 + std::min(r, ni - 1)) * K;
  vf32 acc[kGemmRB][kNV];
#pragma GCC unroll 8
  for (int r = 0; r < kGemmRB; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) acc[r][v] = v_zero();
  for (int k = 0; k < K; ++k) {
    const float* brow = panel + std::size_t(k) * kGemmCB;
    vf32 bv[kNV];
#pragma GCC unroll 4
    for (int v = 0; v < kNV; ++v) bv[v] = v_load(brow + v * kVW);
#pragma GCC unroll 8
    for (int r = 0; r < kGemmRB; ++r) {
      const vf32 av = v_bcast(ar[r][k]);
#pragma GCC unroll 4
      for (int v = 0; v < kNV; ++v) acc[r][v] = v_fma(av, bv[v], acc[r][v]);
    }
  }
  float out[kGemmRB][kGemmCB];
  for (int r = 0; r < kGemmRB; ++r)
    for (int v = 0; v < kNV; ++v) v_store(&out[r][v * kVW], acc[r][v]);
  // Arithmetic NaNs leave as the canonical +NaN (arith.h), whatever payload and sign the FMA
  // produced.
  const float qnan = std::numeric_limits<float>::quiet_NaN();
  for (int r = 0; r < ni; ++r)
    for (int j = 0; j < nj; ++j) {
      const float v = out[r][j];
      c[std::size_t(i0 + r) * N + j0 + j] = v != v ? qnan : v;
    }
}

}  // namespace mfcpu
