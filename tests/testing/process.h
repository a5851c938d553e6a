#pragma once

// Test support: run a command line through /bin/sh and collect its exit code and output.

#include <string>

namespace memr1::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when the command did not exit normally (killed by a signal)
  std::string output;  // stdout and stderr together, in order
};

// Runs `command` (a shell command line) to completion.
CommandResult RunCommand(const std::string& command);

// Path of the memr1 binary of this build.
std::string Memr1Binary();

// Runs `memr1 <args>`.
CommandResult RunMemr1(const std::string& args);

}  // namespace memr1::testing
