#pragma once

// Graceful shutdown on SIGINT / SIGTERM. Install() blocks both signals in the calling thread
// (call it first in main, before any thread starts, so every later thread inherits the mask)
// and starts one thread that waits for them; a role then waits on the ShutdownSignal or polls
// it between units of work, finishes or checkpoints, and exits cleanly.
//
// Thread safety: all methods are thread safe; Close() is idempotent and joins the thread.

#include <atomic>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace memr1 {

class ShutdownSignal {
 public:
  // At most one may be installed at a time per process (FailedPrecondition otherwise).
  static absl::StatusOr<std::unique_ptr<ShutdownSignal>> Install();
  ~ShutdownSignal();
  ShutdownSignal(const ShutdownSignal&) = delete;
  ShutdownSignal& operator=(const ShutdownSignal&) = delete;

  // True once a signal arrived or Request() was called.
  bool requested() const { return notification_.HasBeenNotified(); }
  // The signal that asked for shutdown (SIGINT, SIGTERM), or 0 after Request().
  int signal_number() const { return signal_number_.load(); }
  // Blocks until shutdown is requested or `timeout` passes; returns requested().
  bool WaitFor(absl::Duration timeout) const;
  // Asks for shutdown from inside the process (e.g. when a peer role failed).
  void Request();
  void Close();

 private:
  ShutdownSignal() = default;
  void Run();
  void NotifyOnce();

  absl::Notification notification_;
  std::atomic<bool> notified_{false};
  std::atomic<int> signal_number_{0};
  std::atomic<bool> closing_{false};
  std::thread thread_;
};

}  // namespace memr1
