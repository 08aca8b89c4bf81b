#include "kafka_helpers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace bridge::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};

}  // namespace

std::string TestBrokers() {
  std::string b = Slurp(std::string(SCHEDBRIDGE_TEST_KAFKA_DIR) + "/bootstrap");
  while (!b.empty() && (b.back() == '\n' || b.back() == ' ')) b.pop_back();
  if (b.empty()) throw std::runtime_error("no test broker: run the kafka_start ctest fixture");
  return b;
}

std::string RandomName(const std::string& prefix) {
  static std::mt19937_64 rng(std::random_device{}());
  static const char* kChars = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s = prefix + "-";
  for (int i = 0; i < 10; ++i) s.push_back(kChars[rng() % 36]);
  return s;
}

void CreateTopic(const std::string& brokers, const std::string& topic, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  std::unique_ptr<rd_kafka_t, KafkaDeleter> rk(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
  if (!rk) throw std::runtime_error(err);
  std::unique_ptr<rd_kafka_queue_t, QueueDeleter> queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
  rd_kafka_CreateTopics(rk.get(), &nt, 1, nullptr, queue.get());
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), 30000);
  std::string failure;
  if (ev == nullptr) {
    failure = "CreateTopics timed out";
  } else {
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
    if (rd_kafka_event_error(ev)) failure = rd_kafka_event_error_string(ev);
    for (size_t i = 0; i < n; ++i) {
      if (rd_kafka_topic_result_error(results[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failure = rd_kafka_topic_result_error_string(results[i]);
      }
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_NewTopic_destroy(nt);
  if (!failure.empty()) throw std::runtime_error("create topic " + topic + ": " + failure);
}

void ProduceFiller(const std::string& brokers, const std::string& topic, int count,
                   size_t value_bytes, const std::string& replica) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err);
  // No duplicate on a retry: callers count the records.
  rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
  std::atomic<int> failed{0};
  rd_kafka_conf_set_opaque(conf, &failed);
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++*static_cast<std::atomic<int>*>(opaque);
  });
  std::unique_ptr<rd_kafka_t, KafkaDeleter> rk(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
  if (!rk) throw std::runtime_error(err);
  std::mt19937_64 rng(std::random_device{}());
  std::string value(value_bytes, '\0');
  for (int i = 0; i < count; ++i) {
    for (char& c : value) c = static_cast<char>(rng());
    char id[40];
    std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012llx", static_cast<unsigned>(rng()),
                  static_cast<unsigned long long>(i));
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(
                rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_HEADER("ce_id", id, -1),
                RD_KAFKA_V_HEADER("schedbridge_replica", replica.c_str(), -1), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk.get(), 10);
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(rd_kafka_err2str(e));
    rd_kafka_poll(rk.get(), 0);
  }
  if (rd_kafka_flush(rk.get(), 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("ProduceFiller: not every record was acknowledged within 60 s");
  }
  if (failed.load() > 0) {
    throw std::runtime_error("ProduceFiller: " + std::to_string(failed.load()) +
                             " records were not delivered");
  }
}

namespace {

std::unique_ptr<RdKafka::KafkaConsumer> NewConsumer(const std::string& brokers) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", brokers, err);
  conf->set("group.id", RandomName("test-reader"), err);
  conf->set("enable.auto.commit", "false", err);
  conf->set("isolation.level", "read_committed", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error(err);
  return c;
}

int PartitionCount(RdKafka::KafkaConsumer& c, const std::string& topic) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::string err;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&c, topic, nullptr, err));
    RdKafka::Metadata* md = nullptr;
    if (c.metadata(false, t.get(), &md, 5000) == RdKafka::ERR_NO_ERROR) {
      std::unique_ptr<RdKafka::Metadata> owned(md);
      for (const auto* tm : *owned->topics()) {
        if (tm->topic() == topic && tm->err() == RdKafka::ERR_NO_ERROR &&
            !tm->partitions()->empty()) {
          return static_cast<int>(tm->partitions()->size());
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("no metadata for topic " + topic);
}

}  // namespace

std::vector<Consumed> Consume(const std::string& brokers, const std::string& topic, size_t count,
                              std::chrono::milliseconds timeout) {
  auto consumer = NewConsumer(brokers);
  const int partitions = PartitionCount(*consumer, topic);
  std::vector<RdKafka::TopicPartition*> assignment;
  for (int p = 0; p < partitions; ++p) {
    assignment.push_back(
        RdKafka::TopicPartition::create(topic, p, RdKafka::Topic::OFFSET_BEGINNING));
  }
  consumer->assign(assignment);
  RdKafka::TopicPartition::destroy(assignment);
  std::vector<Consumed> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(200));
    if (m->err() != RdKafka::ERR_NO_ERROR) continue;
    Consumed c;
    c.partition = m->partition();
    if (m->key()) c.key = *m->key();
    c.value.assign(static_cast<const char*>(m->payload()), m->len());
    if (RdKafka::Headers* h = m->headers()) {
      for (const auto& header : h->get_all()) {
        c.headers[header.key()] =
            std::string(static_cast<const char*>(header.value()), header.value_size());
      }
    }
    out.push_back(std::move(c));
  }
  consumer->close();
  return out;
}

