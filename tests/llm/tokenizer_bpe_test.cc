// The tokenizer on small hand-made tokenizer.json files: merge order, ignore_merges, added
// tokens, post-processing, decoding, and the errors for bad input and unsupported features.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "llm/pretokenizer.h"
#include "llm/tokenizer.h"
#include "llm/unicode.h"

namespace memr1::llm {
namespace {

// A byte-level BPE over the 256 byte tokens plus the given merges; Qwen-style pre-tokenizer.
nlohmann::json TinyTokenizerJson(const std::vector<std::pair<std::string, std::string>>& merges,
                                 bool ignore_merges = false) {
  nlohmann::json vocab = nlohmann::json::object();
  int next = 0;
  for (int b = 0; b < 256; ++b) vocab[ByteToUtf8()[b]] = next++;
  nlohmann::json merges_json = nlohmann::json::array();
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(a + b)) vocab[a + b] = next++;
    merges_json.push_back(a + " " + b);
  }
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens",
       {{{"id", next}, {"content", "<|end|>"}, {"special", true}, {"normalized", false}},
        {{"id", next + 1}, {"content", "<x>"}, {"special", false}, {"normalized", false},
         {"lstrip", true}, {"rstrip", true}}}},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", "\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<|end|>"}, {"type_id", 0}}}},
                    {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"special_tokens", {{"<|end|>", {{"id", "<|end|>"}, {"ids", {next}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges_json},
        {"ignore_merges", ignore_merges}}}};
}

std::unique_ptr<Tokenizer> Make(const nlohmann::json& json) {
  auto tokenizer = Tokenizer::FromJson(json.dump(), "");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
}

std::vector<int32_t> Ids(const Tokenizer& tokenizer, std::string_view text, bool special = false) {
  auto ids = tokenizer.Encode(text, special);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

TEST(TokenizerBpeTest, MergesApplyInRankOrderLeftmostFirst) {
  // Ranks: "b c" before "a b", so "abc" -> a + bc; "aaaa" with "a a" -> aa aa.
  auto tokenizer = Make(TinyTokenizerJson({{"b", "c"}, {"a", "b"}, {"a", "a"}, {"aa", "aa"}}));
  ASSERT_NE(tokenizer, nullptr);
  const int32_t a = *tokenizer->TokenToId("a");
  const int32_t bc = *tokenizer->TokenToId("bc");
  EXPECT_EQ(Ids(*tokenizer, "abc"), (std::vector<int32_t>{a, bc}));
  EXPECT_EQ(Ids(*tokenizer, "aaaa"), (std::vector<int32_t>{*tokenizer->TokenToId("aaaa")}));
  EXPECT_EQ(Ids(*tokenizer, "aaa"),
            (std::vector<int32_t>{*tokenizer->TokenToId("aa"), a}));
  // Cached second call gives the same answer.
  EXPECT_EQ(Ids(*tokenizer, "abc"), (std::vector<int32_t>{a, bc}));
}

TEST(TokenizerBpeTest, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  // "abc" is in the vocab (via merges "a b", "ab c") but "b c" ranks first, so with merges
  // the word splits as a + bc; ignore_merges uses the vocab entry directly.
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"b", "c"}, {"a", "b"}, {"ab", "c"}};
  auto merging = Make(TinyTokenizerJson(merges, false));
  auto ignoring = Make(TinyTokenizerJson(merges, true));
  ASSERT_NE(merging, nullptr);
  ASSERT_NE(ignoring, nullptr);
  EXPECT_EQ(Ids(*merging, "abc").size(), 2u);
  EXPECT_EQ(Ids(*ignoring, "abc"), (std::vector<int32_t>{*ignoring->TokenToId("abc")}));
}

TEST(TokenizerBpeTest, LongWordsMergeLikeShortOnes) {
  auto tokenizer = Make(TinyTokenizerJson({{"a", "a"}, {"aa", "aa"}}));
  ASSERT_NE(tokenizer, nullptr);
  const std::string word(1001, 'a');
  const auto ids = Ids(*tokenizer, word);
  ASSERT_EQ(ids.size(), 251u);  // 250 x "aaaa" + "a"
  EXPECT_EQ(ids.back(), *tokenizer->TokenToId("a"));
  auto decoded = tokenizer->Decode(ids, false);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, word);
}

TEST(TokenizerBpeTest, AddedTokensSplitBeforeBpeAndStripWhitespace) {
  auto tokenizer = Make(TinyTokenizerJson({}));
  ASSERT_NE(tokenizer, nullptr);
  const int32_t end = *tokenizer->TokenToId("<|end|>");
  const int32_t x = *tokenizer->TokenToId("<x>");
  const int32_t a = *tokenizer->TokenToId("a");
  EXPECT_EQ(Ids(*tokenizer, "a<|end|>a"), (std::vector<int32_t>{a, end, a}));
  // lstrip/rstrip: the spaces around <x> are swallowed.
  EXPECT_EQ(Ids(*tokenizer, "a  <x>  a"), (std::vector<int32_t>{a, x, a}));
  // The post-processor's template adds <|end|> in front.
  EXPECT_EQ(Ids(*tokenizer, "a", true), (std::vector<int32_t>{end, a}));
  EXPECT_EQ(tokenizer->bos_id(), end);
  auto text = tokenizer->Decode({end, a, x, a}, /*skip_special_tokens=*/true);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "a<x>a");
  text = tokenizer->Decode({end, a}, false);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "<|end|>a");
}

