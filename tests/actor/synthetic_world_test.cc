// The synthetic world: determinism, sizes, and gold answers checked by replaying the dialogue
// text independently of the generator.

#include "actor/synthetic_world.h"

#include <gtest/gtest.h>

#include <array>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "actor/locomo.h"
#include "tests/actor/test_files.h"

namespace memr1::actor {
namespace {

SyntheticWorldOptions Options(uint64_t seed) {
  SyntheticWorldOptions options;
  options.seed = seed;
  options.conversations = 6;
  options.sessions_per_conversation = 6;
  options.turns_per_session = 10;
  options.questions_per_conversation = 30;
  return options;
}

TEST(SyntheticWorldTest, SameSeedGivesIdenticalBytesOtherSeedDoesNot) {
  auto a = GenerateSyntheticWorld(Options(7));
  auto b = GenerateSyntheticWorld(Options(7));
  auto c = GenerateSyntheticWorld(Options(8));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(LocomoToJson(*a), LocomoToJson(*b));
  EXPECT_NE(LocomoToJson(*a), LocomoToJson(*c));
}

TEST(SyntheticWorldTest, SizesAreHonoured) {
  auto world = GenerateSyntheticWorld(Options(1));
  ASSERT_TRUE(world.ok());
  ASSERT_EQ(world->conversations.size(), 6u);
  std::set<int> categories;
  for (const Conversation& conversation : world->conversations) {
    EXPECT_NE(conversation.speaker_a, conversation.speaker_b);
    ASSERT_EQ(conversation.sessions.size(), 6u);
    for (const Session& session : conversation.sessions) {
      EXPECT_EQ(session.turns.size(), 10u);
      EXPECT_TRUE(absl::StrContains(session.date_time, " on ")) << session.date_time;
    }
    EXPECT_LE(conversation.qa.size(), 30u);
    EXPECT_GE(conversation.qa.size(), 10u);
    std::set<std::string> questions;
    for (const QaItem& item : conversation.qa) {
      categories.insert(item.category);
      EXPECT_TRUE(questions.insert(item.question).second) << "duplicate " << item.question;
      EXPECT_FALSE(item.answer.empty());
      EXPECT_FALSE(item.evidence.empty());
    }
  }
  EXPECT_EQ(categories, (std::set<int>{1, 2, 3, 4}));
}

TEST(SyntheticWorldTest, TinyWorldsWork) {
  SyntheticWorldOptions options;
  options.conversations = 1;
  options.sessions_per_conversation = 1;
  options.turns_per_session = 1;
  options.questions_per_conversation = 3;
  auto world = GenerateSyntheticWorld(options);
  ASSERT_TRUE(world.ok());
  EXPECT_EQ(world->conversations[0].TurnCount(), 1);
  EXPECT_LE(world->conversations[0].qa.size(), 3u);
  options.conversations = 0;
  EXPECT_EQ(GenerateSyntheticWorld(options).status().message(),
            "synthetic world conversations must be in [1, 100000], got 0");
  options.conversations = 1;
  options.fact_probability = 1.5;
  EXPECT_FALSE(GenerateSyntheticWorld(options).ok());
}

// Replays the dialogue: the latest stated value of each speaker's slots, the first stated one,
// and the date of every turn.
struct Replay {
  std::map<std::string, std::map<std::string, std::string>> latest;  // speaker -> slot -> value
  std::map<std::string, std::map<std::string, std::string>> first;
  std::map<std::string, std::string> date_of_turn;  // dia_id -> "8 May 2023"
  std::map<std::string, std::string> text_of_turn;
};

std::string DatePart(const std::string& date_time) {
  // "1:56 pm on 8 May, 2023" -> "8 May 2023"
  std::string date = date_time.substr(date_time.find(" on ") + 4);
  date.erase(date.find(','), 1);
  return date;
}

Replay ReplayConversation(const Conversation& conversation) {
  Replay replay;
  const auto set = [&](const std::string& speaker, const std::string& slot, std::string value) {
    replay.latest[speaker][slot] = value;
    replay.first[speaker].emplace(slot, value);
  };
  const auto after = [](absl::string_view text, absl::string_view prefix, std::string* value) {
    if (!absl::ConsumePrefix(&text, prefix)) return false;
    absl::ConsumeSuffix(&text, ".");
    absl::ConsumePrefix(&text, "an ") || absl::ConsumePrefix(&text, "a ");
    *value = std::string(text);
    return true;
  };
  for (const Session& session : conversation.sessions) {
    for (const Turn& turn : session.turns) {
      replay.date_of_turn[turn.dia_id] = DatePart(session.date_time);
      replay.text_of_turn[turn.dia_id] = turn.text;
      std::string value;
      const std::string& who = turn.speaker;
      if (after(turn.text, "I live in ", &value) || after(turn.text, "I moved to ", &value) ||
          after(turn.text, "I still live in ", &value)) {
        set(who, "city", value);
      } else if (after(turn.text, "I work as ", &value) ||
                 after(turn.text, "I started a new job as ", &value) ||
                 after(turn.text, "I still work as ", &value)) {
        set(who, "job", value);
      } else if (after(turn.text, "I bought ", &value) ||
                 after(turn.text, "I still have my ", &value)) {
        set(who, "vehicle", value);
      } else if (after(turn.text, "I sold the ", &value)) {
        set(who, "vehicle", "none");
      } else if (after(turn.text, "I adopted ", &value)) {
        set(who, "pet", value);
      } else if (absl::StartsWith(turn.text, "I gave my ")) {
        set(who, "pet", "none");
      } else if (absl::StartsWith(turn.text, "My ") && absl::EndsWith(turn.text, " is doing well.")) {
        set(who, "pet", turn.text.substr(3, turn.text.size() - 3 - 15));
      } else if (after(turn.text, "My favorite hobby is ", &value) ||
                 after(turn.text, "These days my favorite hobby is ", &value) ||
                 after(turn.text, "I still love ", &value)) {
        set(who, "hobby", value);
      }
    }
  }
  return replay;
}

TEST(SyntheticWorldTest, GoldAnswersFollowTheLatestStateAndDates) {
  auto world = GenerateSyntheticWorld(Options(3));
  ASSERT_TRUE(world.ok());
  int single_hop = 0;
  int add_only_wrong = 0;
  int temporal = 0;
  for (const Conversation& conversation : world->conversations) {
    const Replay replay = ReplayConversation(conversation);
    for (const QaItem& item : conversation.qa) {
      if (item.category == 4) {
        std::string name;
        std::string slot;
        for (const std::string& speaker : {conversation.speaker_a, conversation.speaker_b}) {
          if (absl::StrContains(item.question, speaker)) name = speaker;
        }
        if (absl::StartsWith(item.question, "Where does")) slot = "city";
        if (absl::StrContains(item.question, "'s job")) slot = "job";
        if (absl::StrContains(item.question, "vehicle")) slot = "vehicle";
        if (absl::StrContains(item.question, "pet")) slot = "pet";
        if (absl::StrContains(item.question, "hobby")) slot = "hobby";
        ASSERT_FALSE(name.empty() || slot.empty()) << item.question;
        EXPECT_EQ(item.answer, replay.latest.at(name).at(slot)) << item.question;
        ++single_hop;
        if (item.answer != replay.first.at(name).at(slot)) ++add_only_wrong;
      } else if (item.category == 2) {
        ++temporal;
        ASSERT_EQ(item.evidence.size(), 1u);
        EXPECT_EQ(item.answer, replay.date_of_turn.at(item.evidence[0])) << item.question;
        const std::string& text = replay.text_of_turn.at(item.evidence[0]);
        // "When did Maya move to Lisbon?" is answered by the turn that says "... Lisbon."
        const std::vector<std::string> words = absl::StrSplit(item.question, ' ');
        std::string object(absl::StripSuffix(words.back(), "?"));
        EXPECT_TRUE(absl::StrContains(text, object)) << item.question << " / " << text;
      } else if (item.category == 1 && absl::StartsWith(item.question, "Where do ")) {
        EXPECT_EQ(item.answer, replay.latest.at(conversation.speaker_a).at("city") + ", " +
                                   replay.latest.at(conversation.speaker_b).at("city"));
      }
    }
  }
  EXPECT_GT(single_hop, 10);
  EXPECT_GT(temporal, 5);
  // Many single-hop questions need an UPDATE/DELETE: the first statement is no longer true.
  EXPECT_GT(add_only_wrong * 2, single_hop) << add_only_wrong << " of " << single_hop;
}

TEST(SyntheticWorldTest, LoadsBackAsALocomoFile) {
  auto world = GenerateSyntheticWorld(Options(5));
  ASSERT_TRUE(world.ok());
  const std::string path = ::testing::TempDir() + "/synthetic.json";
  ASSERT_TRUE(WriteLocomo(*world, path).ok());
  auto loaded = LoadDataset(DatasetKind::kSynthetic, path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->kind, DatasetKind::kSynthetic);
  EXPECT_EQ(LocomoToJson(*loaded), LocomoToJson(*world));
}

}  // namespace
}  // namespace memr1::actor
