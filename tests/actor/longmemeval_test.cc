// LongMemEval on files written by the test (the real ones are 15 MB to 2.7 GB).

#include "actor/longmemeval.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "tests/actor/test_files.h"

namespace memr1::actor {
namespace {

using Json = nlohmann::json;
using testing::WriteTempFile;

Json Instance(const std::string& id, const std::string& type, Json answer, int sessions) {
  Json instance = {{"question_id", id},
                   {"question_type", type},
                   {"question", "What did I buy?"},
                   {"answer", answer},
                   {"question_date", "2023/05/30 (Tue) 22:10"},
                   {"haystack_session_ids", Json::array()},
                   {"haystack_dates", Json::array()},
                   {"haystack_sessions", Json::array()},
                   {"answer_session_ids", {"answer_1"}}};
  for (int s = 0; s < sessions; ++s) {
    instance["haystack_session_ids"].push_back(s == 0 ? "answer_1" : "noise_" + std::to_string(s));
    instance["haystack_dates"].push_back("2023/05/2" + std::to_string(s) + " (Sat) 10:00");
    instance["haystack_sessions"].push_back(
        {{{"role", "user"}, {"content", "I bought a red bike."}, {"has_answer", s == 0}},
         {{"role", "assistant"}, {"content", "Nice choice!"}}});
  }
  return instance;
}

std::string ThreeInstances() {
  Json file = Json::array();
  file.push_back(Instance("q1", "single-session-user", "a red bike", 2));
  file.push_back(Instance("q2_abs", "knowledge-update", "unknown", 1));
  file.push_back(Instance("q3", "temporal-reasoning", 7, 3));
  return file.dump();
}

TEST(LongMemEvalTest, LoadsInstancesAsConversations) {
  const std::string path = WriteTempFile("lme.json", ThreeInstances());
  auto dataset = LoadLongMemEval(path);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_EQ(dataset->conversations.size(), 3u);
  const Conversation& first = dataset->conversations[0];
  EXPECT_EQ(first.id, "q1");
  ASSERT_EQ(first.sessions.size(), 2u);
  EXPECT_EQ(first.sessions[0].id, "answer_1");
  EXPECT_EQ(first.sessions[0].date_time, "2023/05/20 (Sat) 10:00");
  ASSERT_EQ(first.sessions[0].turns.size(), 2u);
  EXPECT_EQ(first.sessions[0].turns[0].speaker, "user");
  EXPECT_TRUE(first.sessions[0].turns[0].has_answer);
  EXPECT_FALSE(first.sessions[1].turns[0].has_answer);
  ASSERT_EQ(first.qa.size(), 1u);
  EXPECT_EQ(first.qa[0].category, 1);
  EXPECT_EQ(first.qa[0].answer, "a red bike");
  EXPECT_EQ(first.qa[0].question_date, "2023/05/30 (Tue) 22:10");
  EXPECT_EQ(first.qa[0].evidence, std::vector<std::string>{"answer_1"});
  EXPECT_FALSE(first.qa[0].abstention);
  EXPECT_TRUE(dataset->conversations[1].qa[0].abstention);
  EXPECT_EQ(dataset->conversations[1].qa[0].category, 6);
  EXPECT_EQ(dataset->conversations[2].qa[0].answer, "7");
  EXPECT_EQ(dataset->conversations[2].qa[0].category, 5);
}

TEST(LongMemEvalTest, StreamsOneInstanceAtATimeAndCanSkipHaystacks) {
  const std::string path = WriteTempFile("lme_stream.json", ThreeInstances());
  std::vector<std::string> ids;
  LoadOptions options;
  options.keep_sessions = false;
  ASSERT_TRUE(StreamLongMemEval(path, options, [&](Conversation&& conversation) {
                EXPECT_TRUE(conversation.sessions.empty());
                ids.push_back(conversation.id);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(ids, (std::vector<std::string>{"q1", "q2_abs", "q3"}));

  // A callback error stops the stream at once.
  int seen = 0;
  const absl::Status stopped = StreamLongMemEval(path, {}, [&](Conversation&&) {
    ++seen;
    return absl::CancelledError("enough");
  });
  EXPECT_EQ(stopped.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(seen, 1);
}

TEST(LongMemEvalTest, MalformedInstancesNameFileInstanceAndField) {
  Json file = Json::array();
  file.push_back(Instance("q1", "single-session-user", "a", 1));
  Json bad = Instance("q2", "no-such-type", "a", 1);
  file.push_back(bad);
  const std::string path = WriteTempFile("lme_bad_type.json", file.dump());
  auto unknown = LoadLongMemEval(path);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            path + ": instance 1 (q2): question_type: unknown type \"no-such-type\"");

  Json mismatch = Json::array({Instance("q3", "multi-session", "a", 2)});
  mismatch[0]["haystack_dates"].erase(1);
  auto lengths = LoadLongMemEval(WriteTempFile("lme_bad_len.json", mismatch.dump()));
  EXPECT_TRUE(absl::StrContains(lengths.status().message(),
                                "instance 0 (q3): haystack_sessions: 2 sessions but 2 session "
                                "ids and 1 dates"))
      << lengths.status();

  Json no_role = Json::array({Instance("q4", "multi-session", "a", 1)});
  no_role[0]["haystack_sessions"][0][1].erase("role");
  auto role = LoadLongMemEval(WriteTempFile("lme_bad_role.json", no_role.dump()));
  EXPECT_TRUE(absl::StrContains(role.status().message(),
                                "instance 0 (q4): haystack_sessions[0][1].role: missing"))
      << role.status();

  auto truncated = LoadLongMemEval(WriteTempFile("lme_truncated.json", ThreeInstances().substr(0, 100)));
  EXPECT_TRUE(absl::StrContains(truncated.status().message(), "not valid JSON at byte"))
      << truncated.status();
  auto object = LoadLongMemEval(WriteTempFile("lme_object.json", "{\"a\": 1}"));
  EXPECT_TRUE(absl::StrContains(object.status().message(), "must be a JSON list of instances"))
      << object.status();
  auto number = LoadLongMemEval(WriteTempFile("lme_number.json", "[1]"));
  EXPECT_TRUE(absl::StrContains(number.status().message(), "instance 0: instance: must be an object"))
      << number.status();
  EXPECT_EQ(LoadLongMemEval("/nonexistent.json").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace memr1::actor
