// `memr1 tokenize`, `memr1 chat-template` and `memr1 tokenizer train` end to end, through the
// real binary, on the real Qwen vocabulary and on a freshly trained tokenizer.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "llm/bpe_trainer.h"
#include "llm/tokenizer.h"
#include "tests/llm/tokenizer_test_util.h"
#include "tests/testing/process.h"

namespace memr1::llm {
namespace {

using memr1::testing::RunMemr1;
using testing::CachedTokenizer;
using testing::MakeTempDir;
using testing::QwenModelDir;
using testing::LlamaModelDir;

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A small tokenizer trained once per binary, so most cases skip loading the 151k vocabulary.
const std::string& TinyDir() {
  static const std::string* const dir = [] {
    auto* path = new std::string(MakeTempDir("cli_tiny_tokenizer"));
    std::vector<std::string> corpus;
    for (int i = 0; i < 20; ++i) corpus.push_back("Hello world, caf\xC3\xA9 and more words.\n");
    BpeTrainerOptions options;
    options.vocab_size = 320;
    auto trained = TrainBpe(corpus, options);
    EXPECT_TRUE(trained.ok()) << trained.status();
    EXPECT_TRUE(WriteTrainedTokenizer(*trained, *path).ok());
    return path;
  }();
  return *dir;
}

TEST(TokenizerCliTest, TokenizeEncodesAndDecodesJsonLines) {
  const std::string dir = MakeTempDir("cli_tokenize");
  const std::string input = WriteFile(
      dir, "in.jsonl", "{\"text\": \"Hello world\"}\n\n{\"text\": \"<|im_start|>caf\xC3\xA9\"}\n");
  const auto encoded = RunMemr1("tokenize --tokenizer " + TinyDir() + " --input " + input +
                                " --output " + dir + "/ids.jsonl");
  ASSERT_EQ(encoded.exit_code, 0) << encoded.output;
  const Tokenizer& qwen = CachedTokenizer(TinyDir());
  EXPECT_EQ(ReadFile(dir + "/ids.jsonl"),
            nlohmann::json({{"ids", *qwen.Encode("Hello world", false)}}).dump() + "\n" +
                nlohmann::json({{"ids", *qwen.Encode("<|im_start|>caf\xC3\xA9", false)}}).dump() +
                "\n");
  const auto decoded = RunMemr1("tokenize --decode --skip-special-tokens --tokenizer " +
                                TinyDir() + " --input " + dir + "/ids.jsonl");
  ASSERT_EQ(decoded.exit_code, 0) << decoded.output;
  EXPECT_EQ(decoded.output, "{\"text\":\"Hello world\"}\n{\"text\":\"caf\xC3\xA9\"}\n");
  // Llama adds its BOS with --add-special-tokens.
  const auto bos = RunMemr1("tokenize --add-special-tokens --tokenizer " + LlamaModelDir() +
                            " --input " + input);
  ASSERT_EQ(bos.exit_code, 0) << bos.output;
  EXPECT_EQ(bos.output.rfind("{\"ids\":[128000,", 0), 0u) << bos.output;
}

TEST(TokenizerCliTest, BadLinesFailWithTheLineNumberAndWriteNothing) {
  const std::string dir = MakeTempDir("cli_bad");
  const std::string input =
      WriteFile(dir, "in.jsonl", "{\"text\": \"fine\"}\n{\"txt\": \"wrong key\"}\n");
  const auto result = RunMemr1("tokenize --tokenizer " + TinyDir() + " --input " + input +
                               " --output " + dir + "/out.jsonl");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find("line 2"), std::string::npos) << result.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.jsonl"));
  const std::string bad_utf8 = WriteFile(dir, "utf8.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"\\udc80\"}\n");
  const auto invalid = RunMemr1("tokenize --tokenizer " + TinyDir() + " --input " + bad_utf8);
  EXPECT_EQ(invalid.exit_code, 1) << invalid.output;
  EXPECT_NE(invalid.output.find("line 2"), std::string::npos) << invalid.output;
  const auto bad_id = RunMemr1("tokenize --decode --tokenizer " + TinyDir() + " --input " +
                               WriteFile(dir, "ids.jsonl", "{\"ids\": [1, 999999999]}\n"));
  EXPECT_EQ(bad_id.exit_code, 1);
  EXPECT_NE(bad_id.output.find("line 1"), std::string::npos) << bad_id.output;
  const auto missing = RunMemr1("tokenize --tokenizer /nonexistent --input " + input);
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("/nonexistent"), std::string::npos) << missing.output;
}

TEST(TokenizerCliTest, ChatTemplateRendersMessages) {
  const std::string dir = MakeTempDir("cli_chat");
  const std::string input = WriteFile(
      dir, "chat.jsonl",
      "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
      "{\"role\": \"user\", \"content\": \"Hi\"}]}\n");
  const auto qwen3 =
      RunMemr1("chat-template --add-generation-prompt --tokenizer " + QwenModelDir() +
               " --input " + input);
  ASSERT_EQ(qwen3.exit_code, 0) << qwen3.output;
  EXPECT_EQ(qwen3.output,
            "{\"text\":\"<|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\nHi"
            "<|im_end|>\\n<|im_start|>assistant\\n\"}\n");
  const auto qwen25 = RunMemr1("chat-template --family qwen2.5 --tokenizer " + TinyDir() +
                               " --input " +
                               WriteFile(dir, "user.jsonl",
                                         "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}\n"));
  ASSERT_EQ(qwen25.exit_code, 0) << qwen25.output;
  EXPECT_NE(qwen25.output.find("You are Qwen, created by Alibaba Cloud."), std::string::npos);
  const auto bad = RunMemr1("chat-template --tokenizer " + TinyDir() + " --input " +
                            WriteFile(dir, "bad.jsonl", "{\"messages\": [{\"role\": \"user\"}]}\n"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("line 1: messages[0]"), std::string::npos) << bad.output;
}

TEST(TokenizerCliTest, TrainWritesALoadableTokenizer) {
  const std::string dir = MakeTempDir("cli_train");
  std::string corpus;
  for (int i = 0; i < 50; ++i) corpus += "Caroline went to the support group on 7 May 2023.\n";
  const std::string input = WriteFile(dir, "corpus.txt", corpus);
  const auto result = RunMemr1("tokenizer train --input " + input +
                               " --vocab-size 300 --output " + dir + "/tok");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("ids"), std::string::npos);
  auto tokenizer = Tokenizer::Load(dir + "/tok");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_LE((*tokenizer)->vocab_size(), 300);
  const auto chat = RunMemr1("chat-template --tokenizer " + dir + "/tok --input " +
                             WriteFile(dir, "m.jsonl",
                                       "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n"));
  ASSERT_EQ(chat.exit_code, 0) << chat.output;
  EXPECT_NE(chat.output.find("You are Qwen"), std::string::npos) << chat.output;
  const auto too_small = RunMemr1("tokenizer train --input " + input +
                                  " --vocab-size 10 --output " + dir + "/small");
  EXPECT_EQ(too_small.exit_code, 1);
  EXPECT_NE(too_small.output.find("vocab_size 10"), std::string::npos) << too_small.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/small"));
}

}  // namespace
}  // namespace memr1::llm
