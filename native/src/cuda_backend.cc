#include "cuda_backend.h"

#include "common.h"

#ifndef MOSAIC_HAVE_CUDA_HEADERS

namespace mosaic {
CudaProbeResult cudaProbe() {
  CudaProbeResult r;
  r.reason = "built without CUDA headers (no cuda.h at build time), so the CUDA backend is not compiled in";
  return r;
}
CudaPartitionInfo cudaCreatePartition(int, const std::vector<int>&) {
  throw EngineError("E_CUDA_UNAVAILABLE", cudaProbe().reason);
}
void cudaDestroyPartition(int) { throw EngineError("E_CUDA_UNAVAILABLE", cudaProbe().reason); }
void cudaOrder(int, int, int) { throw EngineError("E_CUDA_UNAVAILABLE", cudaProbe().reason); }
}  // namespace mosaic

#else

#include <cuda.h>
#include <dlfcn.h>

#include <map>
#include <memory>
#include <mutex>

namespace mosaic {
namespace {

// Function-pointer types straight from the declarations in cuda.h (macros such as
// cuStreamDestroy -> cuStreamDestroy_v2 resolve to the versioned declarations).
struct Driver {
  void* lib = nullptr;
  std::string loadError;
  decltype(&::cuGetProcAddress) getProcAddress = nullptr;
  decltype(&::cuGetErrorString) getErrorString = nullptr;
  decltype(&::cuInit) init = nullptr;
  decltype(&::cuDriverGetVersion) driverGetVersion = nullptr;
  decltype(&::cuDeviceGetCount) deviceGetCount = nullptr;
  decltype(&::cuDeviceGet) deviceGet = nullptr;
  decltype(&::cuDeviceGetName) deviceGetName = nullptr;
  decltype(&::cuDeviceGetAttribute) deviceGetAttribute = nullptr;
  decltype(&::cuDeviceGetDevResource) deviceGetDevResource = nullptr;
  decltype(&::cuDevSmResourceSplitByCount) devSmResourceSplitByCount = nullptr;
  decltype(&::cuDevResourceGenerateDesc) devResourceGenerateDesc = nullptr;
  decltype(&::cuGreenCtxCreate) greenCtxCreate = nullptr;
  decltype(&::cuGreenCtxDestroy) greenCtxDestroy = nullptr;
  decltype(&::cuGreenCtxGetDevResource) greenCtxGetDevResource = nullptr;
  decltype(&::cuGreenCtxStreamCreate) greenCtxStreamCreate = nullptr;
  decltype(&::cuCtxFromGreenCtx) ctxFromGreenCtx = nullptr;
  decltype(&::cuCtxPushCurrent) ctxPushCurrent = nullptr;
  decltype(&::cuCtxPopCurrent) ctxPopCurrent = nullptr;
  decltype(&::cuStreamDestroy) streamDestroy = nullptr;
  decltype(&::cuEventCreate) eventCreate = nullptr;
  decltype(&::cuEventRecord) eventRecord = nullptr;
  decltype(&::cuEventDestroy) eventDestroy = nullptr;
  decltype(&::cuStreamWaitEvent) streamWaitEvent = nullptr;
  bool initOk = false;
  std::string initError;
  std::string missing;  // green-context entry points the driver lacks
};

template <typename Fn>
void resolve(Driver& d, Fn& out, const char* name, bool required) {
  void* p = nullptr;
  if (d.getProcAddress) {
    CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    if (d.getProcAddress(name, &p, CUDA_VERSION, CU_GET_PROC_ADDRESS_DEFAULT, &status) != CUDA_SUCCESS ||
        status != CU_GET_PROC_ADDRESS_SUCCESS) {
      p = nullptr;
    }
  }
  // Without cuGetProcAddress, prefer the _v2 export (the ABI the cuda.h macros select).
  if (!p) p = dlsym(d.lib, (std::string(name) + "_v2").c_str());
  if (!p) p = dlsym(d.lib, name);
  out = reinterpret_cast<Fn>(p);
  if (!p && required) d.missing += (d.missing.empty() ? "" : ", ") + std::string(name);
}

Driver& driver() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    d.lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!d.lib) {
      const char* e = dlerror();
      d.loadError = std::string("libcuda.so.1 not found (dlopen: ") + (e ? e : "unknown error") + ")";
      return;
    }
    d.getProcAddress = reinterpret_cast<decltype(d.getProcAddress)>(dlsym(d.lib, "cuGetProcAddress_v2"));
    resolve(d, d.getErrorString, "cuGetErrorString", true);
    resolve(d, d.init, "cuInit", true);
    resolve(d, d.driverGetVersion, "cuDriverGetVersion", true);
    resolve(d, d.deviceGetCount, "cuDeviceGetCount", true);
    resolve(d, d.deviceGet, "cuDeviceGet", true);
    resolve(d, d.deviceGetName, "cuDeviceGetName", true);
    resolve(d, d.deviceGetAttribute, "cuDeviceGetAttribute", true);
    resolve(d, d.deviceGetDevResource, "cuDeviceGetDevResource", true);
    resolve(d, d.devSmResourceSplitByCount, "cuDevSmResourceSplitByCount", true);
    resolve(d, d.devResourceGenerateDesc, "cuDevResourceGenerateDesc", true);
    resolve(d, d.greenCtxCreate, "cuGreenCtxCreate", true);
    resolve(d, d.greenCtxDestroy, "cuGreenCtxDestroy", true);
    resolve(d, d.greenCtxGetDevResource, "cuGreenCtxGetDevResource", true);
    resolve(d, d.greenCtxStreamCreate, "cuGreenCtxStreamCreate", true);
    resolve(d, d.ctxFromGreenCtx, "cuCtxFromGreenCtx", true);
    resolve(d, d.ctxPushCurrent, "cuCtxPushCurrent", true);
    resolve(d, d.ctxPopCurrent, "cuCtxPopCurrent", true);
    resolve(d, d.streamDestroy, "cuStreamDestroy", true);
    resolve(d, d.eventCreate, "cuEventCreate", true);
    resolve(d, d.eventRecord, "cuEventRecord", true);
    resolve(d, d.eventDestroy, "cuEventDestroy", true);
    resolve(d, d.streamWaitEvent, "cuStreamWaitEvent", true);
    if (!d.init || !d.deviceGetCount) {
      d.initError = "libcuda.so.1 lacks cuInit/cuDeviceGetCount";
      return;
    }
    CUresult rc = d.init(0);
    if (rc != CUDA_SUCCESS) {
      const char* s = nullptr;
      if (d.getErrorString) d.getErrorString(rc, &s);
      d.initError = "cuInit failed: " + std::string(s ? s : "error ") + " (" + std::to_string(rc) + ")";
      return;
    }
    d.initOk = true;
  });
  return d;
}

