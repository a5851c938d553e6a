#pragma once

// Child processes of a launcher (`memr1 launch` starts the coordinator, memstore shards,
// learners under mpirun and actors this way).
//
// A child runs `argv` (argv[0] looked up in PATH) in a process group of its own, so stopping it
// also stops what it started (mpirun's ranks). Its stdout and stderr are merged into one pipe; a
// reader thread splits the output into lines and hands each to a LogSink, which writes it
// prefixed with the child's name ("[actor-0] ...") to the launcher's output and appends it
// unprefixed to the child's log file. Signals the parent blocks (ShutdownSignal blocks SIGINT
// and SIGTERM) are unblocked in the child before exec, so the child can be stopped normally.
//
// Thread safety: LogSink is thread safe. A ChildProcess is owned by one thread (its reader
// thread is internal); Stop() is idempotent and the destructor calls it.

#include <sys/types.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace memr1 {

// Where children's output lines go. Lines of different children never interleave mid-line.
class LogSink {
 public:
  // `out` (not owned; may be null) receives "[name] line\n".
  explicit LogSink(std::ostream* out) : out_(out) {}

  // Appends lines of child `name` to `path` (created or appended to) from now on.
  absl::Status AddFile(const std::string& name, const std::string& path);
  void Write(const std::string& name, const std::string& line);
  // The last `n` lines written for `name` (for error messages about a child that died).
  std::vector<std::string> Tail(const std::string& name, size_t n) const;

 private:
  std::ostream* out_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<std::ofstream>> files_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::string>> tails_ ABSL_GUARDED_BY(mu_);
};

struct ChildOptions {
  std::string name;               // log prefix; [A-Za-z0-9._-]+
  std::vector<std::string> argv;  // non-empty; argv[0] is looked up in PATH
  // Added to (or replacing in) the parent's environment.
  std::map<std::string, std::string> env;
};

class ChildProcess {
 public:
  // Starts the child. `sink` (not owned) must outlive the ChildProcess. InvalidArgument for an
  // empty argv or a bad name; Internal when fork/pipe fail. A program that cannot be executed
  // makes the child exit with code 127 after writing why (seen as its output).
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const ChildOptions& options,
                                                             LogSink* sink);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }

  // The exit code once the child has exited (128 + N when killed by signal N); nullopt while it
  // runs. When it finds the exit, it first waits (at most 2 s: a grandchild may hold the pipe)
  // for the reader to reach the end of the output, so the child's last lines are in the sink
  // (LogSink::Tail) by the time its exit is reported.
  std::optional<int> Poll();
  // Waits up to `timeout` for the child to exit.
  std::optional<int> Wait(absl::Duration timeout);
  // Sends `signal` to the child's process group.
  void Signal(int signal);
  // SIGTERM to the group, up to `grace` for it to exit, then SIGKILL; waits for the exit and
  // for the output to drain. Returns the exit code.
  int Stop(absl::Duration grace = absl::Seconds(10));

 private:
  ChildProcess(std::string name, pid_t pid, int read_fd, LogSink* sink);
  void ReadLoop();

  const std::string name_;
  const pid_t pid_;
  int read_fd_;
  LogSink* sink_;
  std::thread reader_;
  absl::Notification drained_;  // the reader reached the end of the output
  std::optional<int> exit_code_;
};

// Exit code from a waitpid() status: the code, or 128 + the signal.
int ExitCodeFromWaitStatus(int status);

}  // namespace memr1
