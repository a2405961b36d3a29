// CUDA backend: driver loaded with dlopen("libcuda.so.1") at run time, never linked.
// Splits one GPU's SMs into disjoint groups and creates one green context + stream per group.
// Kernels for the ops are NOT implemented: running a graph on CUDA fails with E_CUDA_NO_KERNELS.
#pragma once

#include <string>
#include <vector>

namespace mosaic {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int smCount = 0;
  int ccMajor = 0;
  int ccMinor = 0;
  int minSmPartitionSize = 0;      // from cuDeviceGetDevResource (0 if not supported)
  int smCoscheduledAlignment = 0;
  int partitionUnitSms = 0;        // size of one group from cuDevSmResourceSplitByCount(minCount)
  int partitionUnits = 0;          // how many such groups the device splits into
  bool greenContexts = false;
};

struct CudaProbeResult {
  bool available = false;
  std::string reason;              // why not available
  int driverVersion = 0;
  std::vector<CudaDeviceInfo> devices;
  bool compiled = false;           // false when built without cuda.h
};

struct CudaGroup {
  int requestedSms = 0;
  int smCount = 0;                 // as reported by cuGreenCtxGetDevResource
};

struct CudaPartitionInfo {
  int id = 0;
  int device = 0;
  int unitSms = 0;
  int remainderSms = 0;            // SMs not placed in any group
  std::vector<CudaGroup> groups;
};

CudaProbeResult cudaProbe();
// Throws EngineError: E_CUDA_UNAVAILABLE, E_CUDA_PARTITION (bad request), E_CUDA_DRIVER (call failed).
CudaPartitionInfo cudaCreatePartition(int device, const std::vector<int>& smCounts);
void cudaDestroyPartition(int id);
// Orders group `to` after the work submitted so far to group `from` (event record + stream wait).
void cudaOrder(int id, int fromGroup, int toGroup);

}  // namespace mosaic
