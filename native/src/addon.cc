// N-API surface of mosaic_native. Exception policy: NAPI_CPP_EXCEPTIONS. Argument decoding
// happens on the JS thread; Execute() sees only plain structs (GraphSpec) and raw pointers.
#include <napi.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "cpu_ops.h"
#include "cuda_backend.h"
#include "graph.h"
#include "thread_pool.h"

namespace mosaic {
namespace {

// The JS error class (src/errors.ts MosaicError), handed over once by setErrorClass when
// src/engine/native.ts loads the addon (the better-sqlite3 pattern). Per environment, so worker
// threads that load the addon keep their own.
struct AddonData {
  Napi::FunctionReference errorClass;
};

// An error with a stable code: `new MosaicError(code, message)` once the class is set, else (the
// addon required directly) a plain Error with a `code` property.
Napi::Error codedError(Napi::Env env, const std::string& code, const std::string& message) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr && !data->errorClass.IsEmpty()) {
    Napi::Object err = data->errorClass.New({Napi::String::New(env, code), Napi::String::New(env, message)});
    return Napi::Error(env, err);
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

// setErrorClass(ctor): the class every error of this addon is constructed with, as new ctor(code, message).
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) throw codedError(env, "E_INTERNAL", "setErrorClass expects a constructor");
  env.GetInstanceData<AddonData>()->errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

[[noreturn]] void throwCoded(Napi::Env env, const EngineError& e) { throw codedError(env, e.code(), e.what()); }

int64_t getInt(const Napi::Object& obj, const char* field, const std::string& where) {
  Napi::Value v = obj.Get(field);
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  if (!v.IsNumber()) {
    throw EngineError("E_BAD_OP", where + ": expected " + field + " to be a number but received " +
                                      (v.IsUndefined() ? "nothing" : "another type"));
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == static_cast<double>(static_cast<int64_t>(d)))) {
    throw EngineError("E_BAD_OP", where + ": expected " + field + " to be an integer but received " + std::to_string(d));
  }
  return static_cast<int64_t>(d);
}

double getNumber(const Napi::Object& obj, const char* field, const std::string& where) {
  Napi::Value v = obj.Get(field);
  if (!v.IsNumber()) throw EngineError("E_BAD_OP", where + ": expected " + field + " to be a number");
  return v.As<Napi::Number>().DoubleValue();
}

Napi::Array getArray(const Napi::Object& obj, const char* field, const std::string& where) {
  Napi::Value v = obj.Get(field);
  if (!v.IsArray()) throw EngineError("E_BAD_GRAPH", where + ": expected " + field + " to be an array");
  return v.As<Napi::Array>();
}

OpDesc decodeOp(const Napi::Value& v, const std::string& where) {
  if (!v.IsObject()) throw EngineError("E_BAD_OP", where + ": expected an op object");
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value name = o.Get("op");
  if (!name.IsString()) throw EngineError("E_BAD_OP", where + ": expected a string `op` field");
  std::string opName = name.As<Napi::String>().Utf8Value();
  const OpSchema* s = findOpSchema(opName);
  if (!s) throw EngineError("E_BAD_OP", where + ": unknown op \"" + opName + "\"");
  std::string w = where + " (" + opName + ")";
  OpDesc op;
  op.kind = s->kind;
  for (int j = 0; j < s->nBuffers; ++j) {
    int64_t idx = getInt(o, s->buffers[j], w);
    if (idx < 0 || idx > (1 << 30)) {
      throw EngineError("E_BUFFER_RANGE", w + ": buffer " + s->buffers[j] + " = " + std::to_string(idx) + " is not a buffer index");
    }
    op.buf[j] = static_cast<int>(idx);
  }
  for (int j = 0; j < s->nInts; ++j) op.i[j] = getInt(o, s->ints[j], w);
  for (int j = 0; j < s->nFloats; ++j) op.f[j] = getNumber(o, s->floats[j], w);
  return op;
}