int64_t MessageCount(const std::string& brokers, const std::string& topic) {
  auto consumer = NewConsumer(brokers);
  const int partitions = PartitionCount(*consumer, topic);
  int64_t total = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    if (consumer->query_watermark_offsets(topic, p, &low, &high, 5000) != RdKafka::ERR_NO_ERROR) {
      throw std::runtime_error("watermarks of " + topic);
    }
    total += high - low;
  }
  consumer->close();
  return total;
}

int64_t CommittedTotal(const std::string& brokers, const std::string& topic,
                       const std::string& group) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", brokers, err);
  conf->set("group.id", group, err);
  conf->set("enable.auto.commit", "false", err);
  // read_committed (librdkafka's default) asks for stable offsets, which a
  // transaction left open by a killed replay blocks until it times out (60
  // s): the committed offsets as they are, pending ones left out, suffice.
  conf->set("isolation.level", "read_uncommitted", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  const int partitions = PartitionCount(*c, topic);
  std::vector<RdKafka::TopicPartition*> list;
  for (int p = 0; p < partitions; ++p) list.push_back(RdKafka::TopicPartition::create(topic, p));
  RdKafka::ErrorCode fetched = RdKafka::ERR_UNKNOWN;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while ((fetched = c->committed(list, 10000)) != RdKafka::ERR_NO_ERROR &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (fetched != RdKafka::ERR_NO_ERROR) {
    RdKafka::TopicPartition::destroy(list);
    throw std::runtime_error("committed(): " + RdKafka::err2str(fetched));
  }
  int64_t total = 0;
  for (auto* tp : list) total += std::max<int64_t>(0, tp->offset());
  RdKafka::TopicPartition::destroy(list);
  c->close();
  return total;
}

int64_t UncommittedCount(const std::string& brokers, const std::string& topic) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", brokers, err);
  conf->set("group.id", RandomName("uncommitted-reader"), err);
  conf->set("isolation.level", "read_uncommitted", err);
  conf->set("enable.partition.eof", "true", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  const int partitions = PartitionCount(*c, topic);
  std::vector<RdKafka::TopicPartition*> list;
  for (int p = 0; p < partitions; ++p) {
    list.push_back(RdKafka::TopicPartition::create(topic, p, RdKafka::Topic::OFFSET_BEGINNING));
  }
  c->assign(list);
  RdKafka::TopicPartition::destroy(list);
  int64_t n = 0;
  int eofs = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (eofs < partitions && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(c->consume(200));
    if (m->err() == RdKafka::ERR_NO_ERROR) ++n;
    if (m->err() == RdKafka::ERR__PARTITION_EOF) ++eofs;
  }
  c->close();
  return n;
}

Command::Command(std::vector<std::string> args, std::map<std::string, std::string> env) {
  char out_tmpl[] = "/tmp/schedbridge-cmd-out-XXXXXX";
  char err_tmpl[] = "/tmp/schedbridge-cmd-err-XXXXXX";
  const int out_fd = mkstemp(out_tmpl), err_fd = mkstemp(err_tmpl);
  out_path_ = out_tmpl;
  err_path_ = err_tmpl;
  args.insert(args.begin(), SCHEDBRIDGE_BINARY);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    clearenv();
    setenv("PATH", "/usr/bin:/bin", 1);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
}

Command::~Command() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  unlink(out_path_.c_str());
  unlink(err_path_.c_str());
}

int Command::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill(SIGKILL);
  return -1;
}

void Command::Kill(int signal) {
  if (pid_ <= 0) return;
  kill(pid_, signal);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string Command::Stdout() const { return Slurp(out_path_); }
std::string Command::Stderr() const { return Slurp(err_path_); }

int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

ServiceProcess::ServiceProcess(std::map<std::string, std::string> env,
                               std::vector<std::string> args) {
  char tmpl[] = "/tmp/schedbridge-test-log-XXXXXX";
  const int log_fd = mkstemp(tmpl);
  if (log_fd < 0) throw std::runtime_error("mkstemp");
  log_path_ = tmpl;
  std::vector<std::string> argv_s = {SCHEDBRIDGE_BINARY, "serve",          "--listen",
                                     "127.0.0.1:0",      "--admin-listen", "127.0.0.1:0"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  pid_ = fork();
  if (pid_ == 0) {
    dup2(log_fd, STDERR_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    // A clean environment: only what the test gives, plus PATH.
    clearenv();
    setenv("PATH", "/usr/bin:/bin", 1);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  // The service logs both addresses once it has bound the ports.
  const std::regex address(
      R"re("address":"127\.0\.0\.1:([0-9]+)","admin_address":"127\.0\.0\.1:([0-9]+)")re");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    const std::string log = Log();
    if (std::regex_search(log, m, address)) {
      port_ = std::stoi(m[1]);
      admin_port_ = std::stoi(m[2]);
      return;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("schedbridge exited at start: " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("schedbridge did not start listening: " + Log());
}

ServiceProcess::~ServiceProcess() {
  if (pid_ > 0) Stop(SIGKILL, std::chrono::seconds(10));
  unlink(log_path_.c_str());
}

bool ServiceProcess::WaitReady(std::chrono::milliseconds timeout) {
  httplib::Client client("127.0.0.1", admin_port_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = client.Get("/readyz");
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void ServiceProcess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

int ServiceProcess::Stop(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

std::string ServiceProcess::Log() const { return Slurp(log_path_); }

}  // namespace bridge::testing
