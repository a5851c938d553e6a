#include "tests/testing/process.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace memr1::testing {

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  const std::string with_stderr = command + " 2>&1";
  FILE* pipe = popen(with_stderr.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), n);
  }
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string Memr1Binary() { return MEMR1_BINARY; }

CommandResult RunMemr1(const std::string& args) { return RunCommand(Memr1Binary() + " " + args); }

}  // namespace memr1::testing