TEST(TokenizerBpeTest, NormalizesToNfcBeforeSplitting) {
  auto tokenizer = Make(TinyTokenizerJson({}));
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(Ids(*tokenizer, "cafe\xCC\x81"), Ids(*tokenizer, "caf\xC3\xA9"));
}

TEST(TokenizerBpeTest, RoundTripsArbitraryText) {
  auto tokenizer = Make(TinyTokenizerJson({{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}}));
  ASSERT_NE(tokenizer, nullptr);
  for (const char* text :
       {"the cat and the hat", "  spaces\n\nnewlines\t", "\xE4\xBD\xA0\xE5\xA5\xBD 123 \xF0\x9F\x98\x80"}) {
    auto decoded = tokenizer->Decode(Ids(*tokenizer, text), false);
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, text);
  }
}

TEST(TokenizerBpeTest, InvalidUtf8AndBadIdsAreErrors) {
  auto tokenizer = Make(TinyTokenizerJson({}));
  ASSERT_NE(tokenizer, nullptr);
  auto ids = tokenizer->Encode("ok \xC3\x28", false);
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ids.status().message().find("invalid UTF-8 at byte offset 3"), std::string::npos)
      << ids.status();
  auto text = tokenizer->Decode({0, 99999}, false);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(text.status().message().find("ids[1]"), std::string::npos) << text.status();
  text = tokenizer->Decode({-1}, false);
  EXPECT_FALSE(text.ok());
}

TEST(TokenizerBpeTest, UnsupportedFeaturesAreNamedErrors) {
  const auto expect_error = [](nlohmann::json json, const std::string& feature) {
    auto tokenizer = Tokenizer::FromJson(json.dump(), "");
    ASSERT_FALSE(tokenizer.ok()) << feature;
    EXPECT_NE(tokenizer.status().message().find(feature), std::string::npos)
        << tokenizer.status();
  };
  auto json = TinyTokenizerJson({});
  json["normalizer"] = {{"type", "Lowercase"}};
  expect_error(json, "normalizer type 'Lowercase'");
  json = TinyTokenizerJson({});
  json["pre_tokenizer"] = {{"type", "Metaspace"}};
  expect_error(json, "pre_tokenizer type 'Metaspace'");
  json = TinyTokenizerJson({});
  json["model"]["type"] = "WordPiece";
  expect_error(json, "model type 'WordPiece'");
  json = TinyTokenizerJson({});
  json["model"]["dropout"] = 0.1;
  expect_error(json, "'dropout'");
  json = TinyTokenizerJson({});
  json["model"]["byte_fallback"] = true;
  expect_error(json, "'byte_fallback'");
  json = TinyTokenizerJson({});
  json["decoder"] = {{"type", "Metaspace"}};
  expect_error(json, "decoder 'Metaspace'");
  json = TinyTokenizerJson({});
  json["post_processor"] = {{"type", "RobertaProcessing"}};
  expect_error(json, "post_processor type 'RobertaProcessing'");
  json = TinyTokenizerJson({});
  json["truncation"] = {{"max_length", 8}};
  expect_error(json, "'truncation'");
  json = TinyTokenizerJson({});
  json["added_tokens"][0]["single_word"] = true;
  expect_error(json, "single_word");
  json = TinyTokenizerJson({});
  json["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Contiguous";
  expect_error(json, "Split behavior 'Contiguous'");
  json = TinyTokenizerJson({});
  json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  expect_error(json, "bad regex");
  json = TinyTokenizerJson({});
  json["model"]["merges"].push_back("zz qq");
  expect_error(json, "model.merges[0]");
  expect_error(nlohmann::json::array(), "expected an object");
  auto not_json = Tokenizer::FromJson("{not json", "");
  EXPECT_EQ(not_json.status().code(), absl::StatusCode::kInvalidArgument);
  auto missing = Tokenizer::Load("/nonexistent/dir");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

TEST(TokenizerBpeTest, MergesInPairFormAreAccepted) {
  auto json = TinyTokenizerJson({{"a", "b"}});
  json["model"]["merges"] = nlohmann::json::array({nlohmann::json::array({"a", "b"})});
  auto tokenizer = Make(json);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(Ids(*tokenizer, "ab"), (std::vector<int32_t>{*tokenizer->TokenToId("ab")}));
}

TEST(TokenizerBpeTest, ByteLevelRegexAndPrefixSpace) {
  auto json = TinyTokenizerJson({});
  json["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  auto tokenizer = Make(json);
  ASSERT_NE(tokenizer, nullptr);
  // "hi" becomes " hi": the prefix space is the byte token "Ġ".
  const auto ids = Ids(*tokenizer, "hi");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], *tokenizer->TokenToId("Ġ"));
}

TEST(RegexTest, FindsUnicodeClassesWithPcre2) {
  auto regex = Regex::Compile("(?i:'s)|\\p{L}+|\\p{N}");
  ASSERT_TRUE(regex.ok()) << regex.status();
  std::vector<std::pair<size_t, size_t>> matches;
  ASSERT_TRUE((*regex)->FindAll("IT'S caf\xC3\xA9 42", &matches).ok());
  ASSERT_EQ(matches.size(), 5u);
  EXPECT_EQ(matches[1], std::make_pair(size_t{2}, size_t{4}));  // 'S
  EXPECT_EQ(matches[2], std::make_pair(size_t{5}, size_t{10}));  // café (5 bytes)
}

}  // namespace
}  // namespace memr1::llm