// Decodes {contexts, tasks, buffers}; keeps references to the Float32Arrays in `refs`.
GraphSpec decodeGraph(const Napi::Object& spec, std::vector<Napi::ObjectReference>& refs) {
  GraphSpec g;
  Napi::Array bufs = getArray(spec, "buffers", "graph");
  for (uint32_t b = 0; b < bufs.Length(); ++b) {
    Napi::Value v = bufs.Get(b);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      throw EngineError("E_BUFFER_RANGE", "buffer #" + std::to_string(b) + " is not a Float32Array");
    }
    Napi::Float32Array fa = v.As<Napi::Float32Array>();
    g.buffers.push_back({fa.Data(), fa.ElementLength()});
    refs.push_back(Napi::Persistent(fa.As<Napi::Object>()));
  }
  Napi::Array ctxs = getArray(spec, "contexts", "graph");
  std::map<int64_t, int> ctxIndex;
  for (uint32_t c = 0; c < ctxs.Length(); ++c) {
    if (!ctxs.Get(c).IsObject()) throw EngineError("E_BAD_GRAPH", "context #" + std::to_string(c) + " is not an object");
    Napi::Object o = ctxs.Get(c).As<Napi::Object>();
    ContextSpec cs;
    std::string where = "context #" + std::to_string(c);
    cs.id = getInt(o, "id", where);
    Napi::Array cores = getArray(o, "cores", where);
    for (uint32_t k = 0; k < cores.Length(); ++k) {
      Napi::Value cv = cores.Get(k);
      if (!cv.IsNumber()) throw EngineError("E_CORES", where + ": core #" + std::to_string(k) + " is not a number");
      cs.cores.push_back(cv.As<Napi::Number>().Int32Value());
    }
    if (!ctxIndex.emplace(cs.id, static_cast<int>(c)).second) {
      throw EngineError("E_BAD_GRAPH", "context " + std::to_string(cs.id) + " is declared twice");
    }
    g.contexts.push_back(std::move(cs));
  }
  Napi::Array tasks = getArray(spec, "tasks", "graph");
  std::map<int64_t, int> taskIndex;
  std::vector<std::vector<int64_t>> depIds;
  std::vector<int64_t> waitIds;  // test seam testWaitFor: a task id, or -1
  for (uint32_t t = 0; t < tasks.Length(); ++t) {
    if (!tasks.Get(t).IsObject()) throw EngineError("E_BAD_GRAPH", "task #" + std::to_string(t) + " is not an object");
    Napi::Object o = tasks.Get(t).As<Napi::Object>();
    TaskSpec ts;
    ts.id = getInt(o, "id", "task #" + std::to_string(t));
    std::string where = "task " + std::to_string(ts.id);
    int64_t ctxId = getInt(o, "context", where);
    auto ci = ctxIndex.find(ctxId);
    if (ci == ctxIndex.end()) throw EngineError("E_BAD_GRAPH", where + " names unknown context " + std::to_string(ctxId));
    ts.context = ci->second;
    Napi::Array ops = getArray(o, "ops", where);
    for (uint32_t k = 0; k < ops.Length(); ++k) ts.ops.push_back(decodeOp(ops.Get(k), where + " op " + std::to_string(k)));
    Napi::Value wait = o.Get("testWaitFor");
    if (wait.IsString() && wait.As<Napi::String>().Utf8Value() == "cancel") ts.waitForCancel = true;
    waitIds.push_back(wait.IsNumber() ? wait.As<Napi::Number>().Int64Value() : -1);
    if (!wait.IsUndefined() && !wait.IsNumber() && !ts.waitForCancel) {
      throw EngineError("E_BAD_GRAPH", where + ": testWaitFor must be a task id or \"cancel\"");
    }
    Napi::Array deps = getArray(o, "deps", where);
    std::vector<int64_t> ids;
    for (uint32_t k = 0; k < deps.Length(); ++k) {
      Napi::Value dv = deps.Get(k);
      if (!dv.IsNumber()) throw EngineError("E_BAD_GRAPH", where + ": dependency #" + std::to_string(k) + " is not a task id");
      ids.push_back(dv.As<Napi::Number>().Int64Value());
    }
    if (!taskIndex.emplace(ts.id, static_cast<int>(t)).second) {
      throw EngineError("E_BAD_GRAPH", "task " + std::to_string(ts.id) + " is declared twice");
    }
    depIds.push_back(std::move(ids));
    g.tasks.push_back(std::move(ts));
  }
  for (size_t t = 0; t < g.tasks.size(); ++t) {
    for (int64_t id : depIds[t]) {
      auto it = taskIndex.find(id);
      if (it == taskIndex.end()) {
        throw EngineError("E_BAD_GRAPH", "task " + std::to_string(g.tasks[t].id) + " depends on unknown task " + std::to_string(id));
      }
      if (it->second == static_cast<int>(t)) {
        throw EngineError("E_CYCLE", "task " + std::to_string(g.tasks[t].id) + " depends on itself");
      }
      g.tasks[t].deps.push_back(it->second);
    }
    if (waitIds[t] >= 0) {
      auto it = taskIndex.find(waitIds[t]);
      if (it == taskIndex.end()) {
        throw EngineError("E_BAD_GRAPH", "task " + std::to_string(g.tasks[t].id) + " waits for unknown task " + std::to_string(waitIds[t]));
      }
      g.tasks[t].waitForStart = it->second;
    }
  }
  guardGraph(g);
  return g;
}

