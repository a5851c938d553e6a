#include "common/logging.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace memr1 {
namespace {

std::atomic<int> g_min_severity{static_cast<int>(LogSeverity::kInfo)};

absl::Mutex g_context_mu;
std::string& ContextPrefix() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_context_mu) {
  static std::string* prefix = new std::string("memr1");
  return *prefix;
}

char SeverityLetter(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kDebug:
      return 'D';
    case LogSeverity::kInfo:
      return 'I';
    case LogSeverity::kWarning:
      return 'W';
    case LogSeverity::kError:
      return 'E';
    case LogSeverity::kFatal:
      return 'F';
  }
  return '?';
}

const char* Basename(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash == nullptr ? path : slash + 1;
}

}  // namespace

void SetLogContext(absl::string_view role, int rank) {
  absl::MutexLock lock(&g_context_mu);
  ContextPrefix() = rank >= 0 ? absl::StrCat(role, "[", rank, "]") : std::string(role);
}

void SetMinLogSeverity(LogSeverity severity) {
  g_min_severity.store(static_cast<int>(severity), std::memory_order_relaxed);
}

LogSeverity MinLogSeverity() {
  return static_cast<LogSeverity>(g_min_severity.load(std::memory_order_relaxed));
}

bool ParseLogSeverity(absl::string_view text, LogSeverity* severity) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "debug") {
    *severity = LogSeverity::kDebug;
  } else if (lower == "info") {
    *severity = LogSeverity::kInfo;
  } else if (lower == "warning") {
    *severity = LogSeverity::kWarning;
  } else if (lower == "error") {
    *severity = LogSeverity::kError;
  } else {
    return false;
  }
  return true;
}

namespace internal {

LogMessage::LogMessage(LogSeverity severity, const char* file, int line)
    : severity_(severity), file_(file), line_(line) {}

LogMessage::~LogMessage() {
  std::string prefix;
  {
    absl::MutexLock lock(&g_context_mu);
    prefix = ContextPrefix();
  }
  std::string text = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(), absl::UTCTimeZone()), " ",
      std::string(1, SeverityLetter(severity_)), " ", prefix, " pid=", getpid(), " ",
      Basename(file_), ":", line_, "] ", stream_.str(), "\n");
  // One write() per line keeps lines whole across threads and processes sharing stderr.
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + written, text.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  if (severity_ == LogSeverity::kFatal) std::abort();
}

}  // namespace internal
}  // namespace memr1
