// `memr1 data stats`, `memr1 data synth` and `memr1 score` through the real binary.

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/testing/process.h"

namespace memr1 {
namespace {

using ::memr1::testing::RunMemr1;

std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/" + name; }

std::string ReadAll(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

const char kLocomo[] = MEMR1_SOURCE_DIR "/../shared/data/locomo/locomo10.json";

TEST(DataCliTest, StatsOfLocomoShowsThePaperSplit) {
  const auto result = RunMemr1(absl::StrCat("data stats --dataset locomo --path ", kLocomo));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, "| train | 1 | 19 | 419 | 152 |")) << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, "| validation | 1 |")) << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, "1 multi-hop")) << result.output;
  EXPECT_FALSE(absl::StrContains(result.output, "adversarial")) << result.output;

  const auto json = RunMemr1(absl::StrCat("data stats --dataset locomo --format json ",
                                          "--include-adversarial --names mem0 --path ", kLocomo));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const nlohmann::json stats = nlohmann::json::parse(json.output);
  EXPECT_EQ(stats["test"]["questions"], 1682);  // 1,307 plus the split's 375 adversarial
  EXPECT_EQ(stats["all"]["categories"]["1"]["count"], 282);
  EXPECT_EQ(stats["all"]["categories"]["1"]["name"], "single-hop");
  EXPECT_EQ(stats["all"]["categories"]["5"]["count"], 446);
}

TEST(DataCliTest, SynthWritesTheSameFileForTheSameSeed) {
  const std::string a = TempPath("synth_a.json");
  const std::string b = TempPath("synth_b.json");
  const std::string args = " --seed 11 --conversations 3 --sessions 3 --turns 6 --questions 12";
  auto first = RunMemr1("data synth --output " + a + args);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_TRUE(absl::StrContains(first.output, "3 conversations, 9 sessions, 54 turns"))
      << first.output;
  ASSERT_EQ(RunMemr1("data synth --output " + b + args).exit_code, 0);
  EXPECT_EQ(ReadAll(a), ReadAll(b));
  EXPECT_FALSE(ReadAll(a).empty());

  const auto stats = RunMemr1("data stats --dataset synthetic --path " + a);
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  EXPECT_TRUE(absl::StrContains(stats.output, "| test | 3 | 9 | 54 |")) << stats.output;

  const auto bad = RunMemr1("data synth --conversations 0 --output " + TempPath("x.json"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(bad.output, "conversations must be in [1, 100000]"))
      << bad.output;
}

TEST(DataCliTest, StatsReportsMalformedFiles) {
  const std::string path = TempPath("bad_locomo.json");
  Write(path, R"([{"sample_id": "x", "conversation": {"speaker_a": "A"}}])");
  const auto result = RunMemr1("data stats --dataset locomo --path " + path);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(result.output,
                                path + ": record 0 (x): conversation.speaker_b: missing"))
      << result.output;
  const auto unknown = RunMemr1("data stats --dataset imagenet --path " + path);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(unknown.output, "unknown dataset \"imagenet\"")) << unknown.output;
}

TEST(DataCliTest, StatsStreamsLongMemEval) {
  nlohmann::json file = nlohmann::json::array();
  for (int i = 0; i < 3; ++i) {
    file.push_back({{"question_id", "q" + std::to_string(i)},
                    {"question_type", i == 0 ? "multi-session" : "knowledge-update"},
                    {"question", "q?"},
                    {"answer", "a"},
                    {"question_date", "2023/01/01"},
                    {"haystack_session_ids", {"s1"}},
                    {"haystack_dates", {"2023/01/01"}},
                    {"haystack_sessions", {{{{"role", "user"}, {"content", "hello"}}}}},
                    {"answer_session_ids", {"s1"}}});
  }
  const std::string path = TempPath("lme_cli.json");
  Write(path, file.dump());
  const auto result = RunMemr1("data stats --dataset longmemeval --path " + path);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, "4 multi-session")) << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, "| test | 3 | 3 | 3 | 3 | 1 | 2 |"))
      << result.output;
}

