#pragma once

// What this build and this machine offer for GPU training: whether NCCL and the CUDA runtime
// are compiled in (MEMR1_WITH_NCCL, detected at configure time), their versions, and how many
// CUDA devices the runtime sees. Probing never fails: on a machine without a GPU or driver the
// device count is 0 and `cuda_note` says why.

#include <string>

namespace memr1 {

struct AcceleratorInfo {
  bool nccl_compiled = false;
  std::string nccl_version;          // "2.27.3" when compiled in
  std::string cuda_runtime_version;  // "13.0" when compiled in
  int cuda_devices = 0;
  std::string cuda_note;             // e.g. "no CUDA driver"
};

AcceleratorInfo ProbeAccelerators();

}  // namespace memr1
