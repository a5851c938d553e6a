#pragma once

// Progress of long work on a terminal: "<label>: 120/400 (30.0%) 3.2/s, 1m27s left". Lines go to
// a stream (stderr by default), at most one per `interval` plus the final one, so logs of long
// jobs stay short. The rate is the average since Start; "left" is (total - done) / rate.
//
// Thread safety: thread safe (Update may be called from worker threads).

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace memr1 {

class ProgressMeter {
 public:
  // `out` is not owned and must outlive the meter; null disables output (counting still works).
  ProgressMeter(std::string label, int64_t total, std::ostream* out,
                absl::Duration interval = absl::Seconds(2));

  // Sets the count done so far (monotone: a smaller value is ignored) and prints a line when
  // the interval has passed or the work is complete.
  void Update(int64_t done);
  // Adds `n` to the count done.
  void Add(int64_t n);

  int64_t done() const;
  int64_t total() const { return total_; }
  // The line that would be printed now.
  std::string Line() const;

 private:
  std::string LineLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybePrintLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string label_;
  const int64_t total_;
  std::ostream* const out_;
  const absl::Duration interval_;
  const absl::Time start_;
  mutable absl::Mutex mu_;
  int64_t done_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_print_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// "1h02m", "3m07s", "12s".
std::string FormatEta(absl::Duration duration);

}  // namespace memr1
