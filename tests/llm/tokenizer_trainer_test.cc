#include "llm/bpe_trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "llm/chat_template.h"
#include "llm/tokenizer.h"

namespace memr1::llm {
namespace {

std::vector<std::string> SmallCorpus() {
  std::vector<std::string> texts;
  for (int i = 0; i < 30; ++i) {
    texts.push_back("Caroline: I went to the support group yesterday.\n");
    texts.push_back("Melanie: That's great! How was the support group?\n");
    texts.push_back("caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD 2023 <|im_end|>\n");
  }
  return texts;
}

TEST(BpeTrainerTest, TrainedTokenizerLoadsAndRoundTrips) {
  BpeTrainerOptions options;
  options.vocab_size = 400;
  auto trained = TrainBpe(SmallCorpus(), options);
  ASSERT_TRUE(trained.ok()) << trained.status();
  EXPECT_LE(trained->vocab_size, 400);
  EXPECT_GT(trained->num_merges, 20);
  auto tokenizer = Tokenizer::FromJson(trained->tokenizer_json, trained->tokenizer_config_json);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ((*tokenizer)->vocab_size(), trained->vocab_size);
  EXPECT_EQ((*tokenizer)->eos_token(), "<|im_end|>");
  EXPECT_EQ((*tokenizer)->pad_id(), (*tokenizer)->TokenToId("<|endoftext|>"));
  // Frequent words become single tokens; special tokens are not learned from the text.
  EXPECT_TRUE((*tokenizer)->TokenToId("Ġsupport").has_value());
  EXPECT_FALSE((*tokenizer)->TokenToId("<|im_end|>") ==
               (*tokenizer)->TokenToId("<|im_end"));
  for (const std::string& text : {std::string("the support group\n"),
                                 std::string("unseen words \xF0\x9F\x98\x80 \t 12345")}) {
    auto ids = (*tokenizer)->Encode(text, true);
    ASSERT_TRUE(ids.ok());
    auto decoded = (*tokenizer)->Decode(*ids, false);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, text);
  }
  auto support = (*tokenizer)->Encode(" support", false);
  ASSERT_TRUE(support.ok());
  EXPECT_EQ(support->size(), 1u);
  // The chat template written with it is Qwen-2.5's.
  auto chat = ChatTemplate::ForTokenizer(**tokenizer);
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_EQ(chat->family(), ChatFamily::kQwen25);
}

TEST(BpeTrainerTest, TrainingIsDeterministic) {
  BpeTrainerOptions options;
  options.vocab_size = 350;
  auto first = TrainBpe(SmallCorpus(), options);
  auto second = TrainBpe(SmallCorpus(), options);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->tokenizer_json, second->tokenizer_json);
}

TEST(BpeTrainerTest, StopsWhenNoPairIsFrequentEnough) {
  BpeTrainerOptions options;
  options.vocab_size = 5000;
  options.min_frequency = 1000000;
  auto trained = TrainBpe(SmallCorpus(), options);
  ASSERT_TRUE(trained.ok());
  EXPECT_EQ(trained->num_merges, 0);
  EXPECT_EQ(trained->vocab_size, 256 + 3);
}

TEST(BpeTrainerTest, BadOptionsAndInputAreErrors) {
  BpeTrainerOptions options;
  options.vocab_size = 100;
  EXPECT_EQ(TrainBpe(SmallCorpus(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.vocab_size = 300;
  options.special_tokens = {"<a>", "<a>"};
  EXPECT_FALSE(TrainBpe(SmallCorpus(), options).ok());
  options.special_tokens = {"<eos>"};
  const auto bad = TrainBpe({"fine", "bad \xC3"}, options);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("training text 1"), std::string::npos) << bad.status();
  EXPECT_EQ(TrainBpeFromFile("/nonexistent/corpus.txt", options).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(BpeTrainerTest, WritesBothFilesIntoADirectory) {
  BpeTrainerOptions options;
  options.vocab_size = 300;
  auto trained = TrainBpe(SmallCorpus(), options);
  ASSERT_TRUE(trained.ok());
  const std::string dir = ::testing::TempDir() + "/memr1_trainer_out/nested";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WriteTrainedTokenizer(*trained, dir).ok());
  auto loaded = Tokenizer::Load(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->vocab_size(), trained->vocab_size);
  EXPECT_FALSE(std::filesystem::exists(dir + "/tokenizer.json.tmp"));
}

}  // namespace
}  // namespace memr1::llm
