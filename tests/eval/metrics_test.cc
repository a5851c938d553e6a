// Hand-computed cases for every metric: empty strings, punctuation-only answers, numbers,
// dates, LoCoMo's category rules.

#include "eval/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "eval/porter_stemmer.h"
#include "eval/unicode_text.h"
#include "eval/word_tokenizer.h"

namespace memr1::eval {
namespace {


TEST(ExactMatchTest, TrimsAndLowerCases) {
  EXPECT_EQ(ExactMatch("  Lisbon \n", "lisbon"), 1.0);
  EXPECT_EQ(ExactMatch("LISBON", "Lisbon"), 1.0);
  EXPECT_EQ(ExactMatch("Lisbon.", "Lisbon"), 0.0);  // no punctuation stripping
  EXPECT_EQ(ExactMatch("", ""), 1.0);
  EXPECT_EQ(ExactMatch("", "x"), 0.0);
  EXPECT_EQ(ExactMatch("7 May 2023", "7 may 2023"), 1.0);
  EXPECT_EQ(ExactMatch("ÉTÉ", "été"), 1.0);  // Unicode lower-casing
}

TEST(TokenF1Test, UsesSetsAndReplacesFourPunctuationMarks) {
  // prediction {the, cat, sat}, gold {the, cat}: p = 2/3, r = 1, f1 = 0.8.
  EXPECT_DOUBLE_EQ(TokenF1("The cat sat.", "the cat"), 0.8);
  // Repeated tokens count once: {cat} vs {cat} = 1.
  EXPECT_DOUBLE_EQ(TokenF1("cat cat cat", "cat"), 1.0);
  // ':' and '-' are not replaced: "2023-05-07" stays one token.
  EXPECT_DOUBLE_EQ(TokenF1("2023-05-07", "2023 05 07"), 0.0);
  EXPECT_DOUBLE_EQ(TokenF1("Paris, France!", "paris france"), 1.0);
}

TEST(TokenF1Test, EmptyAndPunctuationOnlyScoreZero) {
  EXPECT_EQ(TokenF1("", ""), 0.0);
  EXPECT_EQ(TokenF1("", "Lisbon"), 0.0);
  EXPECT_EQ(TokenF1("Lisbon", ""), 0.0);
  EXPECT_EQ(TokenF1("...", "?!"), 0.0);
  EXPECT_EQ(TokenF1("?", "Lisbon"), 0.0);
}

TEST(TokenF1Test, NumbersAndDates) {
  EXPECT_DOUBLE_EQ(TokenF1("2022", "2022"), 1.0);
  // {7, may, 2023} vs {may, 7, 2023}.
  EXPECT_DOUBLE_EQ(TokenF1("May 7, 2023", "7 May 2023"), 1.0);
  // {3.5} is split by '.': {3, 5} vs {3}: p = 1/2, r = 1 -> 2/3.
  EXPECT_DOUBLE_EQ(TokenF1("3.5", "3"), 2.0 / 3.0);
}

TEST(Bleu1Test, UnigramPrecisionTimesBrevityPenalty) {
  // Tokens [the, cat, sat, .] vs [a, cat]: clipped 1 of 4; hyp longer -> bp 1.
  EXPECT_DOUBLE_EQ(Bleu1("The cat sat.", "a cat"), 0.25);
  // [cat] vs [the, black, cat]: p = 1, bp = exp(1 - 3/1).
  EXPECT_DOUBLE_EQ(Bleu1("cat", "the black cat"), std::exp(1.0 - 3.0));
  // Clipping: [cat, cat, cat] vs [cat]: 1/3.
  EXPECT_NEAR(Bleu1("cat cat cat", "cat"), 1.0 / 3.0, 1e-15);
  EXPECT_DOUBLE_EQ(Bleu1("Lisbon", "lisbon"), 1.0);
}

TEST(Bleu1Test, EmptyAndDisjointScoreZero) {
  EXPECT_EQ(Bleu1("", ""), 0.0);
  EXPECT_EQ(Bleu1("", "Lisbon"), 0.0);
  EXPECT_EQ(Bleu1("Lisbon", ""), 0.0);
  EXPECT_EQ(Bleu1("Paris", "Lisbon"), 0.0);
}

TEST(Bleu1Test, PunctuationIsTokenized) {
  // [!] vs [!]: 1.
  EXPECT_DOUBLE_EQ(Bleu1("!", "!"), 1.0);
  // [7, may, 2023] vs [may, 7, ,, 2023]: 3/3 * exp(1 - 4/3).
  EXPECT_DOUBLE_EQ(Bleu1("7 May 2023", "May 7, 2023"), std::exp(1.0 - 4.0 / 3.0));
}

TEST(NormalizeLocomoAnswerTest, DropsCommasPunctuationArticlesAndSpaces) {
  EXPECT_EQ(NormalizeLocomoAnswer("The Cat, and a Dog!"), "cat dog");
  EXPECT_EQ(NormalizeLocomoAnswer("An apple; the END."), "apple end");
  EXPECT_EQ(NormalizeLocomoAnswer("1,000"), "1000");
  EXPECT_EQ(NormalizeLocomoAnswer("  theater   andes "), "theater andes");
  EXPECT_EQ(NormalizeLocomoAnswer("?!..."), "");
  EXPECT_EQ(NormalizeLocomoAnswer("7 May, 2023"), "7 may 2023");
  // A curly apostrophe is not ASCII punctuation and separates words for \b.
  EXPECT_EQ(NormalizeLocomoAnswer("the’s"), "’s");
}

TEST(LocomoF1Test, StemsAndCountsMultisets) {
  // "running dogs" -> [run, dog]; "the dog runs" -> [dog, run]: F1 1.
  EXPECT_DOUBLE_EQ(LocomoTokenF1("running dogs", "the dog runs"), 1.0);
  // Multiset: [cat, cat] vs [cat]: common 1, p = 1/2, r = 1 -> 2/3.
  EXPECT_DOUBLE_EQ(LocomoTokenF1("cat cat", "cat"), 2.0 / 3.0);
  EXPECT_EQ(LocomoTokenF1("", "cat"), 0.0);
  EXPECT_EQ(LocomoTokenF1("", ""), 0.0);
  EXPECT_EQ(LocomoTokenF1("...", "!!"), 0.0);
  EXPECT_DOUBLE_EQ(LocomoTokenF1("7 May, 2023", "7 May 2023"), 1.0);
  // Commas vanish inside numbers: "1,000" == "1000".
  EXPECT_DOUBLE_EQ(LocomoTokenF1("1,000", "1000"), 1.0);
}

TEST(LocomoF1Test, CategoryOneSplitsOnCommasAndAveragesOverGoldParts) {
  // Gold parts: "Lisbon", "Paris"; prediction parts: "Paris", "Rome".
  // Lisbon: best 0; Paris: best 1 -> mean 0.5.
  EXPECT_DOUBLE_EQ(LocomoF1("Paris, Rome", "Lisbon, Paris", 1), 0.5);
  // Without the split (category 4): [pari, rome] vs [lisbon, pari]: 0.5 too but for another
  // reason; a case where they differ:
  EXPECT_DOUBLE_EQ(LocomoF1("Paris", "Lisbon, Paris", 1), 0.5);
  EXPECT_DOUBLE_EQ(LocomoF1("Paris", "Lisbon, Paris", 4), 2.0 / 3.0);
  // Empty gold part (trailing comma) scores 0 and still counts.
  EXPECT_DOUBLE_EQ(LocomoF1("Paris", "Paris,", 1), 0.5);
}

TEST(LocomoF1Test, CategoryThreeKeepsGoldBeforeSemicolon) {
  EXPECT_DOUBLE_EQ(LocomoF1("Likely yes", "Likely yes; she loves books", 3), 1.0);
  EXPECT_LT(LocomoF1("Likely yes", "Likely yes; she loves books", 4), 1.0);
}

TEST(LocomoF1Test, CategoryFiveChecksAbstentionPhrases) {
  EXPECT_EQ(LocomoF1("No information available.", "anything", 5), 1.0);
  EXPECT_EQ(LocomoF1("That was NOT MENTIONED in the chat", "anything", 5), 1.0);
  EXPECT_EQ(LocomoF1("Lisbon", "Lisbon", 5), 0.0);
  EXPECT_EQ(LocomoF1("", "", 5), 0.0);
}

TEST(PorterStemTest, FollowsNltkExtensions) {
  EXPECT_EQ(PorterStem("skies"), "sky");
  EXPECT_EQ(PorterStem("Skies"), "ski");  // NLTK checks its table before lower-casing
  EXPECT_EQ(PorterStem("dying"), "die");
  EXPECT_EQ(PorterStem("ties"), "tie");
  EXPECT_EQ(PorterStem("happy"), "happi");
  EXPECT_EQ(PorterStem("enjoy"), "enjoy");
  EXPECT_EQ(PorterStem("generously"), "gener");
  EXPECT_EQ(PorterStem("relational"), "relat");
  EXPECT_EQ(PorterStem("hopping"), "hop");
  EXPECT_EQ(PorterStem("controlling"), "control");
  EXPECT_EQ(PorterStem("is"), "is");
  EXPECT_EQ(PorterStem("AS"), "as");
}

TEST(WordTokenizerTest, SplitsLikeTreebank) {
  const WordTokenizer& tokenizer = WordTokenizer::Default();
  EXPECT_EQ(tokenizer.Tokenize("I can't go."),
            (std::vector<std::string>{"I", "ca", "n't", "go", "."}));
  EXPECT_EQ(tokenizer.Tokenize("\"Hi,\" she said."),
            (std::vector<std::string>{"``", "Hi", ",", "''", "she", "said", "."}));
  EXPECT_EQ(tokenizer.Tokenize("It costs $3.88 (roughly)."),
            (std::vector<std::string>{"It", "costs", "$", "3.88", "(", "roughly", ")", "."}));
  EXPECT_TRUE(tokenizer.Tokenize("").empty());
  EXPECT_TRUE(tokenizer.Tokenize("   ").empty());
}

TEST(UnicodeTextTest, LowerAndSplitMatchPython) {
  EXPECT_EQ(PythonLower("ÀÉÎ İ ΣΑΣ"), "àéî i̇ σας");
  EXPECT_EQ(PythonSplit("a\u00a0b\u3000c  d"), (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(PythonStrip("\t x \u2003"), "x");
  // Invalid UTF-8 becomes U+FFFD instead of failing.
  EXPECT_EQ(EncodeUtf8(DecodeUtf8("a\xff")), "a\xef\xbf\xbd");
}

TEST(ScoreAnswerTest, FillsEveryMetric) {
  const AnswerScores scores = ScoreAnswer("Lisbon", "lisbon", 4);
  EXPECT_EQ(scores.em, 1.0);
  EXPECT_EQ(scores.f1, 1.0);
  EXPECT_EQ(scores.f1_locomo, 1.0);
  EXPECT_EQ(scores.bleu1, 1.0);
}

}  // namespace
}  // namespace memr1::eval
