// Blocked, packed SGEMM. Each member of the context's pool owns a disjoint slab of C (rows or
// columns) and runs the classic 3-level blocking (NC x KC panel of B, MC x KC panel of A) with a
// 6 x 16 register-tile micro-kernel written with GCC vector extensions. On x86-64 an AVX2+FMA
// micro-kernel is chosen at load time when the CPU has those features; otherwise a 128-bit one.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <cstring>
#include <vector>

#include "cpu_ops.h"

namespace mosaic {
namespace {

constexpr int MR = 6;
constexpr int NR = 16;
constexpr int64_t KC = 256;
constexpr int64_t MC = 96;   // multiple of MR
constexpr int64_t NC = 512;  // multiple of NR

typedef float v8sf __attribute__((vector_size(32)));
typedef float v4sf __attribute__((vector_size(16)));

// Stores the MR x NR accumulator tile into C (only the valid mr x nr corner).
inline void storeTile(const float (&acc)[MR][NR], float alpha, float* C, int64_t ldc, int mr, int nr) {
  for (int r = 0; r < mr; ++r) {
    float* crow = C + r * ldc;
    for (int c = 0; c < nr; ++c) crow[c] += alpha * acc[r][c];
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define MOSAIC_HAVE_AVX2_KERNEL 1
// acc = Ap(kc x MR)^T * Bp(kc x NR) with 12 ymm accumulators (AVX2 + FMA).
__attribute__((target("avx2,fma"))) void microKernelAvx2(int64_t kc, const float* Ap, const float* Bp,
                                                         float alpha, float* C, int64_t ldc, int mr, int nr) {
  v8sf c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {};
  v8sf c30 = {}, c31 = {}, c40 = {}, c41 = {}, c50 = {}, c51 = {};
  for (int64_t p = 0; p < kc; ++p) {
    v8sf b0, b1;
    std::memcpy(&b0, Bp + p * NR, sizeof(v8sf));
    std::memcpy(&b1, Bp + p * NR + 8, sizeof(v8sf));
    const float* a = Ap + p * MR;
    c00 += a[0] * b0; c01 += a[0] * b1;
    c10 += a[1] * b0; c11 += a[1] * b1;
    c20 += a[2] * b0; c21 += a[2] * b1;
    c30 += a[3] * b0; c31 += a[3] * b1;
    c40 += a[4] * b0; c41 += a[4] * b1;
    c50 += a[5] * b0; c51 += a[5] * b1;
  }
  alignas(32) float acc[MR][NR];
  std::memcpy(&acc[0][0], &c00, 32); std::memcpy(&acc[0][8], &c01, 32);
  std::memcpy(&acc[1][0], &c10, 32); std::memcpy(&acc[1][8], &c11, 32);
  std::memcpy(&acc[2][0], &c20, 32); std::memcpy(&acc[2][8], &c21, 32);
  std::memcpy(&acc[3][0], &c30, 32); std::memcpy(&acc[3][8], &c31, 32);
  std::memcpy(&acc[4][0], &c40, 32); std::memcpy(&acc[4][8], &c41, 32);
  std::memcpy(&acc[5][0], &c50, 32); std::memcpy(&acc[5][8], &c51, 32);
  storeTile(acc, alpha, C, ldc, mr, nr);
}
#endif

// Portable kernel: 128-bit vectors (SSE2 on x86-64, NEON on arm64 via GCC's generic vectors).
void microKernelGeneric(int64_t kc, const float* Ap, const float* Bp, float alpha, float* C, int64_t ldc,
                        int mr, int nr) {
  v4sf c[MR][4] = {};
  for (int64_t p = 0; p < kc; ++p) {
    v4sf b[4];
    std::memcpy(&b[0], Bp + p * NR, sizeof(b));
    const float* a = Ap + p * MR;
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q) c[r][q] += a[r] * b[q];
    }
  }
  alignas(16) float acc[MR][NR];
  std::memcpy(&acc[0][0], &c[0][0], sizeof(acc));
  storeTile(acc, alpha, C, ldc, mr, nr);
}

using MicroKernel = void (*)(int64_t, const float*, const float*, float, float*, int64_t, int, int);

// Chosen once by CPU features (not by CPU model, so AMD and Intel both get the AVX2 path).
// MOSAIC_GEMM_KERNEL=generic forces the portable kernel (for testing it on AVX2 machines).
MicroKernel pickKernel() {
  const char* force = std::getenv("MOSAIC_GEMM_KERNEL");
  if (force && std::string(force) == "generic") return microKernelGeneric;
#ifdef MOSAIC_HAVE_AVX2_KERNEL
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return microKernelAvx2;
#endif
  return microKernelGeneric;
}

const MicroKernel microKernel = pickKernel();

// op(A)[i][p] for row-major A: m x k (lda = k) or, transposed, k x m (lda = m).
void packA(bool transA, const float* A, int64_t m, int64_t k, int64_t i0, int64_t mc, int64_t p0,
           int64_t kc, float* out) {
  for (int64_t ip = 0; ip < mc; ip += MR) {
    float* dst = out + ip * kc;
    for (int64_t p = 0; p < kc; ++p) {
      for (int r = 0; r < MR; ++r) {
        int64_t i = i0 + ip + r;
        float v = 0.0f;
        if (ip + r < mc) v = transA ? A[(p0 + p) * m + i] : A[i * k + p0 + p];
        dst[p * MR + r] = v;
      }
    }
  }
}

// op(B)[p][j] for row-major B: k x n (ldb = n) or, transposed, n x k (ldb = k).
void packB(bool transB, const float* B, int64_t n, int64_t k, int64_t p0, int64_t kc, int64_t j0,
           int64_t nc, float* out) {
  for (int64_t jp = 0; jp < nc; jp += NR) {
    float* dst = out + jp * kc;
    int64_t width = std::min<int64_t>(NR, nc - jp);
    for (int64_t p = 0; p < kc; ++p) {
      float* row = dst + p * NR;
      if (!transB) {
        const float* src = B + (p0 + p) * n + j0 + jp;
        for (int64_t c = 0; c < width; ++c) row[c] = src[c];
      } else {
        for (int64_t c = 0; c < width; ++c) row[c] = B[(j0 + jp + c) * k + p0 + p];
      }
      for (int64_t c = width; c < NR; ++c) row[c] = 0.0f;
    }
  }
}

void gemmBlock(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
               const float* B, float beta, float* C, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  if (i1 <= i0 || j1 <= j0) return;
  for (int64_t i = i0; i < i1; ++i) {
    float* row = C + i * n;
    if (beta == 0.0f) {
      for (int64_t j = j0; j < j1; ++j) row[j] = 0.0f;
    } else if (beta != 1.0f) {
      for (int64_t j = j0; j < j1; ++j) row[j] *= beta;
    }
  }
  if (alpha == 0.0f || k == 0) return;
  std::vector<float> bPack(static_cast<size_t>(KC * NC) + 64);
  std::vector<float> aPack(static_cast<size_t>(KC * MC) + 64);
  for (int64_t jc = j0; jc < j1; jc += NC) {
    int64_t nc = std::min(NC, j1 - jc);
    int64_t ncPadded = (nc + NR - 1) / NR * NR;
    for (int64_t pc = 0; pc < k; pc += KC) {
      int64_t kc = std::min(KC, k - pc);
      packB(transB, B, n, k, pc, kc, jc, nc, bPack.data());
      for (int64_t ic = i0; ic < i1; ic += MC) {
        int64_t mc = std::min(MC, i1 - ic);
        packA(transA, A, m, k, ic, mc, pc, kc, aPack.data());
        for (int64_t jr = 0; jr < ncPadded; jr += NR) {
          int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
          for (int64_t ir = 0; ir < mc; ir += MR) {
            int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
            microKernel(kc, aPack.data() + ir * kc, bPack.data() + jr * kc, alpha,
                        C + (ic + ir) * n + jc + jr, n, mr, nr);
          }
        }
      }
    }
  }
}

}  // namespace

void gemm(PinnedPool& pool, bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha,
          const float* A, const float* B, float beta, float* C) {
  // Small problems: one thread (waking the team costs more than the work).
  int64_t flops = 2 * m * n * k;
  if (flops < 200000 || pool.size() == 1) {
    gemmBlock(transA, transB, m, n, k, alpha, A, B, beta, C, 0, m, 0, n);
    return;
  }
  bool byRows = m >= n || n < NR * pool.size();
  pool.run([&](int tid, int nth) {
    if (byRows) {
      int64_t panels = (m + MR - 1) / MR, b, e;
      PinnedPool::split(panels, tid, nth, &b, &e);
      gemmBlock(transA, transB, m, n, k, alpha, A, B, beta, C, std::min(m, b * MR),
                std::min(m, e * MR), 0, n);
    } else {
      int64_t panels = (n + NR - 1) / NR, b, e;
      PinnedPool::split(panels, tid, nth, &b, &e);
      gemmBlock(transA, transB, m, n, k, alpha, A, B, beta, C, 0, m, std::min(n, b * NR),
                std::min(n, e * NR));
    }
  });
}

}  // namespace mosaic
