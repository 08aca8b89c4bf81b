#include "bridge/util/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace bridge {
namespace {

void AppendEscaped(std::string_view v, std::string& out) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

std::string Number(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  // The shortest form that reads back as the same double: le="0.025", not
  // le="0.025000000000000001".
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace

void Metrics::LabelKey(Labels labels, std::string& key, bool inner) {
  key.clear();
  if (labels.size() == 0) return;
  if (!inner) key.push_back('{');
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) key.push_back(',');
    first = false;
    key += k;
    key += "=\"";
    AppendEscaped(v, key);
    key.push_back('"');
  }
  if (!inner) key.push_back('}');
}

Metrics::Family& Metrics::FamilyLocked(std::string_view name) {
  auto f = families_.find(name);
  if (f == families_.end()) f = families_.emplace(std::string(name), Family{}).first;
  return f->second;
}

namespace {
/// The label set of the sample being counted, built without an allocation
/// once the thread's buffer has grown to the longest one.
std::string& KeyBuffer() {
  thread_local std::string key;
  return key;
}
}  // namespace

void Metrics::Inc(std::string_view name, Labels labels, double n) {
  std::string& key = KeyBuffer();
  LabelKey(labels, key);
  std::lock_guard lock(mu_);
  FamilyLocked(name).samples[key] += n;
}

void Metrics::Describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.type = type;
  f.help = help;
}

void Metrics::RegisterFunction(const std::string& name, const char* type, const std::string& help,
                               std::function<double()> read) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.type = type;
  f.help = help;
  f.read = std::move(read);
}

void Metrics::Gauge(const std::string& name, const std::string& help,
                    std::function<double()> read) {
  RegisterFunction(name, "gauge", help, std::move(read));
}

void Metrics::DescribeHistogram(const std::string& name, const std::string& help,
                                std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.type = "histogram";
  f.help = help;
  f.buckets = std::move(buckets);
}

void Metrics::Observe(std::string_view name, Labels labels, double value) {
  std::string& key = KeyBuffer();
  LabelKey(labels, key, /*inner=*/true);
  std::lock_guard lock(mu_);
  Family& f = FamilyLocked(name);
  HistogramSeries& h = f.series[key];
  if (h.counts.empty()) h.counts.assign(f.buckets.size(), 0);
  for (size_t i = 0; i < f.buckets.size(); ++i) {
    if (value <= f.buckets[i]) {
      ++h.counts[i];
      break;
    }
  }
  ++h.count;
  h.sum += value;
}

void Metrics::CounterFunc(const std::string& name, const std::string& help,
                          std::function<double()> read) {
  RegisterFunction(name, "counter", help, std::move(read));
}

double Metrics::Value(const std::string& name, Labels labels) const {
  std::string key;
  LabelKey(labels, key);
  std::lock_guard lock(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto s = f->second.samples.find(key);
  return s == f->second.samples.end() ? 0 : s->second;
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    if (f.read) {
      out += name + " " + Number(f.read()) + "\n";
      continue;
    }
    for (const auto& [labels, v] : f.samples) out += name + labels + " " + Number(v) + "\n";
    for (const auto& [inner, h] : f.series) {
      const std::string sep = inner.empty() ? "" : ",";
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f.buckets.size(); ++i) {
        cumulative += h.counts[i];
        out += name + "_bucket{" + inner + sep + "le=\"" + Number(f.buckets[i]) + "\"} " +
               std::to_string(cumulative) + "\n";
      }
      out += name + "_bucket{" + inner + sep + "le=\"+Inf\"} " + std::to_string(h.count) + "\n";
      const std::string braces = inner.empty() ? "" : "{" + inner + "}";
      out += name + "_sum" + braces + " " + Number(h.sum) + "\n";
      out += name + "_count" + braces + " " + std::to_string(h.count) + "\n";
    }
  }
  return out;
}

}  // namespace bridge
