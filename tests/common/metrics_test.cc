#include "common/metrics.h"

#include <httplib.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "common/metrics_server.h"

namespace memr1 {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, ExportsCountersGaugesAndHistogramsInPrometheusFormat) {
  MetricsRegistry registry;
  registry.GetCounter("memr1_requests_total", "Requests served.", {{"method", "Apply"}})
      ->Increment(3);
  registry.GetCounter("memr1_requests_total", "Requests served.", {{"method", "Get"}})
      ->Increment();
  registry.GetGauge("memr1_banks", "Open banks.")->Set(7);
  Histogram* latency = registry.GetHistogram("memr1_latency_seconds", "Latency.",
                                             {0.01, 0.1, 1.0}, {{"method", "Apply"}});
  latency->Observe(0.005);
  latency->Observe(0.05);
  latency->Observe(0.05);
  latency->Observe(5);
  const std::string text = registry.ExportText();
  EXPECT_THAT(text, HasSubstr("# HELP memr1_requests_total Requests served.\n"
                              "# TYPE memr1_requests_total counter\n"
                              "memr1_requests_total{method=\"Apply\"} 3\n"
                              "memr1_requests_total{method=\"Get\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE memr1_banks gauge\nmemr1_banks 7\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE memr1_latency_seconds histogram\n"
                              "memr1_latency_seconds_bucket{method=\"Apply\",le=\"0.01\"} 1\n"
                              "memr1_latency_seconds_bucket{method=\"Apply\",le=\"0.1\"} 3\n"
                              "memr1_latency_seconds_bucket{method=\"Apply\",le=\"1\"} 3\n"
                              "memr1_latency_seconds_bucket{method=\"Apply\",le=\"+Inf\"} 4\n"
                              "memr1_latency_seconds_sum{method=\"Apply\"} 5.105\n"
                              "memr1_latency_seconds_count{method=\"Apply\"} 4\n"));
}

TEST(MetricsTest, SameSeriesIsReturnedAndCountersNeverDecrease) {
  MetricsRegistry registry;
  Counter* a = registry.GetCounter("c_total", "c", {{"k", "v"}});
  Counter* b = registry.GetCounter("c_total", "c", {{"k", "v"}});
  EXPECT_EQ(a, b);
  a->Increment(2);
  a->Increment(-5);
  EXPECT_EQ(b->value(), 2);
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  MetricsRegistry registry;
  registry.GetGauge("g", "line1\nline2 \\", {{"path", "a\"b\\c\nd"}})->Set(1);
  const std::string text = registry.ExportText();
  EXPECT_THAT(text, HasSubstr("# HELP g line1\\nline2 \\\\\n"));
  EXPECT_THAT(text, HasSubstr("g{path=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry registry;
  Counter* counter = registry.GetCounter("n_total", "n");
  Histogram* histogram = registry.GetHistogram("h", "h", {1.0});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter->Increment();
        histogram->Observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter->value(), 40000);
  EXPECT_EQ(histogram->TakeSnapshot().count, 40000u);
}

TEST(MetricsTest, NonFiniteValuesUsePrometheusSpelling) {
  EXPECT_EQ(FormatMetricValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatMetricValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatMetricValue(0.0 / 0.0), "NaN");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
}

TEST(MetricsServerTest, ScrapedOverRealHttpOnLoopback) {
  MetricsRegistry registry;
  Counter* counter = registry.GetCounter("memr1_scrapes_test_total", "test");
  counter->Increment(41);
  auto server = MetricsServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);

  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_connection_timeout(5);
  client.set_read_timeout(5);
  counter->Increment();
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(response->get_header_value("Content-Type"), HasSubstr("version=0.0.4"));
  EXPECT_THAT(response->body, HasSubstr("memr1_scrapes_test_total 42\n"));

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->body, "ok\n");
  auto missing = client.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  (*server)->Close();
  (*server)->Close();  // idempotent
  httplib::Client after("127.0.0.1", (*server)->port());
  after.set_connection_timeout(1);
  EXPECT_FALSE(after.Get("/metrics"));
}

TEST(MetricsServerTest, BadAddressIsAnError) {
  MetricsRegistry registry;
  EXPECT_EQ(MetricsServer::Start("no-port", &registry).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto first = MetricsServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(first.ok());
  const auto second =
      MetricsServer::Start("127.0.0.1:" + std::to_string((*first)->port()), &registry);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace memr1
