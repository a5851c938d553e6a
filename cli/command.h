#pragma once

// The shape of every `memr1` subcommand: a Register function adds its flags to a CLI11
// subcommand and binds a handler that returns a Status. Handlers call library code only.

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace memr1::cli {

using CommandHandler = std::function<absl::Status()>;

// Collects the handler of the subcommand chosen on the command line.
class CommandRunner {
 public:
  // Makes `command` run `handler` when it is selected.
  void Bind(CLI::App* command, CommandHandler handler);
  // Runs the selected handler; false if none was selected.
  bool RunSelected(absl::Status* status);

 private:
  CommandHandler selected_;
};

// Adds subcommands to the app. Each cli/*_command.cc defines one and registers it with a
// static CommandRegistration, so adding a subcommand touches no other file:
//
//   const CommandRegistration kRegistration(/*order=*/20, RegisterMemstoreCommands);
//
// `order` sorts the subcommands in --help.
using RegisterFunction = void (*)(CLI::App& app, CommandRunner& runner);

class CommandRegistration {
 public:
  CommandRegistration(int order, RegisterFunction function);
};

// Registers every subcommand, in order.
void RegisterAllCommands(CLI::App& app, CommandRunner& runner);

// Adds the `--config FILE` and repeated `--set path=value` flags shared by commands that read a
// job config.
struct ConfigFlags {
  std::string path;
  std::vector<std::string> overrides;
};
void AddConfigFlags(CLI::App* command, ConfigFlags* flags);

}  // namespace memr1::cli
