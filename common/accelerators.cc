#include "common/accelerators.h"

#include "absl/strings/str_cat.h"

#if MEMR1_WITH_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace memr1 {

AcceleratorInfo ProbeAccelerators() {
  AcceleratorInfo info;
#if MEMR1_WITH_NCCL
  info.nccl_compiled = true;
  int nccl = 0;
  if (ncclGetVersion(&nccl) == ncclSuccess) {
    // NCCL encodes versions >= 2.9 as major*10000 + minor*100 + patch.
    info.nccl_version = absl::StrCat(nccl / 10000, ".", (nccl / 100) % 100, ".", nccl % 100);
  }
  int runtime = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) {
    info.cuda_runtime_version = absl::StrCat(runtime / 1000, ".", (runtime % 1000) / 10);
  }
  int devices = 0;
  const cudaError_t error = cudaGetDeviceCount(&devices);
  if (error == cudaSuccess) {
    info.cuda_devices = devices;
  } else {
    info.cuda_note = cudaGetErrorString(error);
  }
#else
  info.cuda_note = "built without NCCL/CUDA (MEMR1_WITH_NCCL=OFF)";
#endif
  return info;
}

}  // namespace memr1
