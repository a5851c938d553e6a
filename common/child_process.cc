#include "common/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

extern char** environ;

namespace memr1 {
namespace {

constexpr size_t kTailLines = 50;
// Longer lines are forwarded in pieces of this size.
constexpr size_t kMaxLine = 64 * 1024;

bool ValidName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

int ExitCodeFromWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

absl::Status LogSink::AddFile(const std::string& name, const std::string& path) {
  auto file = std::make_unique<std::ofstream>(path, std::ios::app);
  if (!*file) return absl::PermissionDeniedError(absl::StrCat("cannot open log file ", path));
  absl::MutexLock lock(&mu_);
  files_[name] = std::move(file);
  return absl::OkStatus();
}

void LogSink::Write(const std::string& name, const std::string& line) {
  absl::MutexLock lock(&mu_);
  if (out_ != nullptr) *out_ << "[" << name << "] " << line << "\n" << std::flush;
  if (auto it = files_.find(name); it != files_.end()) *it->second << line << "\n" << std::flush;
  std::vector<std::string>& tail = tails_[name];
  tail.push_back(line);
  if (tail.size() > kTailLines) tail.erase(tail.begin());
}

std::vector<std::string> LogSink::Tail(const std::string& name, size_t n) const {
  absl::MutexLock lock(&mu_);
  auto it = tails_.find(name);
  if (it == tails_.end()) return {};
  const std::vector<std::string>& tail = it->second;
  return std::vector<std::string>(tail.end() - std::min(n, tail.size()), tail.end());
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(const ChildOptions& options,
                                                                  LogSink* sink) {
  if (options.argv.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("child ", options.name, ": empty argv"));
  }
  if (!ValidName(options.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("child name \"", options.name, "\" must be [A-Za-z0-9._-]+"));
  }
  // Everything the child needs is prepared before fork: between fork and exec only
  // async-signal-safe calls are allowed (the parent has other threads).
  std::vector<char*> argv;
  for (const std::string& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : options.env) env[key] = value;
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : env) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const std::string exec_error = absl::StrCat("cannot execute ", options.argv[0], ": ");

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execvpe(argv[0], argv.data(), envp.data());
    const int error = errno;
    ssize_t ignored = ::write(STDERR_FILENO, exec_error.data(), exec_error.size());
    const char* reason = std::strerror(error);
    ignored = ::write(STDERR_FILENO, reason, std::strlen(reason));
    ignored = ::write(STDERR_FILENO, "\n", 1);
    (void)ignored;
    ::_exit(127);
  }
  ::close(fds[1]);
  // Also from the parent, so a signal to the group cannot race the child's own setpgid.
  ::setpgid(pid, pid);
  return std::unique_ptr<ChildProcess>(new ChildProcess(options.name, pid, fds[0], sink));
}

ChildProcess::ChildProcess(std::string name, pid_t pid, int read_fd, LogSink* sink)
    : name_(std::move(name)), pid_(pid), read_fd_(read_fd), sink_(sink) {
  reader_ = std::thread([this] { ReadLoop(); });
}

ChildProcess::~ChildProcess() { Stop(); }

void ChildProcess::ReadLoop() {
  std::string pending;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(read_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<size_t>(n));
    size_t start = 0;
    while (true) {
      const size_t newline = pending.find('\n', start);
      if (newline == std::string::npos) break;
      sink_->Write(name_, pending.substr(start, newline - start));
      start = newline + 1;
    }
    pending.erase(0, start);
    while (pending.size() >= kMaxLine) {
      sink_->Write(name_, pending.substr(0, kMaxLine));
      pending.erase(0, kMaxLine);
    }
  }
  if (!pending.empty()) sink_->Write(name_, pending);
  ::close(read_fd_);
  read_fd_ = -1;
  drained_.Notify();
}

std::optional<int> ChildProcess::Poll() {
  if (exit_code_) return exit_code_;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    exit_code_ = ExitCodeFromWaitStatus(status);
    drained_.WaitForNotificationWithTimeout(absl::Seconds(2));
  }
  return exit_code_;
}

std::optional<int> ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (std::optional<int> code = Poll()) return code;
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

void ChildProcess::Signal(int signal) {
  if (!exit_code_) ::kill(-pid_, signal);
}

int ChildProcess::Stop(absl::Duration grace) {
  if (!Poll()) {
    Signal(SIGTERM);
    if (!Wait(grace)) {
      Signal(SIGKILL);
      Wait(absl::InfiniteDuration());
    }
  }
  // The group may outlive its leader (a grandchild still holding the pipe): end it too, so the
  // reader sees EOF.
  ::kill(-pid_, SIGKILL);
  if (reader_.joinable()) reader_.join();
  return *exit_code_;
}

}  // namespace memr1
