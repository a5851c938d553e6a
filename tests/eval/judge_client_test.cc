// The judge client against OpenAI-compatible servers written here with httplib on 127.0.0.1:
// one that judges correctly, one that times out, one that returns malformed JSON, one that
// fails then recovers, and an address nobody listens on.

#include "eval/judge_client.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace memr1::eval {
namespace {

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

// An httplib server on 127.0.0.1:<any port>, serving POST /v1/chat/completions.
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
  int requests() const { return requests_.load(); }
  // Blocks a handler until the server shuts down (bounded by the test's own timeout).
  void WaitForRelease() { release_.WaitForNotificationWithTimeout(absl::Seconds(10)); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> requests_{0};
  absl::Notification release_;
};

std::string Completion(const std::string& content) {
  nlohmann::json reply = {
      {"id", "chatcmpl-1"},
      {"object", "chat.completion"},
      {"choices", {{{"index", 0},
                    {"message", {{"role", "assistant"}, {"content", content}}},
                    {"finish_reason", "stop"}}}}};
  return reply.dump();
}

// Judges like a model would: CORRECT when the prompt's generated answer contains the gold.
void HonestJudge(const httplib::Request& request, httplib::Response& response) {
  const nlohmann::json body = nlohmann::json::parse(request.body);
  const std::string prompt = body["messages"][0]["content"].get<std::string>();
  const auto field = [&](const std::string& name) {
    const size_t start = prompt.find(name) + name.size();
    return prompt.substr(start, prompt.find('\n', start) - start);
  };
  const bool correct = absl::StrContains(absl::AsciiStrToLower(field("Generated answer: ")),
                                         absl::AsciiStrToLower(field("Gold answer: ")));
  response.set_content(Completion(absl::StrCat("{\"label\": \"", correct ? "CORRECT" : "WRONG",
                                               "\"}")),
                       "application/json");
}

JudgeOptions FastOptions(const std::string& url) {
  JudgeOptions options;
  options.base_url = url;
  options.model = "judge-model";
  options.api_key = "secret";
  options.timeout = absl::Milliseconds(300);
  options.max_retries = 2;
  options.initial_backoff = absl::Milliseconds(10);
  return options;
}

TEST(JudgeClientTest, LabelsCorrectAndWrongAnswers) {
  std::string seen_auth;
  std::string seen_model;
  FakeServer server([&](const httplib::Request& request, httplib::Response& response) {
    seen_auth = request.get_header_value("Authorization");
    seen_model = nlohmann::json::parse(request.body)["model"].get<std::string>();
    HonestJudge(request, response);
  });
  auto client = JudgeClient::Create(FastOptions(server.url()));
  ASSERT_TRUE(client.ok()) << client.status();
  auto correct = (*client)->Judge("Where does Maya live?", "Lisbon", "She lives in Lisbon now");
  ASSERT_TRUE(correct.ok()) << correct.status();
  EXPECT_EQ(correct->score, 1.0);
  auto wrong = (*client)->Judge("Where does Maya live?", "Lisbon", "Porto");
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_EQ(wrong->score, 0.0);
  EXPECT_EQ(seen_auth, "Bearer secret");
  EXPECT_EQ(seen_model, "judge-model");
}

TEST(JudgeClientTest, RepeatsAreAveraged) {
  std::atomic<int> calls{0};
  FakeServer server([&](const httplib::Request&, httplib::Response& response) {
    // CORRECT, WRONG, CORRECT, WRONG, ...
    const bool correct = calls++ % 2 == 0;
    response.set_content(
        Completion(correct ? "{\"label\": \"CORRECT\"}" : "```json\n{\"label\": \"WRONG\"}\n```"),
        "application/json");
  });
  JudgeOptions options = FastOptions(server.url());
  options.repeats = 4;
  auto client = JudgeClient::Create(options);
  ASSERT_TRUE(client.ok());
  auto verdict = (*client)->Judge("q", "a", "a");
  ASSERT_TRUE(verdict.ok()) << verdict.status();
  EXPECT_EQ(verdict->score, 0.5);
  EXPECT_EQ(verdict->correct, (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(server.requests(), 4);
}

TEST(JudgeClientTest, ServerThatTimesOutGivesDeadlineExceededAfterRetries) {
  FakeServer* self = nullptr;
  FakeServer server([&](const httplib::Request&, httplib::Response& response) {
    self->WaitForRelease();
    response.set_content(Completion("{\"label\": \"CORRECT\"}"), "application/json");
  });
  self = &server;
  auto client = JudgeClient::Create(FastOptions(server.url()));
  ASSERT_TRUE(client.ok());
  auto verdict = (*client)->Judge("q", "a", "a");
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.status().code(), absl::StatusCode::kDeadlineExceeded) << verdict.status();
  EXPECT_TRUE(absl::StrContains(verdict.status().message(), "timed out")) << verdict.status();
  EXPECT_TRUE(absl::StrContains(verdict.status().message(), "3 attempts")) << verdict.status();
}

TEST(JudgeClientTest, MalformedJsonIsAClearErrorAfterRetries) {
  FakeServer server([](const httplib::Request&, httplib::Response& response) {
    response.set_content("{\"choices\": [ this is not json", "application/json");
  });
  auto client = JudgeClient::Create(FastOptions(server.url()));
  ASSERT_TRUE(client.ok());
  auto verdict = (*client)->Judge("q", "a", "a");
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(verdict.status().message(), "malformed")) << verdict.status();
  EXPECT_TRUE(absl::StrContains(verdict.status().message(), "not JSON")) << verdict.status();
  EXPECT_EQ(server.requests(), 3);
}

TEST(JudgeClientTest, ReplyWithoutLabelIsRejected) {
  FakeServer server([](const httplib::Request&, httplib::Response& response) {
    response.set_content(Completion("I think it is CORRECT, or maybe WRONG"), "application/json");
  });
  JudgeOptions options = FastOptions(server.url());
  options.max_retries = 0;
  auto client = JudgeClient::Create(options);
  ASSERT_TRUE(client.ok());
  auto verdict = (*client)->Judge("q", "a", "a");
  ASSERT_FALSE(verdict.ok());
  EXPECT_TRUE(absl::StrContains(verdict.status().message(), "no JSON \"label\""))
      << verdict.status();
}

TEST(JudgeClientTest, TransientServerErrorsAreRetried) {
  std::atomic<int> calls{0};
  FakeServer server([&](const httplib::Request&, httplib::Response& response) {
    if (calls++ < 2) {
      response.status = 503;
      response.set_content("overloaded", "text/plain");
      return;
    }
    response.set_content(Completion("{\"label\": \"CORRECT\"}"), "application/json");
  });
  auto client = JudgeClient::Create(FastOptions(server.url()));
  ASSERT_TRUE(client.ok());
  auto verdict = (*client)->Judge("q", "a", "a");
  ASSERT_TRUE(verdict.ok()) << verdict.status();
  EXPECT_EQ(verdict->score, 1.0);
  EXPECT_EQ(server.requests(), 3);
}

TEST(JudgeClientTest, UnauthorizedFailsWithoutRetry) {
  FakeServer server([](const httplib::Request&, httplib::Response& response) {
    response.status = 401;
    response.set_content("{\"error\": \"bad key\"}", "application/json");
  });
  auto client = JudgeClient::Create(FastOptions(server.url()));
  ASSERT_TRUE(client.ok());
  auto verdict = (*client)->Judge("q", "a", "a");
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(server.requests(), 1);
}

TEST(JudgeClientTest, UnreachableServerIsUnavailable) {
  // A port that was free a moment ago and has no listener now.
  int port = 0;
  {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    socklen_t length = sizeof(address);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port = ntohs(address.sin_port);
    close(fd);
  }
  auto client = JudgeClient::Create(FastOptions(absl::StrCat("http://127.0.0.1:", port, "/v1")));
  ASSERT_TRUE(client.ok());
  auto verdict = (*client)->Judge("q", "a", "a");
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.status().code(), absl::StatusCode::kUnavailable) << verdict.status();
  EXPECT_TRUE(absl::StrContains(verdict.status().message(), "unreachable")) << verdict.status();
  EXPECT_TRUE(absl::StrContains(verdict.status().message(), absl::StrCat(port)))
      << verdict.status();
}

