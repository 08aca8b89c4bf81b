#pragma once

// Real-broker helpers: topics with random names, a consumer that reads a
// topic from the beginning, and a harness that runs the schedbridge binary.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace bridge::testing {

/// The bootstrap address of the broker started by the ctest fixture.
std::string TestBrokers();
std::string RandomName(const std::string& prefix);
void CreateTopic(const std::string& brokers, const std::string& topic, int partitions);

struct Consumed {
  int32_t partition = -1;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

/// Reads `topic` from the beginning until `count` messages arrived or `timeout`.
std::vector<Consumed> Consume(const std::string& brokers, const std::string& topic, size_t count,
                              std::chrono::milliseconds timeout = std::chrono::seconds(20));

/// Produces `count` records of `value_bytes` random (incompressible) bytes,
/// each with a `ce_id` header (UUID-shaped, distinct per index) and a
/// `schedbridge_replica` header `replica`, as another replica's events would
/// be. Waits until every one is acknowledged; throws on a failure.
void ProduceFiller(const std::string& brokers, const std::string& topic, int count,
                   size_t value_bytes, const std::string& replica);

/// Messages in the topic right now (sum of high - low watermarks).
int64_t MessageCount(const std::string& brokers, const std::string& topic);

/// Sum of the offsets `group` committed on `topic` (partitions without a commit count 0).
int64_t CommittedTotal(const std::string& brokers, const std::string& topic,
                       const std::string& group);

/// Reads `topic` with isolation.level=read_uncommitted (aborted records included).
int64_t UncommittedCount(const std::string& brokers, const std::string& topic);

/// A child process running the schedbridge binary with arguments.
class Command {
 public:
  Command(std::vector<std::string> args, std::map<std::string, std::string> env = {});
  ~Command();
  /// Waits for the exit status (-1 on timeout, then killed).
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(120));
  void Kill(int signal);
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
};

/// A free TCP port on loopback (nothing listens on it after this returns).
int UnusedPort();

/// `schedbridge serve` as a child process on an ephemeral port.
class ServiceProcess {
 public:
  ServiceProcess(std::map<std::string, std::string> env, std::vector<std::string> args = {});
  ~ServiceProcess();
  /// The webhook port.
  int port() const { return port_; }
  /// The admin port: /metrics, /healthz, /readyz.
  int admin_port() const { return admin_port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// Polls /readyz until 200 or the timeout.
  bool WaitReady(std::chrono::milliseconds timeout);
  /// Sends `signal` without waiting.
  void Signal(int signal);
  /// Sends `signal` and waits for the exit status (-1 on timeout).
  int Stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  int port_ = -1;
  int admin_port_ = -1;
  std::string log_path_;
};

}  // namespace bridge::testing
