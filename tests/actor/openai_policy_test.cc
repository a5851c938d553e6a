// OpenAiPolicy against OpenAI-compatible chat-completions servers written here with httplib on
// 127.0.0.1 (ports the OS picks): the request it sends, reply parsing, a batch answered out of
// order, retries, errors that fail at once, malformed replies and timeouts. Every wait in a
// handler is bounded.

#include "actor/openai_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <stdlib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace memr1::actor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

// An httplib server on 127.0.0.1:<any port> serving POST /v1/chat/completions.
class FakeServer {
 public:
  explicit FakeServer(Handler handler) {
    server_.Post("/v1/chat/completions", [this, handler](const httplib::Request& request,
                                                         httplib::Response& response) {
      ++requests_;
      handler(request, response);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeServer() {
    release_.Notify();
    server_.stop();
    thread_.join();
  }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_, "/v1"); }
  int port() const { return port_; }
  int requests() const { return requests_.load(); }
  // Blocks a handler until the server shuts down (at most 10 s).
  void WaitForRelease() { release_.WaitForNotificationWithTimeout(absl::Seconds(10)); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> requests_{0};
  absl::Notification release_;
};

std::string Reply(const std::string& content, const std::string& finish_reason = "stop",
                  const std::vector<double>& logprobs = {}) {
  nlohmann::json choice = {{"index", 0},
                           {"message", {{"role", "assistant"}, {"content", content}}},
                           {"finish_reason", finish_reason}};
  if (!logprobs.empty()) {
    nlohmann::json entries = nlohmann::json::array();
    for (double logprob : logprobs) {
      entries.push_back({{"token", "t"}, {"logprob", logprob}, {"top_logprobs", nlohmann::json::array()}});
    }
    choice["logprobs"] = {{"content", entries}};
  }
  nlohmann::json reply = {{"id", "chatcmpl-1"},
                          {"object", "chat.completion"},
                          {"model", "served-model"},
                          {"choices", nlohmann::json::array({choice})}};
  return reply.dump();
}

// The last message's content of a request body.
std::string LastContent(const httplib::Request& request) {
  const nlohmann::json body = nlohmann::json::parse(request.body);
  return body["messages"].back()["content"].get<std::string>();
}

OpenAiPolicyOptions FastOptions(const std::string& url) {
  OpenAiPolicyOptions options;
  options.base_url = url;
  options.model = "served-model";
  options.api_key = "secret";
  options.timeout = absl::Milliseconds(2000);
  options.max_retries = 2;
  options.initial_backoff = absl::Milliseconds(10);
  options.max_batch_size = 4;
  return options;
}

PolicyRequest Request(const std::string& user) {
  PolicyRequest request;
  request.messages = {{"system", "You extract facts."}, {"user", user}};
  request.sampling.temperature = 0.7;
  request.sampling.top_p = 0.9;
  request.sampling.max_tokens = 64;
  request.sampling.seed = 42;
  return request;
}

std::unique_ptr<OpenAiPolicy> MustCreate(const OpenAiPolicyOptions& options) {
  absl::StatusOr<std::unique_ptr<OpenAiPolicy>> policy = OpenAiPolicy::Create(options);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *std::move(policy) : nullptr;
}

TEST(OpenAiPolicyTest, SendsTheRequestAndParsesTheReply) {
  absl::Mutex mu;
  std::vector<nlohmann::json> bodies;
  std::vector<std::string> authorizations;
  FakeServer server([&](const httplib::Request& request, httplib::Response& response) {
    {
      absl::MutexLock lock(&mu);
      bodies.push_back(nlohmann::json::parse(request.body));
      authorizations.push_back(request.get_header_value("Authorization"));
    }
    response.set_content(Reply("Maya lives in Lisbon", "length", {-0.5, -1.25, 0.0}),
                         "application/json");
  });
  auto policy = MustCreate(FastOptions(server.url()));
  ASSERT_NE(policy, nullptr);
  absl::StatusOr<std::vector<Completion>> completions =
      policy->Complete({Request("I moved to Lisbon.")});
  ASSERT_TRUE(completions.ok()) << completions.status();
  ASSERT_EQ(completions->size(), 1u);
  const Completion& completion = (*completions)[0];
  EXPECT_EQ(completion.text, "Maya lives in Lisbon");
  EXPECT_TRUE(completion.truncated);
  EXPECT_THAT(completion.logprobs, ElementsAre(-0.5f, -1.25f, 0.0f));
  EXPECT_TRUE(completion.prompt_ids.empty());
  EXPECT_TRUE(completion.response_ids.empty());

  absl::MutexLock lock(&mu);
  ASSERT_EQ(bodies.size(), 1u);
  const nlohmann::json& body = bodies[0];
  EXPECT_EQ(body["model"], "served-model");
  ASSERT_EQ(body["messages"].size(), 2u);
  EXPECT_EQ(body["messages"][0]["role"], "system");
  EXPECT_EQ(body["messages"][0]["content"], "You extract facts.");
  EXPECT_EQ(body["messages"][1]["role"], "user");
  EXPECT_EQ(body["messages"][1]["content"], "I moved to Lisbon.");
  EXPECT_DOUBLE_EQ(body["temperature"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(body["top_p"].get<double>(), 0.9);
  EXPECT_EQ(body["max_tokens"], 64);
  EXPECT_EQ(body["seed"], 42);
  EXPECT_EQ(body["n"], 1);
  EXPECT_EQ(body["logprobs"], true);
  EXPECT_FALSE(body.contains("top_k"));
  EXPECT_EQ(authorizations[0], "Bearer secret");
}

TEST(OpenAiPolicyTest, TopKAndLogprobsFollowTheOptions) {
  absl::Mutex mu;
  nlohmann::json last;
  FakeServer server([&](const httplib::Request& request, httplib::Response& response) {
    absl::MutexLock lock(&mu);
    last = nlohmann::json::parse(request.body);
    response.set_content(Reply("ok"), "application/json");
  });
  OpenAiPolicyOptions options = FastOptions(server.url());
  options.logprobs = false;
  options.api_key.clear();
  auto policy = MustCreate(options);
  ASSERT_NE(policy, nullptr);
  PolicyRequest request = Request("x");
  request.sampling.top_k = 5;
  request.sampling.temperature = 0;
  absl::StatusOr<std::vector<Completion>> completions = policy->Complete({request});
  ASSERT_TRUE(completions.ok()) << completions.status();
  // A reply without logprobs gives none; "stop" is not truncated.
  EXPECT_TRUE((*completions)[0].logprobs.empty());
  EXPECT_FALSE((*completions)[0].truncated);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(last["top_k"], 5);
  EXPECT_EQ(last["temperature"], 0);
  EXPECT_FALSE(last.contains("logprobs"));
}

TEST(OpenAiPolicyTest, BatchIsAnsweredInOrderWhenTheServerAnswersOutOfOrder) {
  // The handler for "p0" holds its reply until the other three have been answered, so the
  // replies arrive p1, p2, p3 (in some order) and then p0.
  absl::Mutex mu;
  int answered = 0;
  std::vector<std::string> answer_order;
  FakeServer server([&](const httplib::Request& request, httplib::Response& response) {
    const std::string prompt = LastContent(request);
    absl::MutexLock lock(&mu);
    if (prompt == "p0") {
      mu.AwaitWithTimeout(absl::Condition(
                              +[](int* count) { return *count >= 3; }, &answered),
                          absl::Seconds(10));
    }
    ++answered;
    answer_order.push_back(prompt);
    response.set_content(Reply(absl::StrCat("answer to ", prompt)), "application/json");
  });
  auto policy = MustCreate(FastOptions(server.url()));
  ASSERT_NE(policy, nullptr);
  std::vector<PolicyRequest> requests;
  for (int i = 0; i < 4; ++i) requests.push_back(Request(absl::StrCat("p", i)));
  absl::StatusOr<std::vector<Completion>> completions = policy->Complete(requests);
  ASSERT_TRUE(completions.ok()) << completions.status();
  ASSERT_EQ(completions->size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*completions)[i].text, absl::StrCat("answer to p", i));
  }
  absl::MutexLock lock(&mu);
  ASSERT_EQ(answer_order.size(), 4u);
  // p0 was answered last: the four requests were in flight together.
  EXPECT_EQ(answer_order.back(), "p0");
}

TEST(OpenAiPolicyTest, LargerBatchesThanInFlightLimitComplete) {
  std::atomic<int> in_flight{0};
  std::atomic<int> most_in_flight{0};
  FakeServer server([&](const httplib::Request& request, httplib::Response& response) {
    const int now = ++in_flight;
    int seen = most_in_flight.load();
    while (now > seen && !most_in_flight.compare_exchange_weak(seen, now)) {
    }
    absl::SleepFor(absl::Milliseconds(5));
    response.set_content(Reply(absl::StrCat("answer to ", LastContent(request))),
                         "application/json");
    --in_flight;
  });
  OpenAiPolicyOptions options = FastOptions(server.url());
  options.max_batch_size = 2;
  auto policy = MustCreate(options);
  ASSERT_NE(policy, nullptr);
  std::vector<PolicyRequest> requests;
  for (int i = 0; i < 9; ++i) requests.push_back(Request(absl::StrCat("q", i)));
  absl::StatusOr<std::vector<Completion>> completions = policy->Complete(requests);
  ASSERT_TRUE(completions.ok()) << completions.status();
  ASSERT_EQ(completions->size(), 9u);
  for (int i = 0; i < 9; ++i) EXPECT_EQ((*completions)[i].text, absl::StrCat("answer to q", i));
  EXPECT_EQ(server.requests(), 9);
  EXPECT_LE(most_in_flight.load(), 2);
  EXPECT_TRUE(policy->Complete({}).ok());
}

TEST(OpenAiPolicyTest, ServiceUnavailableIsRetriedThenSucceeds) {
  std::atomic<int> calls{0};
  FakeServer server([&](const httplib::Request&, httplib::Response& response) {
    if (calls++ < 2) {
      response.status = 503;
      response.set_content("overloaded", "text/plain");
      return;
    }
    response.set_content(Reply("fine"), "application/json");
  });
  auto policy = MustCreate(FastOptions(server.url()));
  ASSERT_NE(policy, nullptr);
  absl::StatusOr<std::vector<Completion>> completions = policy->Complete({Request("x")});
  ASSERT_TRUE(completions.ok()) << completions.status();
  EXPECT_EQ((*completions)[0].text, "fine");
  EXPECT_EQ(server.requests(), 3);
}

TEST(OpenAiPolicyTest, PersistentServerErrorFailsAfterRetries) {
  FakeServer server([](const httplib::Request&, httplib::Response& response) {
    response.status = 500;
    response.set_content("boom", "text/plain");
  });
  auto policy = MustCreate(FastOptions(server.url()));
  ASSERT_NE(policy, nullptr);
  const absl::Status status = policy->Complete({Request("x")}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("HTTP 500"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("3 attempts"));
  EXPECT_EQ(server.requests(), 3);
}

TEST(OpenAiPolicyTest, UnauthorizedFailsAtOnceNamingTheServerAndRequest) {
  FakeServer server([](const httplib::Request&, httplib::Response& response) {
    response.status = 401;
    response.set_content("{\"error\": \"bad key\"}", "application/json");
  });
  OpenAiPolicyOptions options = FastOptions(server.url());
  options.max_batch_size = 1;
  auto policy = MustCreate(options);
  ASSERT_NE(policy, nullptr);
  const absl::Status status = policy->Complete({Request("a"), Request("b"), Request("c")}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("request 0"));
  EXPECT_THAT(message, HasSubstr("policy server"));
  EXPECT_THAT(message, HasSubstr(absl::StrCat("127.0.0.1:", server.port(), "/v1/chat/completions")));
  EXPECT_THAT(message, HasSubstr("API key"));
  // No retry, and the requests after the failure were never sent.
  EXPECT_EQ(server.requests(), 1);
}

TEST(OpenAiPolicyTest, MalformedReplyIsRetriedThenAClearErrorNamingTheRequest) {
  FakeServer server([](const httplib::Request& request, httplib::Response& response) {
    if (LastContent(request) == "bad") {
      response.set_content("{\"choices\": [ this is not json", "application/json");
      return;
    }
    response.set_content(Reply("ok"), "application/json");
  });
  OpenAiPolicyOptions options = FastOptions(server.url());
  options.max_batch_size = 1;
  auto policy = MustCreate(options);
  ASSERT_NE(policy, nullptr);
  const absl::Status status =
      policy->Complete({Request("good"), Request("bad"), Request("never sent")}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("request 1"));
  EXPECT_THAT(message, HasSubstr("malformed"));
  EXPECT_THAT(message, HasSubstr("not JSON"));
  EXPECT_THAT(message, HasSubstr("3 attempts"));
  EXPECT_EQ(server.requests(), 1 + 3);
}

TEST(OpenAiPolicyTest, ReplyWithoutContentIsMalformed) {
  FakeServer server([](const httplib::Request&, httplib::Response& response) {
    response.set_content("{\"choices\": [{\"message\": {\"role\": \"assistant\"}}]}",
                         "application/json");
  });
  OpenAiPolicyOptions options = FastOptions(server.url());
  options.max_retries = 0;
  auto policy = MustCreate(options);
  ASSERT_NE(policy, nullptr);
  const absl::Status status = policy->Complete({Request("x")}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("choices[0].message.content"));
}

TEST(OpenAiPolicyTest, SlowServerTimesOut) {
  FakeServer* self = nullptr;
  FakeServer server([&](const httplib::Request&, httplib::Response& response) {
    self->WaitForRelease();
    response.set_content(Reply("late"), "application/json");
  });
  self = &server;
  OpenAiPolicyOptions options = FastOptions(server.url());
  options.timeout = absl::Milliseconds(200);
  options.max_retries = 1;
  auto policy = MustCreate(options);
  ASSERT_NE(policy, nullptr);
  const absl::Status status = policy->Complete({Request("x")}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("timed out"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("2 attempts"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("request 0"));
}

TEST(OpenAiPolicyTest, InvalidSamplingIsRejectedBeforeSending) {
  FakeServer server([](const httplib::Request&, httplib::Response& response) {
    response.set_content(Reply("ok"), "application/json");
  });
  auto policy = MustCreate(FastOptions(server.url()));
  ASSERT_NE(policy, nullptr);
  PolicyRequest bad = Request("x");
  bad.sampling.max_tokens = 0;
  const absl::Status status = policy->Complete({Request("fine"), bad}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("request 1"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("max_tokens"));
}

TEST(OpenAiPolicyTest, ParseReplyChecksLogprobs) {
  absl::StatusOr<Completion> plain = OpenAiPolicy::ParseReply(Reply("hi"));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->text, "hi");
  EXPECT_TRUE(plain->logprobs.empty());
  nlohmann::json broken = nlohmann::json::parse(Reply("hi", "stop", {-1.0}));
  broken["choices"][0]["logprobs"]["content"][0].erase("logprob");
  const absl::Status status = OpenAiPolicy::ParseReply(broken.dump()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("logprobs.content[0]"));
  EXPECT_FALSE(OpenAiPolicy::ParseReply("{\"choices\": []}").ok());
}

TEST(OpenAiPolicyTest, DescribesItselfAndCannotCountTokens) {
  auto policy = MustCreate(FastOptions("http://127.0.0.1:9/v1"));
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->Describe(), "openai:http://127.0.0.1:9/v1 model=served-model");
  EXPECT_FALSE(policy->has_tokens());
  EXPECT_EQ(policy->max_prompt_tokens(), 0);
  EXPECT_EQ(policy->version(), 0);
  EXPECT_EQ(policy->CountPromptTokens({{"user", "x"}}).status().code(),
            absl::StatusCode::kUnimplemented);
}

TEST(OpenAiPolicyTest, BadOptionsAreRejected) {
  OpenAiPolicyOptions options = FastOptions("ftp://example.com/v1");
  absl::Status status = OpenAiPolicy::Create(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("policy base_url"));
  options = FastOptions("http://127.0.0.1:9/v1");
  options.model.clear();
  EXPECT_EQ(OpenAiPolicy::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = FastOptions("http://127.0.0.1:9/v1");
  options.max_batch_size = 0;
  EXPECT_EQ(OpenAiPolicy::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = FastOptions("https://127.0.0.1:9/v1");
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(OpenAiPolicy::Create(options).status().code(), absl::StatusCode::kNotFound);
}

TEST(OpenAiPolicyTest, OptionsFromConfigReadTheKeyFromTheNamedVariable) {
  v1::PolicyConfig config;
  config.set_backend(v1::PolicyConfig::OPENAI);
  config.set_base_url("http://127.0.0.1:8000/v1");
  config.set_model("qwen");
  config.set_api_key_env("MEMR1_OPENAI_POLICY_TEST_KEY");
  config.set_timeout_ms(1500);
  config.set_max_retries(5);
  config.set_initial_backoff_ms(20);
  config.set_max_batch_size(3);
  ASSERT_EQ(setenv("MEMR1_OPENAI_POLICY_TEST_KEY", "sk-test", 1), 0);
  absl::StatusOr<OpenAiPolicyOptions> options = OpenAiPolicyOptions::FromConfig(config);
  unsetenv("MEMR1_OPENAI_POLICY_TEST_KEY");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->base_url, "http://127.0.0.1:8000/v1");
  EXPECT_EQ(options->model, "qwen");
  EXPECT_EQ(options->api_key, "sk-test");
  EXPECT_EQ(options->timeout, absl::Milliseconds(1500));
  EXPECT_EQ(options->max_retries, 5);
  EXPECT_EQ(options->initial_backoff, absl::Milliseconds(20));
  EXPECT_EQ(options->max_batch_size, 3);
  EXPECT_TRUE(options->logprobs);
}

}  // namespace
}  // namespace memr1::actor