std::string Predictions() {
  return R"({"id": "a", "question": "Where does Maya live?", "gold": "Lisbon", "prediction": "Lisbon", "category": 4}
{"id": "b", "question": "When did Maya move?", "gold": "7 May 2023", "prediction": "May 7, 2023", "category": 2}
{"id": "c", "question": "Where do they live?", "gold": "Lisbon, Paris", "prediction": "Paris", "category": 1}
)";
}

TEST(ScoreCliTest, PrintsTheTableAndWritesPerItemScores) {
  const std::string in = TempPath("preds.jsonl");
  const std::string out = TempPath("scores.jsonl");
  Write(in, Predictions());
  const auto result = RunMemr1("score --input " + in + " --output " + out);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, "| 4 | single-hop | 1 | 100.00 | 100.00 | 100.00 | 100.00 |"))
      << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, "| all | overall | 3 |")) << result.output;
  const std::string per_item = ReadAll(out);
  EXPECT_TRUE(absl::StrContains(per_item, "{\"id\":\"c\",\"category\":1,\"em\":0.0,")) << per_item;
  EXPECT_TRUE(absl::StrContains(per_item, "\"f1_locomo\":0.5,")) << per_item;

  const auto mem0 = RunMemr1("score --names mem0 --format csv --input " + in);
  ASSERT_EQ(mem0.exit_code, 0) << mem0.output;
  EXPECT_TRUE(absl::StrContains(mem0.output, "\n1,single-hop,1,")) << mem0.output;
  EXPECT_TRUE(absl::StrContains(mem0.output, "\n4,open-domain,1,1,1,1,1\n")) << mem0.output;
}

TEST(ScoreCliTest, BadInputNamesTheLineAndField) {
  const std::string in = TempPath("bad_preds.jsonl");
  Write(in, Predictions() + R"({"id": "d", "question": "q", "gold": "g", "category": 1})" + "\n");
  const auto result = RunMemr1("score --input " + in);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(result.output, in + ":4: field \"prediction\" is missing"))
      << result.output;
}

TEST(ScoreCliTest, JudgeScoresThroughAnOpenAiCompatibleServer) {
  httplib::Server server;
  server.Post("/v1/chat/completions", [](const httplib::Request& request,
                                         httplib::Response& response) {
    const bool correct = absl::StrContains(request.body, "Generated answer: Lisbon") ||
                         absl::StrContains(request.body, "Generated answer: May 7, 2023");
    nlohmann::json reply = {
        {"choices",
         {{{"message",
            {{"role", "assistant"},
             {"content", correct ? "{\"label\": \"CORRECT\"}" : "{\"label\": \"WRONG\"}"}}}}}}};
    response.set_content(reply.dump(), "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  const std::string in = TempPath("judge_preds.jsonl");
  const std::string out = TempPath("judge_scores.jsonl");
  Write(in, Predictions());
  const auto result = RunMemr1(absl::StrCat("score --judge --judge-url http://127.0.0.1:", port,
                                            "/v1 --judge-model m --judge-repeats 2 --input ", in,
                                            " --output ", out));
  server.stop();
  thread.join();
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, "Judge |")) << result.output;
  // Two of three answers judged correct.
  EXPECT_TRUE(absl::StrContains(result.output, "| all | overall | 3 |")) << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, " 66.67 |\n")) << result.output;
  EXPECT_TRUE(absl::StrContains(ReadAll(out), "\"judge\":1.0,\"judge_labels\":[true,true]"))
      << ReadAll(out);

  const auto no_url = RunMemr1("score --judge --input " + in);
  EXPECT_EQ(no_url.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(no_url.output, "--judge needs a judge URL")) << no_url.output;
}

}  // namespace
}  // namespace memr1