class GraphWorker : public Napi::AsyncWorker {
 public:
  GraphWorker(Napi::Env env, GraphSpec spec, std::vector<Napi::ObjectReference> refs,
              std::shared_ptr<std::atomic<bool>> cancel)
      : Napi::AsyncWorker(env, "mosaic:runGraph"),
        deferred_(Napi::Promise::Deferred::New(env)),
        spec_(std::move(spec)),
        refs_(std::move(refs)),
        cancel_(std::move(cancel)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      outcome_ = executeGraph(spec_, *cancel_);
    } catch (const EngineError& e) {
      outcome_.failed = true;
      outcome_.code = e.code();
      outcome_.message = e.what();
    } catch (const std::exception& e) {
      outcome_.failed = true;
      outcome_.code = "E_INTERNAL";
      outcome_.message = e.what();
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object result = Napi::Object::New(env);
    Napi::Array tasks = Napi::Array::New(env, outcome_.completed.size());
    for (size_t t = 0; t < outcome_.completed.size(); ++t) {
      const TaskRecord& r = outcome_.completed[t];
      Napi::Object o = Napi::Object::New(env);
      o.Set("id", Napi::Number::New(env, static_cast<double>(r.id)));
      o.Set("context", Napi::Number::New(env, static_cast<double>(r.context)));
      o.Set("startNs", Napi::Number::New(env, static_cast<double>(r.startNs)));
      o.Set("endNs", Napi::Number::New(env, static_cast<double>(r.endNs)));
      tasks.Set(static_cast<uint32_t>(t), o);
    }
    Napi::Array interrupted = Napi::Array::New(env, outcome_.interrupted.size());
    for (size_t t = 0; t < outcome_.interrupted.size(); ++t) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("id", Napi::Number::New(env, static_cast<double>(outcome_.interrupted[t].id)));
      o.Set("opsCompleted", Napi::Number::New(env, static_cast<double>(outcome_.interrupted[t].opsCompleted)));
      interrupted.Set(static_cast<uint32_t>(t), o);
    }
    Napi::Array notStarted = Napi::Array::New(env, outcome_.notStarted.size());
    for (size_t t = 0; t < outcome_.notStarted.size(); ++t) {
      notStarted.Set(static_cast<uint32_t>(t), Napi::Number::New(env, static_cast<double>(outcome_.notStarted[t])));
    }
    result.Set("tasks", tasks);
    result.Set("interrupted", interrupted);
    result.Set("notStarted", notStarted);
    result.Set("wallNs", Napi::Number::New(env, static_cast<double>(outcome_.wallNs)));
    result.Set("cancelled", Napi::Boolean::New(env, outcome_.cancelled));
    if (outcome_.failed) {
      Napi::Error err = codedError(env, outcome_.code, outcome_.message);
      if (outcome_.failedTask >= 0) err.Set("taskId", Napi::Number::New(env, static_cast<double>(outcome_.failedTask)));
      if (outcome_.failedOp >= 0) err.Set("opIndex", Napi::Number::New(env, static_cast<double>(outcome_.failedOp)));
      err.Set("partial", result);
      deferred_.Reject(err.Value());
      return;
    }
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  GraphSpec spec_;
  std::vector<Napi::ObjectReference> refs_;  // keep the Float32Arrays alive until the worker is gone
  std::shared_ptr<std::atomic<bool>> cancel_;
  GraphOutcome outcome_;
};

// Decodes a graph on the JS thread; a decoding error becomes a JS error with its `code`.
GraphSpec decodeGraphOrThrow(Napi::Env env, const Napi::Object& graph, std::vector<Napi::ObjectReference>& refs) {
  try {
    return decodeGraph(graph, refs);
  } catch (const EngineError& e) {
    throwCoded(env, e);  // [[noreturn]]
  }
}

