// The single memr1 binary. Subcommands are registered in cli/*_command.cc; main only parses
// and dispatches.

#include <iostream>

#include "cli/command.h"
#include "common/allocator.h"

int main(int argc, char** argv) {
  memr1::TuneMallocForTensors();
  CLI::App app{"memr1: reinforcement learning of LLM memory agents (Memory-R1)", "memr1"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  memr1::cli::CommandRunner runner;
  memr1::cli::RegisterAllCommands(app, runner);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help exits 0; usage errors exit 2.
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }
  absl::Status status;
  if (!runner.RunSelected(&status)) {
    std::cerr << app.help();
    return 2;
  }
  if (!status.ok()) {
    std::cerr << "memr1: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
