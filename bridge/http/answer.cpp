#include "bridge/http/answer.h"

#include <algorithm>
#include <boost/beast/http/status.hpp>
#include <cctype>
#include <cstdio>
#include <ostream>  // Beast's status.hpp needs it first
#include <random>

#include "bridge/util/json.h"

namespace bridge {

namespace http = boost::beast::http;

std::string JsonBody(std::string_view status, const std::vector<std::string>& event_ids,
                     const std::string& error, const std::string& dead_letter_id) {
  return json::WriteString([&](json::Writer& w) {
    w.StartObject();
    w.Key("status");
    w.String(status.data(), static_cast<rapidjson::SizeType>(status.size()));
    w.Key("event_ids");
    w.StartArray();
    for (const std::string& id : event_ids) w.String(id);
    w.EndArray();
    if (!dead_letter_id.empty()) {
      w.Key("dead_letter_id");
      w.String(dead_letter_id);
    }
    w.Key("error");
    if (error.empty()) {
      w.Null();
    } else {
      w.String(error);
    }
    w.EndObject();
  });
}

std::string ErrorBody(std::string_view status, const std::string& error) {
  return JsonBody(status, {}, error);
}

bool SaneRequestId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == ':';
  });
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

void WriteAnswer(std::string& out, const Answer& a, std::string_view request_id,
                 int retry_after_seconds, bool close, bool with_body) {
  out.clear();
  // One allocation: the connection frees the answer after writing it, and
  // appending to an empty string grew it four or five times.
  out.reserve(192 + request_id.size() + a.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(a.status);
  out += ' ';
  const auto reason = http::obsolete_reason(static_cast<http::status>(a.status));
  out.append(reason.data(), reason.size());
  out += "\r\nContent-Type: application/json\r\nContent-Length: ";
  out += std::to_string(a.body.size());
  if (!request_id.empty()) {
    out += "\r\nX-Request-Id: ";
    out += request_id;
  }
  if (a.retry_after) {
    out += "\r\nRetry-After: ";
    out += std::to_string(retry_after_seconds);
  }
  if (a.allow != nullptr) {
    out += "\r\nAllow: ";
    out += a.allow;
  }
  out += close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n";
  if (with_body) out += a.body;
}

}  // namespace bridge
