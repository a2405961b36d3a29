// The memory guard and the CPU kernels of every op (GEMM itself is in gemm.cc). The op set, its
// schemas and buffer sizes are generated from src/engine/ops.json (ops_generated.h).
// Reductions accumulate in double so the results track the float64 JS reference closely.
#include "cpu_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace mosaic {

const OpSchema* findOpSchema(const std::string& name) {
  for (const OpSchema& s : kOpSchemas) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

// A guard, not a validation: src/engine/native.ts validateGraph checks every op (fields, ranges,
// aliasing) with messages for a person before a graph reaches the addon, and this layer trusts it.
// What is checked here is only what would otherwise write outside a buffer, so that the raw addon
// (a graph that bypassed validateGraph) cannot corrupt memory: integers in [0, 2^40], buffer
// indices in range and every buffer as long as the manifest's size expression needs.
void guardOp(const OpDesc& op, const std::vector<BufferView>& buffers, const std::string& where) {
  constexpr int64_t kMaxElems = int64_t(1) << 40;
  const OpSchema& s = schemaOf(op.kind);
  for (int j = 0; j < s.nInts; ++j) {
    if (op.i[j] < 0 || op.i[j] > kMaxElems) {
      throw EngineError("E_BAD_OP", where + ": " + s.ints[j] + " = " + std::to_string(op.i[j]) +
                                        " is outside [0, 2^40] (the graph bypassed validateGraph)");
    }
  }
  BufferNeed needs[kMaxOpBuffers];
  const int count = bufferNeeds(op, needs);
  for (int k = 0; k < count; ++k) {
    const BufferNeed& nd = needs[k];
    const int idx = op.buf[nd.slot];
    const char* name = s.buffers[nd.slot];
    if (idx < 0 || static_cast<size_t>(idx) >= buffers.size()) {
      throw EngineError("E_BUFFER_RANGE", where + ": buffer " + name + " = " + std::to_string(idx) + " is not one of the " +
                                              std::to_string(buffers.size()) + " buffers");
    }
    if (nd.elems > kMaxElems || static_cast<uint64_t>(nd.elems) > buffers[idx].length) {
      throw EngineError("E_BUFFER_RANGE", where + ": buffer " + name + " (#" + std::to_string(idx) + ") needs " +
                                              std::to_string(nd.elems) + " elements but has " +
                                              std::to_string(buffers[idx].length));
    }
  }
}

namespace {

template <typename F>
void parallelRange(PinnedPool& pool, int64_t count, int64_t minPerThread, F&& fn) {
  if (pool.size() == 1 || count < 2 * minPerThread) {
    fn(int64_t(0), count, 0);
    return;
  }
  pool.run([&](int tid, int nth) {
    int64_t b, e;
    PinnedPool::split(count, tid, nth, &b, &e);
    if (b < e) fn(b, e, tid);
  });
}

inline float geluF(double x) {
  const double c = 0.7978845608028654;  // sqrt(2/pi)
  double u = c * (x + 0.044715 * x * x * x);
  return static_cast<float>(0.5 * x * (1.0 + std::tanh(u)));
}
inline double geluGrad(double x) {
  const double c = 0.7978845608028654;
  double u = c * (x + 0.044715 * x * x * x);
  double t = std::tanh(u);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
}

int64_t labelAt(const float* labels, int64_t r, int64_t cols) {
  float l = labels[r];
  if (!(l >= 0) || l >= static_cast<float>(cols) || l != std::floor(l)) {
    throw EngineError("E_BAD_VALUE", "label " + std::to_string(l) + " in row " + std::to_string(r) +
                                         " is not a class index in [0, " + std::to_string(cols) + ")");
  }
  return static_cast<int64_t>(l);
}

}  // namespace

void runOp(const OpDesc& op, const std::vector<BufferView>& B, PinnedPool& pool) {
  switch (op.kind) {
    case OpKind::Gemm: {
      const GemmArgs arg = GemmArgs::of(op, B);
      gemm(pool, arg.transA, arg.transB, arg.m, arg.n, arg.k, static_cast<float>(arg.alpha), arg.a, arg.b,
           static_cast<float>(arg.beta), arg.c);
      return;
    }
    case OpKind::BiasAdd: {
      const BiasAddArgs arg = BiasAddArgs::of(op, B);
      float* x = arg.x;
      const float* bias = arg.bias;
      int64_t cols = arg.cols;
      parallelRange(pool, arg.rows, 16, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          float* row = x + r * cols;
          for (int64_t c = 0; c < cols; ++c) row[c] += bias[c];
        }
      });
      return;
    }
    case OpKind::Relu: {
      const ReluArgs arg = ReluArgs::of(op, B);
      const float* x = arg.x;
      float* y = arg.y;
      parallelRange(pool, arg.n, 1 << 14, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) y[j] = x[j] > 0.0f ? x[j] : 0.0f;
      });
      return;
    }
    case OpKind::ReluBackward: {
      const ReluBackwardArgs arg = ReluBackwardArgs::of(op, B);
      const float* x = arg.x;
      const float* dy = arg.dy;
      float* dx = arg.dx;
      parallelRange(pool, arg.n, 1 << 14, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) dx[j] = x[j] > 0.0f ? dy[j] : 0.0f;
      });
      return;
    }
    case OpKind::Gelu: {
      const GeluArgs arg = GeluArgs::of(op, B);
      const float* x = arg.x;
      float* y = arg.y;
      parallelRange(pool, arg.n, 1 << 12, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) y[j] = geluF(x[j]);
      });
      return;
    }
    case OpKind::GeluBackward: {
      const GeluBackwardArgs arg = GeluBackwardArgs::of(op, B);
      const float* x = arg.x;
      const float* dy = arg.dy;
      float* dx = arg.dx;
      parallelRange(pool, arg.n, 1 << 12, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) dx[j] = static_cast<float>(dy[j] * geluGrad(x[j]));
      });
      return;
    }
    case OpKind::Softmax: {
      const SoftmaxArgs arg = SoftmaxArgs::of(op, B);
      const float* x = arg.x;
      float* y = arg.y;
      int64_t cols = arg.cols;
      parallelRange(pool, arg.rows, 8, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          const float* xr = x + r * cols;
          float* yr = y + r * cols;
          float mx = -std::numeric_limits<float>::infinity();
          for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, xr[c]);
          double sum = 0;
          for (int64_t c = 0; c < cols; ++c) {
            double ex = std::exp(static_cast<double>(xr[c]) - mx);
            yr[c] = static_cast<float>(ex);
            sum += ex;
          }
          double inv = 1.0 / sum;
          for (int64_t c = 0; c < cols; ++c) yr[c] = static_cast<float>(yr[c] * inv);
        }
      });
      return;
    }
    case OpKind::SoftmaxBackward: {
      const SoftmaxBackwardArgs arg = SoftmaxBackwardArgs::of(op, B);
      const float* y = arg.y;
      const float* dy = arg.dy;
      float* dx = arg.dx;
      int64_t cols = arg.cols;
      parallelRange(pool, arg.rows, 8, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          const float* yr = y + r * cols;
          const float* dyr = dy + r * cols;
          float* dxr = dx + r * cols;
          double dot = 0;
          for (int64_t c = 0; c < cols; ++c) dot += static_cast<double>(yr[c]) * dyr[c];
          for (int64_t c = 0; c < cols; ++c) dxr[c] = static_cast<float>(yr[c] * (dyr[c] - dot));
        }
      });
      return;
    }
    case OpKind::Attention: {
      const AttentionArgs arg = AttentionArgs::of(op, B);
      const float *q = arg.q, *k = arg.k, *v = arg.v;
      float *out = arg.out, *probs = arg.probs;
      int64_t batch = arg.batch, sq = arg.seqQ, sk = arg.seqK, d = arg.dim;
      bool causal = arg.causal;
      double scale = arg.scale;
      parallelRange(pool, batch * sq, 2, [&](int64_t b0, int64_t e0, int) {
        std::vector<double> s(static_cast<size_t>(sk));
        std::vector<double> o(static_cast<size_t>(d));
        for (int64_t row = b0; row < e0; ++row) {
          int64_t b = row / sq, i = row % sq;
          const float* qi = q + row * d;
          const float* kb = k + b * sk * d;
          const float* vb = v + b * sk * d;
          float* pr = probs + row * sk;
          int64_t limit = causal ? std::min(sk, i + (sk - sq) + 1) : sk;  // keys [0, limit) visible
          if (limit < 0) limit = 0;
          double mx = -std::numeric_limits<double>::infinity();
          for (int64_t j = 0; j < limit; ++j) {
            const float* kj = kb + j * d;
            double dot = 0;
            for (int64_t t = 0; t < d; ++t) dot += static_cast<double>(qi[t]) * kj[t];
            s[j] = dot * scale;
            mx = std::max(mx, s[j]);
          }
          double sum = 0;
          for (int64_t j = 0; j < limit; ++j) {
            s[j] = std::exp(s[j] - mx);
            sum += s[j];
          }
          std::fill(o.begin(), o.end(), 0.0);
          for (int64_t j = 0; j < sk; ++j) {
            double p = j < limit ? s[j] / sum : 0.0;
            pr[j] = static_cast<float>(p);
            if (p == 0.0) continue;
            const float* vj = vb + j * d;
            for (int64_t t = 0; t < d; ++t) o[t] += p * vj[t];
          }
          float* oi = out + row * d;
          for (int64_t t = 0; t < d; ++t) oi[t] = static_cast<float>(o[t]);
        }
      });
      return;
    }
    case OpKind::AttentionBackward: {
      const AttentionBackwardArgs arg = AttentionBackwardArgs::of(op, B);
      const float *q = arg.q, *k = arg.k, *v = arg.v, *probs = arg.probs, *dOut = arg.dOut;
      float *dQ = arg.dQ, *dK = arg.dK, *dV = arg.dV;
      int64_t batch = arg.batch, sq = arg.seqQ, sk = arg.seqK, d = arg.dim;
      double scale = arg.scale;
      std::vector<float> dS(static_cast<size_t>(batch * sq * sk));
      // Pass 1, per query row: dP = dO V^T, dS = P * (dP - rowsum(P * dP)), dQ = scale dS K.
      parallelRange(pool, batch * sq, 2, [&](int64_t b0, int64_t e0, int) {
        std::vector<double> dp(static_cast<size_t>(sk));
        std::vector<double> acc(static_cast<size_t>(d));
        for (int64_t row = b0; row < e0; ++row) {
          int64_t b = row / sq;
          const float* pr = probs + row * sk;
          const float* doi = dOut + row * d;
          double c = 0;
          for (int64_t j = 0; j < sk; ++j) {
            const float* vj = v + (b * sk + j) * d;
            double dot = 0;
            for (int64_t t = 0; t < d; ++t) dot += static_cast<double>(doi[t]) * vj[t];
            dp[j] = dot;
            c += pr[j] * dot;
          }
          std::fill(acc.begin(), acc.end(), 0.0);
          float* dsr = dS.data() + row * sk;
          for (int64_t j = 0; j < sk; ++j) {
            double ds = pr[j] * (dp[j] - c);
            dsr[j] = static_cast<float>(ds);
            if (ds == 0.0) continue;
            const float* kj = k + (b * sk + j) * d;
            for (int64_t t = 0; t < d; ++t) acc[t] += ds * kj[t];
          }
          float* dqi = dQ + row * d;
          for (int64_t t = 0; t < d; ++t) dqi[t] = static_cast<float>(scale * acc[t]);
        }
      });
      // Pass 2, per key row: dK = scale dS^T Q, dV = P^T dO.
      parallelRange(pool, batch * sk, 2, [&](int64_t b0, int64_t e0, int) {
        std::vector<double> ak(static_cast<size_t>(d)), av(static_cast<size_t>(d));
        for (int64_t krow = b0; krow < e0; ++krow) {
          int64_t b = krow / sk, j = krow % sk;
          std::fill(ak.begin(), ak.end(), 0.0);
          std::fill(av.begin(), av.end(), 0.0);
          for (int64_t i = 0; i < sq; ++i) {
            int64_t row = b * sq + i;
            double ds = dS[row * sk + j];
            double p = probs[row * sk + j];
            const float* qi = q + row * d;
            const float* doi = dOut + row * d;
            if (ds != 0.0) for (int64_t t = 0; t < d; ++t) ak[t] += ds * qi[t];
            if (p != 0.0) for (int64_t t = 0; t < d; ++t) av[t] += p * doi[t];
          }
          float* dkj = dK + krow * d;
          float* dvj = dV + krow * d;
          for (int64_t t = 0; t < d; ++t) {
            dkj[t] = static_cast<float>(scale * ak[t]);
            dvj[t] = static_cast<float>(av[t]);
          }
        }
      });
      return;
    }
    case OpKind::LayerNorm: {
      const LayerNormArgs arg = LayerNormArgs::of(op, B);
      const float *x = arg.x, *gamma = arg.gamma, *beta = arg.beta;
      float *y = arg.y, *mean = arg.mean, *rstd = arg.rstd;
      int64_t cols = arg.cols;
      double eps = arg.eps;
      parallelRange(pool, arg.rows, 8, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          const float* xr = x + r * cols;
          float* yr = y + r * cols;
          double mu = 0;
          for (int64_t c = 0; c < cols; ++c) mu += xr[c];
          mu /= cols;
          double var = 0;
          for (int64_t c = 0; c < cols; ++c) {
            double t = xr[c] - mu;
            var += t * t;
          }
          var /= cols;
          double rs = 1.0 / std::sqrt(var + eps);
          mean[r] = static_cast<float>(mu);
          rstd[r] = static_cast<float>(rs);
          for (int64_t c = 0; c < cols; ++c) yr[c] = static_cast<float>((xr[c] - mu) * rs * gamma[c] + beta[c]);
        }
      });
      return;
    }
    case OpKind::LayerNormBackward: {
      const LayerNormBackwardArgs arg = LayerNormBackwardArgs::of(op, B);
      const float *x = arg.x, *gamma = arg.gamma, *mean = arg.mean, *rstd = arg.rstd, *dy = arg.dy;
      float *dx = arg.dx, *dGamma = arg.dGamma, *dBeta = arg.dBeta;
      int64_t rows = arg.rows, cols = arg.cols;
      // dGamma/dBeta first (reads dy), then dx.
      parallelRange(pool, cols, 16, [&](int64_t b, int64_t e, int) {
        for (int64_t c = b; c < e; ++c) {
          double g = 0, bsum = 0;
          for (int64_t r = 0; r < rows; ++r) {
            double xhat = (x[r * cols + c] - static_cast<double>(mean[r])) * rstd[r];
            g += dy[r * cols + c] * xhat;
            bsum += dy[r * cols + c];
          }
          dGamma[c] = static_cast<float>(g);
          dBeta[c] = static_cast<float>(bsum);
        }
      });
      parallelRange(pool, rows, 8, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          const float* xr = x + r * cols;
          const float* dyr = dy + r * cols;
          float* dxr = dx + r * cols;
          double mu = mean[r], rs = rstd[r];
          double a = 0, bb = 0;
          for (int64_t c = 0; c < cols; ++c) {
            double g = static_cast<double>(dyr[c]) * gamma[c];
            a += g;
            bb += g * (xr[c] - mu) * rs;
          }
          a /= cols;
          bb /= cols;
          for (int64_t c = 0; c < cols; ++c) {
            double g = static_cast<double>(dyr[c]) * gamma[c];
            double xhat = (xr[c] - mu) * rs;
            dxr[c] = static_cast<float>(rs * (g - a - xhat * bb));
          }
        }
      });
      return;
    }
    case OpKind::MseLoss: {
      const MseLossArgs arg = MseLossArgs::of(op, B);
      const float *pred = arg.pred, *target = arg.target;
      int64_t n = arg.n;
      std::vector<double> partial(static_cast<size_t>(pool.size()), 0.0);
      parallelRange(pool, n, 1 << 14, [&](int64_t b, int64_t e, int tid) {
        double s = 0;
        for (int64_t j = b; j < e; ++j) {
          double t = static_cast<double>(pred[j]) - target[j];
          s += t * t;
        }
        partial[tid] = s;
      });
      double total = 0;
      for (double s : partial) total += s;
      arg.loss[0] = static_cast<float>(total / n);
      return;
    }
    case OpKind::MseLossBackward: {
      const MseLossBackwardArgs arg = MseLossBackwardArgs::of(op, B);
      const float *pred = arg.pred, *target = arg.target;
      float* dPred = arg.dPred;
      int64_t n = arg.n;
      double k2 = 2.0 / n;
      parallelRange(pool, n, 1 << 14, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) dPred[j] = static_cast<float>(k2 * (static_cast<double>(pred[j]) - target[j]));
      });
      return;
    }
    case OpKind::SoftmaxCrossEntropy: {
      const SoftmaxCrossEntropyArgs arg = SoftmaxCrossEntropyArgs::of(op, B);
      const float *logits = arg.logits, *labels = arg.labels;
      float* probs = arg.probs;
      int64_t rows = arg.rows, cols = arg.cols;
      for (int64_t r = 0; r < rows; ++r) labelAt(labels, r, cols);  // validate before writing
      std::vector<double> partial(static_cast<size_t>(pool.size()), 0.0);
      parallelRange(pool, rows, 8, [&](int64_t b, int64_t e, int tid) {
        double s = 0;
        for (int64_t r = b; r < e; ++r) {
          const float* xr = logits + r * cols;
          float* pr = probs + r * cols;
          double mx = -std::numeric_limits<double>::infinity();
          for (int64_t c = 0; c < cols; ++c) mx = std::max(mx, static_cast<double>(xr[c]));
          double sum = 0;
          for (int64_t c = 0; c < cols; ++c) sum += std::exp(xr[c] - mx);
          double lse = std::log(sum);
          for (int64_t c = 0; c < cols; ++c) pr[c] = static_cast<float>(std::exp(xr[c] - mx - lse));
          s += lse - (xr[labelAt(labels, r, cols)] - mx);
        }
        partial[tid] = s;
      });
      double total = 0;
      for (double s : partial) total += s;
      arg.loss[0] = static_cast<float>(total / rows);
      return;
    }
    case OpKind::SoftmaxCrossEntropyBackward: {
      const SoftmaxCrossEntropyBackwardArgs arg = SoftmaxCrossEntropyBackwardArgs::of(op, B);
      const float *probs = arg.probs, *labels = arg.labels;
      float* d = arg.dLogits;
      int64_t rows = arg.rows, cols = arg.cols;
      for (int64_t r = 0; r < rows; ++r) labelAt(labels, r, cols);
      double inv = 1.0 / rows;
      parallelRange(pool, rows, 8, [&](int64_t b, int64_t e, int) {
        for (int64_t r = b; r < e; ++r) {
          int64_t label = labelAt(labels, r, cols);
          for (int64_t c = 0; c < cols; ++c) {
            double g = probs[r * cols + c] - (c == label ? 1.0 : 0.0);
            d[r * cols + c] = static_cast<float>(g * inv);
          }
        }
      });
      return;
    }
    case OpKind::Sgd: {
      const SgdArgs arg = SgdArgs::of(op, B);
      float* p = arg.param;
      const float* g = arg.grad;
      double lr = arg.lr, wd = arg.weightDecay;
      parallelRange(pool, arg.n, 1 << 14, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) p[j] = static_cast<float>(p[j] - lr * (g[j] + wd * p[j]));
      });
      return;
    }
    case OpKind::Adam: {
      const AdamArgs arg = AdamArgs::of(op, B);
      float *p = arg.param, *m = arg.m, *v = arg.v;
      const float* g = arg.grad;
      double lr = arg.lr, b1 = arg.beta1, b2 = arg.beta2, eps = arg.eps, wd = arg.weightDecay;
      double t = static_cast<double>(arg.step);
      double c1 = 1.0 - std::pow(b1, t), c2 = 1.0 - std::pow(b2, t);
      parallelRange(pool, arg.n, 1 << 13, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) {
          double gj = g[j] + wd * p[j];
          double mj = b1 * m[j] + (1.0 - b1) * gj;
          double vj = b2 * v[j] + (1.0 - b2) * gj * gj;
          m[j] = static_cast<float>(mj);
          v[j] = static_cast<float>(vj);
          p[j] = static_cast<float>(p[j] - lr * (mj / c1) / (std::sqrt(vj / c2) + eps));
        }
      });
      return;
    }
    case OpKind::ReduceRows: {
      const ReduceRowsArgs arg = ReduceRowsArgs::of(op, B);
      const float* x = arg.x;
      float* y = arg.y;
      int64_t rows = arg.rows, cols = arg.cols;
      bool acc = arg.accumulate;
      parallelRange(pool, cols, 64, [&](int64_t b, int64_t e, int) {
        std::vector<double> s(static_cast<size_t>(e - b), 0.0);
        for (int64_t r = 0; r < rows; ++r) {
          const float* xr = x + r * cols;
          for (int64_t c = b; c < e; ++c) s[c - b] += xr[c];
        }
        for (int64_t c = b; c < e; ++c) y[c] = static_cast<float>(acc ? y[c] + s[c - b] : s[c - b]);
      });
      return;
    }
    case OpKind::Copy: {
      const CopyArgs arg = CopyArgs::of(op, B);
      const float* src = arg.src + arg.srcOffset;
      float* dst = arg.dst + arg.dstOffset;
      if (src == dst) return;
      parallelRange(pool, arg.n, 1 << 16, [&](int64_t b, int64_t e, int) {
        std::memcpy(dst + b, src + b, static_cast<size_t>(e - b) * sizeof(float));
      });
      return;
    }
    case OpKind::Accumulate: {
      const AccumulateArgs arg = AccumulateArgs::of(op, B);
      const float* src = arg.src + arg.srcOffset;
      float* dst = arg.dst + arg.dstOffset;
      float alpha = static_cast<float>(arg.alpha);
      parallelRange(pool, arg.n, 1 << 15, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j) dst[j] += alpha * src[j];
      });
      return;
    }
    case OpKind::Fill: {
      const FillArgs arg = FillArgs::of(op, B);
      float* dst = arg.dst + arg.offset;
      float value = static_cast<float>(arg.value);
      parallelRange(pool, arg.n, 1 << 16, [&](int64_t b, int64_t e, int) {
        std::fill(dst + b, dst + e, value);
      });
      return;
    }
  }
  // Every OpKind has a case above (-Werror=switch in binding.gyp makes a missing kernel a build error).
  throw EngineError("E_INTERNAL", std::string("no kernel for op ") + schemaOf(op.kind).name);
}

}  // namespace mosaic
