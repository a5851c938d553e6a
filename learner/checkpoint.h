#pragma once

// Training checkpoints, written atomically and read back exactly.
//
// Layout under the checkpoint root (a directory every rank can reach):
//   LATEST                  the name of the newest complete checkpoint ("step-00000010")
//   step-00000010/
//     trainer_state.json    format, step, world size, files, and the trainer's own state
//                           (data cursor, schedule, ...) as an opaque JSON object
//     config.yaml           the resolved job config
//     model.memr1t          model tensors (tensor_archive.h), written by rank 0
//     rank-00000.memr1t     per-rank state: optimizer slice, RNG states
//     ...                   whatever the model writer adds (Hugging Face files)
//
// Save() writes into "step-N.tmp", and only after every rank's files are durable renames it to
// "step-N" and then replaces LATEST (both atomic renames), so a crash at any point leaves the
// previous checkpoint as LATEST and a half-written directory is never picked up.
//
// Thread safety: not thread safe; Save is a collective over the communicator.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "learner/communicator.h"

namespace memr1::learner {

struct CheckpointData {
  int64_t step = 0;
  // A JSON object with the trainer's state (data cursor, ...); stored verbatim.
  std::string trainer_state_json = "{}";
  std::string config_yaml;
  // Identical on every rank; rank 0 writes it.
  std::map<std::string, at::Tensor> model;
  // This rank's own state.
  std::map<std::string, at::Tensor> rank_state;
};

class CheckpointManager {
 public:
  // Writes extra files (a Hugging Face model directory) into the checkpoint directory being
  // assembled; called on rank 0 only.
  using ExtraWriter = std::function<absl::Status(const std::string& directory)>;

  // `root` is created if missing. `comm` is not owned and must outlive the manager.
  CheckpointManager(std::string root, Communicator* comm);

  // Collective: every rank calls it with its own rank_state. Returns the checkpoint directory.
  // An error on any rank fails the save on every rank and leaves LATEST unchanged.
  absl::StatusOr<std::string> Save(const CheckpointData& data,
                                   const ExtraWriter& extra_writer = nullptr);

  // Loads the checkpoint LATEST names, with this rank's state. NotFound when there is none;
  // DataLoss naming the file when one is corrupt or incomplete; FailedPrecondition when it was
  // written by a different number of ranks.
  absl::StatusOr<CheckpointData> LoadLatest() const;
  // Loads a given checkpoint directory (the same checks).
  absl::StatusOr<CheckpointData> Load(const std::string& directory) const;

  const std::string& root() const { return root_; }
  static std::string StepDirectoryName(int64_t step);

 private:
  std::string root_;
  Communicator* comm_;
};

// The default CPU generator's state (LibTorch's RNG for sampling, dropout and shuffles), and
// its restore. Restoring a state of the wrong shape is InvalidArgument.
at::Tensor CaptureCpuRngState();
absl::Status RestoreCpuRngState(const at::Tensor& state);

}  // namespace memr1::learner
