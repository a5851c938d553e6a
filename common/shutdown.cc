#include "common/shutdown.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <ctime>

#include "common/logging.h"

namespace memr1 {
namespace {

std::atomic<bool> g_installed{false};

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShutdownSignal>> ShutdownSignal::Install() {
  bool expected = false;
  if (!g_installed.compare_exchange_strong(expected, true)) {
    return absl::FailedPreconditionError("a ShutdownSignal is already installed");
  }
  const sigset_t set = ShutdownSignals();
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) {
    g_installed = false;
    return absl::InternalError("pthread_sigmask failed");
  }
  std::unique_ptr<ShutdownSignal> signal(new ShutdownSignal());
  signal->thread_ = std::thread([raw = signal.get()] { raw->Run(); });
  return signal;
}

void ShutdownSignal::Run() {
  const sigset_t set = ShutdownSignals();
  // sigtimedwait with a short period, so Close() needs no signal of its own to end the thread.
  const timespec period{0, 100 * 1000 * 1000};
  while (!closing_.load()) {
    const int sig = sigtimedwait(&set, nullptr, &period);
    if (sig > 0) {
      MEMR1_LOG(INFO) << "received " << (sig == SIGINT ? "SIGINT" : "SIGTERM")
                      << ", shutting down";
      int expected = 0;
      signal_number_.compare_exchange_strong(expected, sig);
      NotifyOnce();
    }
  }
}

bool ShutdownSignal::WaitFor(absl::Duration timeout) const {
  return notification_.WaitForNotificationWithTimeout(timeout);
}

void ShutdownSignal::Request() { NotifyOnce(); }

void ShutdownSignal::NotifyOnce() {
  if (!notified_.exchange(true)) notification_.Notify();
}

ShutdownSignal::~ShutdownSignal() { Close(); }

void ShutdownSignal::Close() {
  closing_ = true;
  if (thread_.joinable()) {
    thread_.join();
    g_installed = false;
  }
}

}  // namespace memr1
