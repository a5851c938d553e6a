#include "common/net.h"

#include <gtest/gtest.h>

namespace memr1 {
namespace {

TEST(NetTest, ParsesHostPortForms) {
  auto v4 = ParseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);
  auto v6 = ParseHostPort("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  EXPECT_EQ(JoinHostPort("::1", 5), "[::1]:5");
  EXPECT_EQ(JoinHostPort("localhost", 5), "localhost:5");
}

TEST(NetTest, RejectsMalformedAddresses) {
  for (const char* bad : {"", "host", ":80", "host:", "host:x", "host:65536", "host:-1",
                          "[::1]", "[::1]80"}) {
    EXPECT_EQ(ParseHostPort(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace memr1
