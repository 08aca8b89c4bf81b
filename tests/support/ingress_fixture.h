#pragma once

// A test fixture with the webhook port on an ephemeral loopback port, over a
// pipeline whose publisher is a FakePublisher. Derived fixtures set
// `config_` (limits, sources) and call StartServer().

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "bridge/config/config.h"
#include "bridge/webhook/webhook_server.h"
#include "support.h"

namespace bridge::testing {

class IngressFixture : public ::testing::Test {
 protected:
  void SetUp() override { log::SetLevel(log::Level::kOff); }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::seconds(2));
  }

  /// Builds the pipeline and the server from `config_` and starts serving.
  void StartServer() {
    pipeline_ = std::make_unique<Pipeline>(config_.pipeline, publisher_, clock_);
    sources_ = std::make_unique<SourceTable>(config_.sources);
    server_ = std::make_unique<WebhookServer>(config_.http, *sources_, *pipeline_,
                                              ProviderRegistry::BuiltIn(), metrics_);
    std::string error;
    port_ = server_->Bind("127.0.0.1", 0, error);
    ASSERT_GT(port_, 0) << error;
    server_->Start();
  }

  Config config_;
  FakePublisher publisher_;
  SystemClock clock_;
  Metrics metrics_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<SourceTable> sources_;
  std::unique_ptr<WebhookServer> server_;
  int port_ = 0;
};

}  // namespace bridge::testing