std::string errorText(CUresult rc) {
  const char* s = nullptr;
  if (driver().getErrorString) driver().getErrorString(rc, &s);
  return std::string(s ? s : "unknown CUDA error") + " (" + std::to_string(static_cast<int>(rc)) + ")";
}

void check(CUresult rc, const char* what) {
  if (rc != CUDA_SUCCESS) throw EngineError("E_CUDA_DRIVER", std::string(what) + " failed: " + errorText(rc));
}

Driver& readyDriver(bool needGreen) {
  Driver& d = driver();
  if (!d.lib) throw EngineError("E_CUDA_UNAVAILABLE", d.loadError);
  if (!d.initOk) throw EngineError("E_CUDA_UNAVAILABLE", d.initError);
  if (needGreen && !d.missing.empty()) {
    throw EngineError("E_CUDA_UNAVAILABLE",
                      "the CUDA driver lacks green-context entry points (" + d.missing + "); driver 12.5+ needed");
  }
  return d;
}

struct Partition {
  CudaPartitionInfo info;
  std::vector<CUgreenCtx> ctxs;
  std::vector<CUstream> streams;
  std::vector<CUevent> events;
};

std::map<int, std::unique_ptr<Partition>>& partitions() {
  static std::map<int, std::unique_ptr<Partition>> m;
  return m;
}
int nextPartitionId = 1;

