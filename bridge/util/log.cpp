#include "bridge/util/log.h"

#include <atomic>
#include <cmath>
#include <cstdio>

#include "bridge/util/json.h"
#include "bridge/util/timestamp.h"

namespace bridge::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

}  // namespace

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
    case Level::kOff:
      return "off";
  }
  return "info";
}

void SetLevel(Level level) { g_level = static_cast<int>(level); }

bool ParseLevel(std::string_view t, Level& out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
    if (t == LevelName(l)) {
      out = l;
      return true;
    }
  }
  if (t == "warning") {
    out = Level::kWarn;
    return true;
  }
  return false;
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

namespace {

std::atomic<bool> g_text{false};

void WriteValue(json::Writer& w, const Value& v) {
  switch (v.type()) {
    case Value::Type::kString:
      w.String(v.text().data(), static_cast<rapidjson::SizeType>(v.text().size()));
      break;
    case Value::Type::kInteger:
      w.Int64(v.integer());
      break;
    case Value::Type::kNumber:
      // Latencies and durations: three decimals say enough (0.06, not
      // 0.060171999999999999). A value that would round to 0 keeps its digits.
      w.Double(std::abs(v.number()) >= 0.001 || v.number() == 0
                   ? std::round(v.number() * 1000.0) / 1000.0
                   : v.number());
      break;
    case Value::Type::kBoolean:
      w.Bool(v.integer() != 0);
      break;
    case Value::Type::kStrings:
      w.StartArray();
      for (const std::string& s : v.list()) {
        w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      }
      w.EndArray();
      break;
  }
}

/// A text value: bare when it is one word, else JSON-quoted.
std::string TextValue(const Value& v) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  WriteValue(w, v);
  std::string out(buf.GetString(), buf.GetSize());
  if (v.type() == Value::Type::kString && !v.text().empty() &&
      v.text().find_first_of(" \"=\\") == std::string_view::npos &&
      out.size() == v.text().size() + 2) {
    return std::string(v.text());
  }
  return out;
}

}  // namespace

void SetTextFormat(bool text) { g_text = text; }

std::string Format(Level level, std::string_view event, Fields fields) {
  const std::string ts = FormatTimestamp(std::chrono::system_clock::now());
  if (g_text.load()) {
    std::string line = ts + " " + LevelName(level) + " " + std::string(event);
    for (const auto& [k, v] : fields) {
      line += " " + std::string(k) + "=" + TextValue(v);
    }
    return line + "\n";
  }
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  w.Key("ts");
  w.String(ts.data(), static_cast<rapidjson::SizeType>(ts.size()));
  w.Key("level");
  w.String(LevelName(level));
  w.Key("event");
  w.String(event.data(), static_cast<rapidjson::SizeType>(event.size()));
  for (const auto& [k, v] : fields) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    WriteValue(w, v);
  }
  w.EndObject();
  std::string line(buf.GetString(), buf.GetSize());
  line.push_back('\n');
  return line;
}

void Write(Level level, std::string_view event, Fields fields) {
  if (!Enabled(level)) return;
  const std::string line = Format(level, event, fields);
  // One fwrite per line: lines from different threads never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace bridge::log
