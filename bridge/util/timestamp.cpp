#include "bridge/util/timestamp.h"

#include <cstdint>

namespace bridge {

std::string FormatTimestamp(TimePoint t) {
  const auto micros_total =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  int64_t secs = micros_total / 1000000;
  int64_t micros = micros_total % 1000000;
  if (micros < 0) {
    micros += 1000000;
    secs -= 1;
  }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  // civil_from_days (Howard Hinnant).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y0 = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = y0 + (m <= 2);

  // Written digit by digit: this runs for every event (snprintf was ~1.5 %
  // of the I/O threads' time).
  const int64_t hh = rem / 3600, mm = rem % 3600 / 60, ss = rem % 60;
  std::string out;
  out.reserve(32);
  auto digits = [&out](int64_t value, int width) {
    char tmp[20];
    int n = 0;
    uint64_t v = value < 0 ? 0 : static_cast<uint64_t>(value);
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0 && n < 20);
    for (int i = n; i < width; ++i) out.push_back('0');
    while (n > 0) out.push_back(tmp[--n]);
  };
  if (y < 0) out.push_back('-');
  digits(y < 0 ? -y : y, 4);
  out.push_back('-');
  digits(m, 2);
  out.push_back('-');
  digits(d, 2);
  out.push_back('T');
  digits(hh, 2);
  out.push_back(':');
  digits(mm, 2);
  out.push_back(':');
  digits(ss, 2);
  if (micros != 0) {
    out.push_back('.');
    if (micros % 1000 == 0) {
      digits(micros / 1000, 3);
    } else {
      digits(micros, 6);
    }
  }
  out.push_back('Z');
  return out;
}

}  // namespace bridge