// runGraph(spec) -> { promise, cancel }. Decoding errors throw synchronously with a `code`.
Napi::Value RunGraph(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw codedError(env, "E_BAD_GRAPH", "runGraph expects a graph object");
  std::vector<Napi::ObjectReference> refs;
  GraphSpec spec = decodeGraphOrThrow(env, info[0].As<Napi::Object>(), refs);
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto* worker = new GraphWorker(env, std::move(spec), std::move(refs), cancel);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("promise", promise);
  handle.Set("cancel", Napi::Function::New(
                           env,
                           [cancel](const Napi::CallbackInfo& ci) -> Napi::Value {
                             cancel->store(true);
                             return ci.Env().Undefined();
                           },
                           "cancel"));
  return handle;
}

Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  std::vector<int> cores = allowedCores();
  Napi::Array arr = Napi::Array::New(env, cores.size());
  for (size_t k = 0; k < cores.size(); ++k) arr.Set(static_cast<uint32_t>(k), Napi::Number::New(env, cores[k]));
  o.Set("allowedCores", arr);
  o.Set("hardwareConcurrency", Napi::Number::New(env, std::thread::hardware_concurrency()));
  return o;
}

Napi::Value OpNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  for (const OpSchema& s : kOpSchemas) {
    Napi::Array fields = Napi::Array::New(env);
    uint32_t k = 0;
    for (int j = 0; j < s.nBuffers; ++j) fields.Set(k++, Napi::String::New(env, s.buffers[j]));
    for (int j = 0; j < s.nInts; ++j) fields.Set(k++, Napi::String::New(env, s.ints[j]));
    for (int j = 0; j < s.nFloats; ++j) fields.Set(k++, Napi::String::New(env, s.floats[j]));
    out.Set(s.name, fields);
  }
  return out;
}

Napi::Value CudaProbeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaProbeResult r = cudaProbe();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", Napi::Boolean::New(env, r.available));
  o.Set("compiled", Napi::Boolean::New(env, r.compiled));
  if (!r.available) o.Set("reason", Napi::String::New(env, r.reason));
  if (r.driverVersion) o.Set("driverVersion", Napi::Number::New(env, r.driverVersion));
  Napi::Array devs = Napi::Array::New(env, r.devices.size());
  for (size_t k = 0; k < r.devices.size(); ++k) {
    const CudaDeviceInfo& d = r.devices[k];
    Napi::Object dv = Napi::Object::New(env);
    dv.Set("index", d.index);
    dv.Set("name", d.name);
    dv.Set("smCount", d.smCount);
    dv.Set("computeCapability", std::to_string(d.ccMajor) + "." + std::to_string(d.ccMinor));
    dv.Set("minSmPartitionSize", d.minSmPartitionSize);
    dv.Set("smCoscheduledAlignment", d.smCoscheduledAlignment);
    dv.Set("partitionUnitSms", d.partitionUnitSms);
    dv.Set("partitionUnits", d.partitionUnits);
    dv.Set("greenContexts", d.greenContexts);
    devs.Set(static_cast<uint32_t>(k), dv);
  }
  o.Set("devices", devs);
  return o;
}

Napi::Value CudaCreatePartitionJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsArray()) {
    throw codedError(env, "E_CUDA_PARTITION", "cudaCreatePartition expects (device: number, smCounts: number[])");
  }
  std::vector<int> counts;
  Napi::Array arr = info[1].As<Napi::Array>();
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    if (!arr.Get(k).IsNumber()) throw codedError(env, "E_CUDA_PARTITION", "smCounts must be numbers");
    counts.push_back(arr.Get(k).As<Napi::Number>().Int32Value());
  }
  CudaPartitionInfo p;
  try {
    p = cudaCreatePartition(info[0].As<Napi::Number>().Int32Value(), counts);
  } catch (const EngineError& e) {
    throwCoded(env, e);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", p.id);
  o.Set("device", p.device);
  o.Set("unitSms", p.unitSms);
  o.Set("remainderSms", p.remainderSms);
  Napi::Array groups = Napi::Array::New(env, p.groups.size());
  for (size_t k = 0; k < p.groups.size(); ++k) {
    Napi::Object g = Napi::Object::New(env);
    g.Set("requestedSms", p.groups[k].requestedSms);
    g.Set("smCount", p.groups[k].smCount);
    groups.Set(static_cast<uint32_t>(k), g);
  }
  o.Set("groups", groups);
  return o;
}