TEST(JudgeClientTest, BadOptionsAreRejected) {
  JudgeOptions options = FastOptions("ftp://example.com/v1");
  EXPECT_EQ(JudgeClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = FastOptions("http://127.0.0.1:1/v1");
  options.model = "";
  EXPECT_EQ(JudgeClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = FastOptions("http://127.0.0.1:1/v1");
  options.repeats = 0;
  EXPECT_EQ(JudgeClient::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JudgeClientTest, ParsesOpenAiResponses) {
  EXPECT_EQ(*JudgeClient::ParseResponse(Completion("{\"label\": \"CORRECT\"}")), true);
  EXPECT_EQ(*JudgeClient::ParseResponse(Completion("{\"label\": \"wrong\"}")), false);
  EXPECT_EQ(*JudgeClient::ParseResponse(Completion("The answer is CORRECT.")), true);
  EXPECT_FALSE(JudgeClient::ParseResponse("{}").ok());
  EXPECT_FALSE(JudgeClient::ParseResponse(Completion("{\"label\": \"MAYBE\"}")).ok());
}

TEST(JudgeClientTest, PromptCarriesQuestionGoldAndAnswer) {
  const std::string prompt = JudgeClient::BuildPrompt("When?", "7 May 2023", "May 7th");
  EXPECT_TRUE(absl::StrContains(prompt, "Question: When?\n"));
  EXPECT_TRUE(absl::StrContains(prompt, "Gold answer: 7 May 2023\n"));
  EXPECT_TRUE(absl::StrContains(prompt, "Generated answer: May 7th\n"));
  EXPECT_TRUE(absl::StrContains(prompt, "\"label\""));
}

}  // namespace
}  // namespace memr1::eval