void destroy(Partition& p) {
  Driver& d = driver();
  for (size_t g = 0; g < p.ctxs.size(); ++g) {
    if (g < p.events.size() && p.events[g]) d.eventDestroy(p.events[g]);
    if (g < p.streams.size() && p.streams[g]) d.streamDestroy(p.streams[g]);
    if (p.ctxs[g]) d.greenCtxDestroy(p.ctxs[g]);
  }
  p.ctxs.clear();
  p.streams.clear();
  p.events.clear();
}

// Splits the device's SMs into equal units of the smallest allowed size.
void unitSplit(Driver& d, CUdevice dev, CUdevResource* input, std::vector<CUdevResource>& units,
               CUdevResource* remaining) {
  check(d.deviceGetDevResource(dev, input, CU_DEV_RESOURCE_TYPE_SM), "cuDeviceGetDevResource");
  unsigned int minCount = input->sm.minSmPartitionSize;
  unsigned int nb = 0;
  check(d.devSmResourceSplitByCount(nullptr, &nb, input, nullptr, 0, minCount), "cuDevSmResourceSplitByCount (query)");
  units.assign(nb, CUdevResource{});
  if (nb == 0) return;
  check(d.devSmResourceSplitByCount(units.data(), &nb, input, remaining, 0, minCount), "cuDevSmResourceSplitByCount");
  units.resize(nb);
}

}  // namespace