Napi::Value CudaDestroyPartitionJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw codedError(env, "E_CUDA_PARTITION", "expects a partition id");
  try {
    cudaDestroyPartition(info[0].As<Napi::Number>().Int32Value());
  } catch (const EngineError& e) {
    throwCoded(env, e);
  }
  return env.Undefined();
}

Napi::Value CudaOrderJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw codedError(env, "E_CUDA_PARTITION", "cudaOrder expects (partitionId, fromGroup, toGroup)");
  }
  try {
    cudaOrder(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(),
              info[2].As<Napi::Number>().Int32Value());
  } catch (const EngineError& e) {
    throwCoded(env, e);
  }
  return env.Undefined();
}

// The CUDA backend has partitions but no kernels: refuse honestly.
Napi::Value CudaRunGraphJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CudaProbeResult r = cudaProbe();
  if (!r.available) throw codedError(env, "E_CUDA_UNAVAILABLE", r.reason);
  throw codedError(env, "E_CUDA_NO_KERNELS",
                   "the CUDA backend creates SM partitions (green contexts) but has no op kernels yet; "
                   "run graphs on the cpu backend");
}

// benchPlainLoop(graph, repeats) -> ns. Bench only (bench/engine.bench.ts): runs every op of every
// task of a one-context graph `repeats` times in a plain C++ loop on a thread pinned like a context's
// executor, with no scheduler, no task bookkeeping and no cancellation checks, so the difference to
// runGraph is the engine's dispatch overhead. Synchronous: it blocks the JS thread while it runs.
Napi::Value BenchPlainLoop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber()) {
    throw codedError(env, "E_BAD_GRAPH", "benchPlainLoop expects (graph, repeats)");
  }
  std::vector<Napi::ObjectReference> refs;
  GraphSpec spec = decodeGraphOrThrow(env, info[0].As<Napi::Object>(), refs);
  if (spec.contexts.size() != 1) throw codedError(env, "E_BAD_GRAPH", "benchPlainLoop expects exactly one context");
  const int64_t repeats = info[1].As<Napi::Number>().Int64Value();
  int64_t ns = 0;
  std::string code, message;
  std::thread worker([&] {
    std::string pe = pinCurrentThread(spec.contexts[0].cores[0]);
    if (!pe.empty()) {
      code = "E_CORES";
      message = pe;
      return;
    }
    try {
      PinnedPool pool(spec.contexts[0].cores);
      auto t0 = std::chrono::steady_clock::now();
      for (int64_t r = 0; r < repeats; ++r) {
        for (const TaskSpec& t : spec.tasks) {
          for (const OpDesc& op : t.ops) runOp(op, spec.buffers, pool);
        }
      }
      ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    } catch (const EngineError& e) {
      code = e.code();
      message = e.what();
    } catch (const std::exception& e) {
      code = "E_INTERNAL";
      message = e.what();
    }
  });
  worker.join();
  if (!code.empty()) throw codedError(env, code, message);
  return Napi::Number::New(env, static_cast<double>(ns));
}

}  // namespace
}  // namespace mosaic

static Napi::Object InitMosaic(Napi::Env env, Napi::Object exports) {
  using namespace mosaic;
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  exports.Set("runGraph", Napi::Function::New(env, RunGraph, "runGraph"));
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo, "cpuInfo"));
  exports.Set("opFields", Napi::Function::New(env, OpNames, "opFields"));
  exports.Set("cudaProbe", Napi::Function::New(env, CudaProbeJs, "cudaProbe"));
  exports.Set("cudaCreatePartition", Napi::Function::New(env, CudaCreatePartitionJs, "cudaCreatePartition"));
  exports.Set("cudaDestroyPartition", Napi::Function::New(env, CudaDestroyPartitionJs, "cudaDestroyPartition"));
  exports.Set("cudaOrder", Napi::Function::New(env, CudaOrderJs, "cudaOrder"));
  exports.Set("cudaRunGraph", Napi::Function::New(env, CudaRunGraphJs, "cudaRunGraph"));
  exports.Set("benchPlainLoop", Napi::Function::New(env, BenchPlainLoop, "benchPlainLoop"));
  exports.Set("exceptionPolicy", Napi::String::New(env, "NAPI_CPP_EXCEPTIONS"));
#ifdef MOSAIC_HAVE_CUDA_HEADERS
  exports.Set("cudaCompiled", Napi::Boolean::New(env, true));
#else
  exports.Set("cudaCompiled", Napi::Boolean::New(env, false));
#endif
  return exports;
}

NODE_API_MODULE(mosaic_native, InitMosaic)
