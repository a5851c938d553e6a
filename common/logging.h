#pragma once

// Line logging to stderr. Every line carries the time, severity, the process's role and rank,
// its pid and the source location, so the interleaved logs of a whole job (as `memr1 launch`
// collects them) can be read and grepped:
//
//   2026-11-22T12:00:01.123456Z I learner[1] pid=4242 trainer.cc:87] step 3 loss 0.41
//
// Thread safety: all functions are thread safe; a line is written with one write() call so
// lines of concurrent threads and processes never interleave.

#include <sstream>
#include <string>

#include "absl/strings/string_view.h"

namespace memr1 {

enum class LogSeverity { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kFatal = 4 };

// Sets the role ("coordinator", "actor", ...) and rank (-1: none) printed on every line.
void SetLogContext(absl::string_view role, int rank);
// Lines below `severity` are dropped (kFatal is never dropped).
void SetMinLogSeverity(LogSeverity severity);
LogSeverity MinLogSeverity();
// Parses "debug" / "info" / "warning" / "error" (any case); false if unknown.
bool ParseLogSeverity(absl::string_view text, LogSeverity* severity);

namespace internal {

// One log line, written when destroyed. A kFatal line aborts the process after writing.
class LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  const char* file_;
  int line_;
  std::ostringstream stream_;
};

// Swallows the stream of a disabled log statement.
struct LogVoidify {
  void operator&(std::ostream&) {}
};

}  // namespace internal
}  // namespace memr1

#define MEMR1_LOG_SEVERITY_DEBUG ::memr1::LogSeverity::kDebug
#define MEMR1_LOG_SEVERITY_INFO ::memr1::LogSeverity::kInfo
#define MEMR1_LOG_SEVERITY_WARNING ::memr1::LogSeverity::kWarning
#define MEMR1_LOG_SEVERITY_ERROR ::memr1::LogSeverity::kError
#define MEMR1_LOG_SEVERITY_FATAL ::memr1::LogSeverity::kFatal

// MEMR1_LOG(INFO) << "message";  The stream is not evaluated when the severity is disabled.
#define MEMR1_LOG(severity)                                                     \
  (MEMR1_LOG_SEVERITY_##severity < ::memr1::MinLogSeverity())                   \
      ? (void)0                                                                 \
      : ::memr1::internal::LogVoidify() &                                       \
            ::memr1::internal::LogMessage(MEMR1_LOG_SEVERITY_##severity, __FILE__, \
                                          __LINE__)                             \
                .stream()

// For programmer errors only (broken invariants), never for input, peers or I/O.
#define MEMR1_CHECK(condition)                                                   \
  (condition) ? (void)0                                                         \
              : ::memr1::internal::LogVoidify() &                               \
                    ::memr1::internal::LogMessage(::memr1::LogSeverity::kFatal, \
                                                  __FILE__, __LINE__)           \
                            .stream()                                           \
                        << "Check failed: " #condition " "