CudaProbeResult cudaProbe() {
  CudaProbeResult r;
  r.compiled = true;
  Driver& d = driver();
  if (!d.lib) {
    r.reason = d.loadError;
    return r;
  }
  if (!d.initOk) {
    r.reason = d.initError;
    return r;
  }
  if (d.driverGetVersion) d.driverGetVersion(&r.driverVersion);
  int count = 0;
  CUresult rc = d.deviceGetCount(&count);
  if (rc != CUDA_SUCCESS || count == 0) {
    r.reason = rc != CUDA_SUCCESS ? "cuDeviceGetCount failed: " + errorText(rc) : "no CUDA devices";
    return r;
  }
  for (int i = 0; i < count; ++i) {
    CudaDeviceInfo info;
    info.index = i;
    CUdevice dev;
    if (d.deviceGet(&dev, i) != CUDA_SUCCESS) continue;
    char name[256] = {0};
    d.deviceGetName(name, sizeof(name) - 1, dev);
    info.name = name;
    d.deviceGetAttribute(&info.smCount, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
    d.deviceGetAttribute(&info.ccMajor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
    d.deviceGetAttribute(&info.ccMinor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
    if (d.missing.empty()) {
      try {
        CUdevResource input{};
        std::vector<CUdevResource> units;
        unitSplit(d, dev, &input, units, nullptr);
        info.minSmPartitionSize = static_cast<int>(input.sm.minSmPartitionSize);
        info.smCoscheduledAlignment = static_cast<int>(input.sm.smCoscheduledAlignment);
        info.partitionUnits = static_cast<int>(units.size());
        info.partitionUnitSms = units.empty() ? 0 : static_cast<int>(units[0].sm.smCount);
        info.greenContexts = !units.empty();
      } catch (const EngineError&) {
        info.greenContexts = false;
      }
    }
    r.devices.push_back(info);
  }
  r.available = !r.devices.empty();
  if (!r.available) r.reason = "no usable CUDA devices";
  return r;
}

CudaPartitionInfo cudaCreatePartition(int device, const std::vector<int>& smCounts) {
  Driver& d = readyDriver(true);
  int count = 0;
  check(d.deviceGetCount(&count), "cuDeviceGetCount");
  if (device < 0 || device >= count) {
    throw EngineError("E_CUDA_PARTITION", "Expected a device index in [0, " + std::to_string(count) +
                                              ") but received " + std::to_string(device));
  }
  if (smCounts.empty()) throw EngineError("E_CUDA_PARTITION", "Expected at least one SM group");
  CUdevice dev;
  check(d.deviceGet(&dev, device), "cuDeviceGet");
  CUdevResource input{}, remaining{};
  std::vector<CUdevResource> units;
  unitSplit(d, dev, &input, units, &remaining);
  if (units.empty()) throw EngineError("E_CUDA_PARTITION", "the device's SMs cannot be split");
  int unit = static_cast<int>(units[0].sm.smCount);
  int total = 0;
  for (size_t g = 0; g < smCounts.size(); ++g) {
    int s = smCounts[g];
    if (s <= 0 || s % unit != 0) {
      throw EngineError("E_CUDA_PARTITION", "Expected the SM count of group " + std::to_string(g) +
                                                " to be a positive multiple of " + std::to_string(unit) +
                                                " (this device's partition unit) but received " + std::to_string(s));
    }
    total += s;
  }
  int capacity = unit * static_cast<int>(units.size());
  if (total > capacity) {
    throw EngineError("E_CUDA_PARTITION", "Expected the SM groups to total at most " + std::to_string(capacity) +
                                              " SMs (" + std::to_string(units.size()) + " units of " +
                                              std::to_string(unit) + ") but they total " + std::to_string(total));
  }
  auto p = std::make_unique<Partition>();
  p->info.device = device;
  p->info.unitSms = unit;
  p->info.remainderSms = static_cast<int>(input.sm.smCount) - total;
  size_t offset = 0;
  try {
    for (int s : smCounts) {
      unsigned int take = static_cast<unsigned int>(s / unit);
      CUdevResourceDesc desc = nullptr;
      check(d.devResourceGenerateDesc(&desc, units.data() + offset, take), "cuDevResourceGenerateDesc");
      offset += take;
      CUgreenCtx gctx = nullptr;
      check(d.greenCtxCreate(&gctx, desc, dev, CU_GREEN_CTX_DEFAULT_STREAM), "cuGreenCtxCreate");
      p->ctxs.push_back(gctx);
      CUstream stream = nullptr;
      check(d.greenCtxStreamCreate(&stream, gctx, CU_STREAM_NON_BLOCKING, 0), "cuGreenCtxStreamCreate");
      p->streams.push_back(stream);
      CUcontext ctx = nullptr;
      check(d.ctxFromGreenCtx(&ctx, gctx), "cuCtxFromGreenCtx");
      check(d.ctxPushCurrent(ctx), "cuCtxPushCurrent");
      CUevent ev = nullptr;
      CUresult rc = d.eventCreate(&ev, CU_EVENT_DISABLE_TIMING);
      CUcontext popped = nullptr;
      d.ctxPopCurrent(&popped);
      check(rc, "cuEventCreate");
      p->events.push_back(ev);
      CUdevResource got{};
      check(d.greenCtxGetDevResource(gctx, &got, CU_DEV_RESOURCE_TYPE_SM), "cuGreenCtxGetDevResource");
      p->info.groups.push_back({s, static_cast<int>(got.sm.smCount)});
    }
  } catch (...) {
    destroy(*p);
    throw;
  }
  int id = nextPartitionId++;
  p->info.id = id;
  CudaPartitionInfo info = p->info;
  partitions()[id] = std::move(p);
  return info;
}

void cudaDestroyPartition(int id) {
  auto it = partitions().find(id);
  if (it == partitions().end()) throw EngineError("E_CUDA_PARTITION", "no CUDA partition with id " + std::to_string(id));
  destroy(*it->second);
  partitions().erase(it);
}

void cudaOrder(int id, int fromGroup, int toGroup) {
  Driver& d = readyDriver(true);
  auto it = partitions().find(id);
  if (it == partitions().end()) throw EngineError("E_CUDA_PARTITION", "no CUDA partition with id " + std::to_string(id));
  Partition& p = *it->second;
  int n = static_cast<int>(p.streams.size());
  if (fromGroup < 0 || fromGroup >= n || toGroup < 0 || toGroup >= n) {
    throw EngineError("E_CUDA_PARTITION", "Expected group indices in [0, " + std::to_string(n) + ")");
  }
  check(d.eventRecord(p.events[fromGroup], p.streams[fromGroup]), "cuEventRecord");
  check(d.streamWaitEvent(p.streams[toGroup], p.events[fromGroup], 0), "cuStreamWaitEvent");
}

}  // namespace mosaic

#endif
