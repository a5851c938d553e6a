#include "common/progress.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace memr1 {

std::string FormatEta(absl::Duration duration) {
  const int64_t seconds = std::max<int64_t>(0, absl::ToInt64Seconds(duration));
  if (seconds >= 3600) return absl::StrFormat("%dh%02dm", seconds / 3600, (seconds % 3600) / 60);
  if (seconds >= 60) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  return absl::StrFormat("%ds", seconds);
}

ProgressMeter::ProgressMeter(std::string label, int64_t total, std::ostream* out,
                             absl::Duration interval)
    : label_(std::move(label)),
      total_(std::max<int64_t>(0, total)),
      out_(out),
      interval_(interval),
      start_(absl::Now()) {}

void ProgressMeter::Update(int64_t done) {
  absl::MutexLock lock(&mu_);
  done_ = std::max(done_, std::min(done, total_));
  MaybePrintLocked();
}

void ProgressMeter::Add(int64_t n) {
  absl::MutexLock lock(&mu_);
  done_ = std::min(total_, done_ + std::max<int64_t>(0, n));
  MaybePrintLocked();
}

int64_t ProgressMeter::done() const {
  absl::MutexLock lock(&mu_);
  return done_;
}

std::string ProgressMeter::Line() const {
  absl::MutexLock lock(&mu_);
  return LineLocked(absl::Now());
}

std::string ProgressMeter::LineLocked(absl::Time now) const {
  const double elapsed = absl::ToDoubleSeconds(now - start_);
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
  const double percent = total_ > 0 ? 100.0 * static_cast<double>(done_) / total_ : 100.0;
  std::string line = absl::StrFormat("%s: %d/%d (%.1f%%)", label_, done_, total_, percent);
  if (done_ >= total_) {
    absl::StrAppendFormat(&line, " done in %s", FormatEta(now - start_));
  } else if (rate > 0) {
    absl::StrAppendFormat(&line, " %.2f/s, %s left", rate,
                          FormatEta(absl::Seconds((total_ - done_) / rate)));
  }
  return line;
}

void ProgressMeter::MaybePrintLocked() {
  if (out_ == nullptr || finished_) return;
  const absl::Time now = absl::Now();
  const bool complete = done_ >= total_;
  if (!complete && now - last_print_ < interval_) return;
  last_print_ = now;
  finished_ = complete;
  *out_ << LineLocked(now) << "\n" << std::flush;
}

}  // namespace memr1
