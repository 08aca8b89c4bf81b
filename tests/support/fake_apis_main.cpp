// schedbridge_fake_apis: the test suite's fake provider APIs as a program,
// to try `schedbridge subscriptions` and `schedbridge reconcile` by hand
// (README "Completeness"). Serves Cal.com v2, Calendly v2 and SavvyCal v1 on
// loopback, with some bookings changed in the last hour.

#include <CLI/CLI.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "bridge/model/time.h"
#include "fake_apis.h"

namespace {

volatile std::sig_atomic_t stop = 0;

std::string MinutesFromNow(int minutes) {
  const auto t = std::chrono::time_point_cast<std::chrono::seconds>(
      std::chrono::system_clock::now() + std::chrono::minutes(minutes));
  return bridge::FormatTimestamp(t);
}

}  // namespace

int main(int argc, char** argv) {
  int bookings = 5;
  int port = 0;
  std::string key_file = "fake-api.key";
  CLI::App app{
      "Usage: schedbridge_fake_apis [--port N] [--bookings N] [--key-file PATH]\n"
      "Fake Cal.com, Calendly and SavvyCal APIs on a free loopback port, for trying "
      "`schedbridge subscriptions` and `schedbridge reconcile` without the providers. Writes "
      "the API key it accepts to --key-file and prints its URL."};
  app.add_option("--bookings", bookings, "bookings per provider, changed in the last hour")
      ->check(CLI::Range(0, 100000));
  app.add_option("--key-file", key_file, "where to write the accepted API key");
  app.add_option("--port", port, "loopback port (default: a free one)")
      ->check(CLI::Range(0, 65535));
  CLI11_PARSE(app, argc, argv);

  bridge::testing::FakeApis fake("fake-api-key-0123456789", port);
  std::ofstream(key_file) << fake.api_key() << "\n";
  // As a key file should be (schedbridge warns about one others may read).
  std::filesystem::permissions(
      key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  fake.With([&](bridge::testing::FakeApis::State& s) {
    for (int i = 0; i < bookings; ++i) {
      const std::string n = std::to_string(i + 1);
      bridge::testing::FakeCalBooking b;
      b.uid = "fake-booking-" + n;
      b.start = MinutesFromNow(24 * 60 + 30 * i);
      b.end = MinutesFromNow(24 * 60 + 30 * i + 30);
      b.created_at = b.updated_at = MinutesFromNow(-50 + i);
      if (i % 4 == 3) b.status = "cancelled";
      s.calcom_bookings.push_back(b);
      s.calendly_events.push_back(
          {"FAKE-EVENT-" + n, "active", b.start, b.end, b.created_at, b.updated_at});
      bridge::testing::FakeCalendlyInvitee inv;
      inv.uuid = "FAKE-INVITEE-" + n;
      inv.event_uuid = "FAKE-EVENT-" + n;
      inv.created_at = inv.updated_at = b.updated_at;
      s.calendly_invitees.push_back(inv);
      bridge::testing::FakeSavvyEvent e;
      e.id = "fake_event_" + n;
      e.start_at = b.start;
      e.end_at = b.end;
      e.created_at = b.created_at;
      s.savvycal_events.push_back(e);
    }
  });
  std::signal(SIGINT, [](int) { stop = 1; });
  std::signal(SIGTERM, [](int) { stop = 1; });
  std::cout << "fake provider APIs on " << fake.url() << " (API key in " << key_file << ")"
            << std::endl;
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return 0;
}
