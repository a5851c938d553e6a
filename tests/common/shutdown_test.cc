#include "common/shutdown.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace memr1 {
namespace {

TEST(ShutdownSignalTest, SigtermRequestsShutdown) {
  auto shutdown = ShutdownSignal::Install();
  ASSERT_TRUE(shutdown.ok()) << shutdown.status();
  EXPECT_FALSE((*shutdown)->requested());
  EXPECT_FALSE((*shutdown)->WaitFor(absl::Milliseconds(10)));
  ASSERT_EQ(kill(getpid(), SIGTERM), 0);  // blocked in every thread, taken by sigtimedwait
  EXPECT_TRUE((*shutdown)->WaitFor(absl::Seconds(10)));
  EXPECT_EQ((*shutdown)->signal_number(), SIGTERM);
  (*shutdown)->Close();
  (*shutdown)->Close();
}

TEST(ShutdownSignalTest, OnlyOneAtATimeAndRequestFromInside) {
  auto first = ShutdownSignal::Install();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(ShutdownSignal::Install().status().code(), absl::StatusCode::kFailedPrecondition);
  (*first)->Request();
  (*first)->Request();
  EXPECT_TRUE((*first)->requested());
  EXPECT_EQ((*first)->signal_number(), 0);
  first->reset();
  auto again = ShutdownSignal::Install();
  EXPECT_TRUE(again.ok());
}

}  // namespace
}  // namespace memr1
