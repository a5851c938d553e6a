// `memr1 version`: what this binary is and what it was built with.

#include <torch/cuda.h>
#include <torch/version.h>

#include <iostream>

#include "cli/command.h"
#include "common/accelerators.h"
#include "memr1_git_commit.h"

namespace memr1::cli {

namespace {

void RegisterVersionCommand(CLI::App& app, CommandRunner& runner) {
  CLI::App* command =
      app.add_subcommand("version", "Print the version, git commit, LibTorch, CUDA and NCCL");
  runner.Bind(command, [] {
    const AcceleratorInfo accelerators = ProbeAccelerators();
    std::cout << "memr1 " << MEMR1_VERSION << "\n";
    std::cout << "git commit: " << MEMR1_GIT_COMMIT << "\n";
    std::cout << "LibTorch: " << TORCH_VERSION << " (CUDA "
              << (torch::cuda::is_available() ? "available" : "not available") << ")\n";
    if (accelerators.nccl_compiled) {
      std::cout << "NCCL: compiled in (NCCL " << accelerators.nccl_version << ", CUDA runtime "
                << accelerators.cuda_runtime_version << ", " << accelerators.cuda_devices
                << " CUDA device(s)";
      if (!accelerators.cuda_note.empty()) std::cout << ": " << accelerators.cuda_note;
      std::cout << ")\n";
    } else {
      std::cout << "NCCL: not compiled in\n";
    }
    return absl::OkStatus();
  });
}

const CommandRegistration kRegistration(0, RegisterVersionCommand);

}  // namespace
}  // namespace memr1::cli
