#pragma once

// A small Prometheus text-format registry: labelled counters and gauges.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bridge {

class Metrics {
 public:
  /// Label names and values, in the order they are rendered. The values are
  /// only read during the call.
  using Labels = std::initializer_list<std::pair<const char*, std::string_view>>;

  /// Adds `n` to counter `name` with the given label values (in `labels` order).
  void Inc(std::string_view name, Labels labels, double n = 1);
  /// Declares a metric so it appears (with HELP/TYPE) even before its first sample.
  void Describe(const std::string& name, const std::string& type, const std::string& help);
  /// Declares a histogram with upper bucket bounds (seconds, ascending).
  void DescribeHistogram(const std::string& name, const std::string& help,
                         std::vector<double> buckets);
  /// Records one observation.
  void Observe(std::string_view name, Labels labels, double value);
  /// A gauge whose value is read when /metrics is scraped.
  void Gauge(const std::string& name, const std::string& help, std::function<double()> read);
  /// A counter whose (monotonic) value is read when /metrics is scraped.
  void CounterFunc(const std::string& name, const std::string& help, std::function<double()> read);
  /// The value of one labelled counter (tests).
  double Value(const std::string& name, Labels labels) const;
  std::string Render() const;

 private:
  void RegisterFunction(const std::string& name, const char* type, const std::string& help,
                        std::function<double()> read);
  struct HistogramSeries {
    std::vector<uint64_t> counts;  // per bucket, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  struct Family {
    std::string type = "counter";
    std::string help;
    std::map<std::string, double> samples;  // rendered label set → value
    std::function<double()> read;
    std::vector<double> buckets;
    std::map<std::string, HistogramSeries> series;  // label set (inner part) → series
  };
  /// Writes `{a="b",c="d"}` (`inner`: without the braces) into `key`,
  /// reusing its storage: the hot path builds it in a per-thread buffer.
  static void LabelKey(Labels labels, std::string& key, bool inner = false);
  Family& FamilyLocked(std::string_view name);
  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace bridge
