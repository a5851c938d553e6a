#pragma once

// Process-wide metrics in the Prometheus data model (counters, gauges, histograms with
// labels), exported in the Prometheus text exposition format 0.0.4 by ExportText() and served
// over HTTP by MetricsServer (common/metrics_server.h).
//
// Thread safety: everything here is thread safe. Metric objects are owned by their registry
// and live as long as it does; hot-path updates are lock-free atomics.

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace memr1 {

using MetricLabels = std::map<std::string, std::string>;

// A monotonically increasing value.
class Counter {
 public:
  // Adds `delta`, which must be >= 0 (negative deltas are ignored: counters never go down).
  void Increment(double delta = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into cumulative buckets with the given upper bounds (+Inf is implied).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot TakeSnapshot() const;

  // Bucket bounds start, start*factor, ... (count of them).
  static std::vector<double> ExponentialBounds(double start, double factor, int count);

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative
  std::atomic<double> sum_{0.0};
  std::atomic<uint64_t> count_{0};
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The registry every component of this process reports to.
  static MetricsRegistry& Default();

  // Returns the series `name{labels}`, creating it on first use. The same name must always be
  // used with the same type, help text and label names (a programmer error otherwise: CHECK).
  // Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*); memr1 prefixes them `memr1_`.
  Counter* GetCounter(const std::string& name, const std::string& help,
                      const MetricLabels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help,
                  const MetricLabels& labels = {});
  Histogram* GetHistogram(const std::string& name, const std::string& help,
                          const std::vector<double>& bounds, const MetricLabels& labels = {});

  // All series in the Prometheus text format, families sorted by name.
  std::string ExportText() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    std::vector<std::string> label_names;
    std::map<MetricLabels, std::unique_ptr<Counter>> counters;
    std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
    std::map<MetricLabels, std::unique_ptr<Histogram>> histograms;
  };
  Family& GetFamily(const std::string& name, Type type, const std::string& help,
                    const MetricLabels& labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
};

// Formats a sample value as Prometheus expects (shortest round-trip decimal, +Inf, -Inf, NaN).
std::string FormatMetricValue(double value);

}  // namespace memr1
