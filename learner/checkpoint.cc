#include "learner/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "common/torch_status.h"
#include "learner/tensor_archive.h"

namespace memr1::learner {

namespace fs = std::filesystem;

namespace {

constexpr char kFormat[] = "memr1-checkpoint-v1";

std::string RankFile(int rank) { return absl::StrFormat("rank-%05d.memr1t", rank); }

void SyncDirectory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Agrees on success: every rank learns whether all ranks succeeded.
absl::Status AgreeOnSuccess(Communicator& comm, const absl::Status& local, const char* what) {
  absl::Status status = TorchCall("checkpoint agreement", [&]() -> absl::Status {
    at::Tensor flag = at::full({1}, local.ok() ? 0 : 1,
                               at::TensorOptions().dtype(at::kLong).device(comm.device()));
    MEMR1_RETURN_IF_ERROR(comm.AllReduceSum(flag));
    if (flag.cpu().item<int64_t>() != 0 && local.ok()) {
      return absl::AbortedError(absl::StrCat(what, " failed on another rank"));
    }
    return absl::OkStatus();
  });
  if (!local.ok()) return local;
  return status;
}

}  // namespace

CheckpointManager::CheckpointManager(std::string root, Communicator* comm)
    : root_(std::move(root)), comm_(comm) {}

std::string CheckpointManager::StepDirectoryName(int64_t step) {
  return absl::StrFormat("step-%08d", step);
}

absl::StatusOr<std::string> CheckpointManager::Save(const CheckpointData& data,
                                                    const ExtraWriter& extra_writer) {
  const std::string name = StepDirectoryName(data.step);
  const std::string final_dir = (fs::path(root_) / name).string();
  const std::string temp_dir = final_dir + ".tmp";
  const int rank = comm_->rank();

  absl::Status local = absl::OkStatus();
  if (rank == 0) {
    std::error_code ec;
    fs::create_directories(root_, ec);
    fs::remove_all(temp_dir, ec);
    if (!fs::create_directories(temp_dir, ec)) {
      local = absl::PermissionDeniedError(
          absl::StrCat("cannot create checkpoint directory ", temp_dir, ": ", ec.message()));
    }
  }
  MEMR1_RETURN_IF_ERROR(AgreeOnSuccess(*comm_, local, "creating the checkpoint directory"));

  local = WriteTensorArchive((fs::path(temp_dir) / RankFile(rank)).string(), data.rank_state);
  if (local.ok() && rank == 0) {
    local = [&]() -> absl::Status {
      MEMR1_RETURN_IF_ERROR(
          WriteTensorArchive((fs::path(temp_dir) / "model.memr1t").string(), data.model));
      MEMR1_RETURN_IF_ERROR(
          WriteFileAtomically((fs::path(temp_dir) / "config.yaml").string(), data.config_yaml));
      nlohmann::json trainer = nlohmann::json::parse(data.trainer_state_json, nullptr, false);
      if (trainer.is_discarded()) {
        return absl::InvalidArgumentError("trainer state is not valid JSON");
      }
      nlohmann::json state = {{"format", kFormat},
                              {"step", data.step},
                              {"world_size", comm_->world_size()},
                              {"trainer", trainer}};
      if (extra_writer) MEMR1_RETURN_IF_ERROR(extra_writer(temp_dir));
      // Written last: its presence marks a directory whose other files are complete.
      return WriteFileAtomically((fs::path(temp_dir) / "trainer_state.json").string(),
                                 state.dump(2));
    }();
  }
  MEMR1_RETURN_IF_ERROR(AgreeOnSuccess(*comm_, local, "writing the checkpoint"));

  if (rank == 0) {
    local = [&]() -> absl::Status {
      SyncDirectory(temp_dir);
      std::error_code ec;
      fs::remove_all(final_dir, ec);
      fs::rename(temp_dir, final_dir, ec);
      if (ec) {
        return absl::InternalError(
            absl::StrCat("cannot rename ", temp_dir, " to ", final_dir, ": ", ec.message()));
      }
      SyncDirectory(root_);
      MEMR1_RETURN_IF_ERROR(WriteFileAtomically((fs::path(root_) / "LATEST").string(), name + "\n"));
      SyncDirectory(root_);
      return absl::OkStatus();
    }();
  }
  MEMR1_RETURN_IF_ERROR(AgreeOnSuccess(*comm_, local, "committing the checkpoint"));
  return final_dir;
}

absl::StatusOr<CheckpointData> CheckpointManager::LoadLatest() const {
  const std::string latest_path = (fs::path(root_) / "LATEST").string();
  auto latest = ReadFileToString(latest_path);
  if (!latest.ok()) {
    return absl::NotFoundError(absl::StrCat("no checkpoint in ", root_, " (no LATEST file)"));
  }
  std::string name(absl::StripAsciiWhitespace(*latest));
  if (name.empty() || name.find('/') != std::string::npos || name.find("..") != std::string::npos) {
    return absl::DataLossError(absl::StrCat(latest_path, " does not name a checkpoint: '", name, "'"));
  }
  return Load((fs::path(root_) / name).string());
}

absl::StatusOr<CheckpointData> CheckpointManager::Load(const std::string& directory) const {
  const std::string state_path = (fs::path(directory) / "trainer_state.json").string();
  auto state_text = ReadFileToString(state_path);
  if (!state_text.ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", directory,
                                            " is incomplete: missing trainer_state.json"));
  }
  const nlohmann::json state = nlohmann::json::parse(*state_text, nullptr, false);
  if (state.is_discarded() || !state.is_object() || state.value("format", "") != kFormat ||
      !state.contains("step") || !state.contains("world_size") || !state.contains("trainer")) {
    return absl::DataLossError(absl::StrCat(state_path, " is corrupt (not a ", kFormat, " state)"));
  }
  const int world = state["world_size"].get<int>();
  if (world != comm_->world_size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", directory, " was written by ", world, " ranks; this run has ",
        comm_->world_size(), " (resume with the same number of ranks)"));
  }
  CheckpointData data;
  data.step = state["step"].get<int64_t>();
  data.trainer_state_json = state["trainer"].dump();
  auto config = ReadFileToString((fs::path(directory) / "config.yaml").string());
  if (!config.ok()) return absl::DataLossError(absl::StrCat(directory, ": missing config.yaml"));
  data.config_yaml = *std::move(config);
  MEMR1_ASSIGN_OR_RETURN(data.model,
                         ReadTensorArchive((fs::path(directory) / "model.memr1t").string()));
  MEMR1_ASSIGN_OR_RETURN(
      data.rank_state, ReadTensorArchive((fs::path(directory) / RankFile(comm_->rank())).string()));
  return data;
}

at::Tensor CaptureCpuRngState() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

absl::Status RestoreCpuRngState(const at::Tensor& state) {
  return TorchCall("restoring the CPU RNG state", [&] {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  });
}

}  // namespace memr1::learner
