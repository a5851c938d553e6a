// Our tokenizer, stemmer and metrics against NLTK itself and the reference scorers (restated
// in tests/eval/tools/nltk_reference.py) on a corpus of tricky strings plus the text of the
// real LoCoMo file: every token, stem and score must agree.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "eval/metrics.h"
#include "eval/porter_stemmer.h"
#include "eval/unicode_text.h"
#include "eval/word_tokenizer.h"

namespace memr1::eval {
namespace {

using Json = nlohmann::json;

// Runs a shell command; returns its exit status and output (stdout and stderr).
int RunShell(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output->append(buffer, n);
  return pclose(pipe);
}

const char* const kTrickyTexts[] = {
    "",
    " ",
    "Hello, world!",
    "\"Quoted,\" she said. 'Single' quotes too.",
    "I can't, won't, shouldn't; y'all'd've gone.",
    "He's gonna wanna gimme that, cannot he?",
    "'Tis the season; 'twas the night.",
    "It costs $3.88 (roughly 3,36 euros) at 5:30pm.",
    "Dates: 7 May 2023, May 7th, 2023-05-07, 05/07/2023, 1:56 pm on 8 May, 2023.",
    "Numbers: 1,000 and 3.14 and -42 and 10% and #1 and @home & co.",
    "Ellipsis... and more.... done.",
    "Wait -- what?! Really?!",
    "Brackets [a] {b} <c> (d).",
    "Curly “double” and ‘single’ quotes, «guillemets» and „low“ ones.",
    "She said ``hello'' to me.",
    "Café naïve résumé — über straße.",
    "ÉTÉ À PARIS, ΣΟΦΙΑ and İstanbul.",
    "日本語のテキスト、句読点。",
    "emoji 🙂 and tabs\tand\nnewlines",
    "The end.",
    "Mr. Smith went to Washington. Then he left.",
    "'quoted start",
    "end quoted'",
    "O'Neil's dog's bone isn't here.",
    "*stars* and a-hyphen and under_score",
    "..",
    "?!",
    "...",
    "a",
    "The",
    "no information available",
};

const char* const kTrickyWords[] = {
    "caresses", "ponies",   "ties",        "caress",     "cats",      "feed",     "agreed",
    "plastered", "bled",    "motoring",    "sing",       "conflated", "troubled", "sized",
    "hopping",  "tanned",   "falling",     "hissing",    "fizzed",    "failing",  "filing",
    "happy",    "sky",      "skies",       "Skies",      "dying",     "lying",    "tying",
    "news",     "innings",  "outings",     "cannings",   "howe",      "proceed",  "exceed",
    "succeed",  "relational", "conditional", "rational", "valenci",   "hesitanci", "digitizer",
    "conformabli", "radicalli", "differentli", "vileli", "analogousli", "vietnamization",
    "predication", "operator", "feudalism", "decisiveness", "hopefulness", "callousness",
    "formaliti", "sensitiviti", "sensibiliti", "triplicate", "formative", "formalize",
    "electriciti", "electrical", "hopeful", "goodness", "revival", "allowance", "inference",
    "airliner", "gyroscopic", "adjustable", "defensible", "irritant", "replacement",
    "adjustment", "dependent", "adoption", "homologou", "communism", "activate", "angulariti",
    "homologous", "effective", "bowdlerize", "probate", "rate", "cease", "controll", "roll",
    "generously", "logically", "archaeology", "fully", "enjoy", "spy", "fly", "try", "tried",
    "died", "ied", "yy", "syzygy", "toy", "by", "is", "as", "AS", "I", "a", "", "y", "ys",
    "Lisbon", "Paris", "2023", "7th", "café", "naïve", "über", "İstanbul", "ΣΟΦΙΑ", "running",
    "ran", "runs", "meeting", "meetings", "studies", "studying", "universal", "university",
    "organization", "organizing", "painting", "paintings", "adopted", "adoption", "agencies",
};

struct Reference {
  std::vector<std::vector<std::string>> tokens;
  std::vector<std::string> stems;
  Json pairs;
};

std::string LocomoPath() { return MEMR1_SOURCE_DIR "/../shared/data/locomo/locomo10.json"; }

Json LoadLocomoJson() {
  std::ifstream file(LocomoPath());
  EXPECT_TRUE(file.good()) << "missing " << LocomoPath();
  std::stringstream text;
  text << file.rdbuf();
  return Json::parse(text.str());
}

std::string AsText(const Json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

class NltkEquivalenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Json request;
    request["tokenize"] = Json::array();
    request["stem"] = Json::array();
    request["pairs"] = Json::array();
    for (const char* text : kTrickyTexts) {
      texts_.push_back(text);
      texts_.push_back(PythonLower(text));
    }
    for (const char* word : kTrickyWords) words_.push_back(word);
    const Json locomo = LoadLocomoJson();
    // Every question and answer, and the first turns of every conversation.
    std::vector<std::string> answers;
    for (const Json& sample : locomo) {
      int turns = 0;
      for (const auto& [key, value] : sample["conversation"].items()) {
        if (!value.is_array()) continue;
        for (const Json& turn : value) {
          if (turns++ >= 150) break;
          texts_.push_back(turn["text"].get<std::string>());
        }
      }
      for (const Json& qa : sample["qa"]) {
        texts_.push_back(qa["question"].get<std::string>());
        const std::string gold = AsText(qa.contains("answer") ? qa["answer"]
                                                              : qa["adversarial_answer"]);
        answers.push_back(gold);
        pairs_.push_back({gold, gold, qa["category"].get<int>()});
        pairs_.push_back({qa["question"].get<std::string>(), gold, qa["category"].get<int>()});
        if (answers.size() > 1) {
          pairs_.push_back({answers[answers.size() - 2], gold, qa["category"].get<int>()});
        }
      }
    }
    for (const std::string& text : texts_) {
      for (const std::string& word : PythonSplit(NormalizeLocomoAnswer(text))) {
        words_.push_back(word);
      }
    }
    for (const char* p : kTrickyTexts) {
      for (const char* g : {"7 May 2023", "Paris, Lisbon", "the cat; maybe", "", "..."}) {
        for (int category = 1; category <= 5; ++category) pairs_.push_back({p, g, category});
      }
    }
    for (const std::string& text : texts_) request["tokenize"].push_back(text);
    for (const std::string& word : words_) request["stem"].push_back(word);
    for (const Pair& pair : pairs_) {
      request["pairs"].push_back(
          {{"prediction", pair.prediction}, {"gold", pair.gold}, {"category", pair.category}});
    }

    const std::string dir = ::testing::TempDir();
    const std::string in = dir + "/nltk_in.json";
    const std::string out = dir + "/nltk_out.json";
    std::ofstream(in) << request.dump();
    std::string output;
    const int status = RunShell("/usr/bin/python3 " MEMR1_SOURCE_DIR
                           "/tests/eval/tools/nltk_reference.py " + in + " " + out, &output);
    ASSERT_EQ(status, 0)
        << "the NLTK reference failed (is python3-nltk installed? scripts/install-deps.sh): "
        << output;
    std::ifstream file(out);
    std::stringstream text;
    text << file.rdbuf();
    const Json reply = Json::parse(text.str());
    reference_ = new Reference();
    for (const Json& tokens : reply["tokenize"]) {
      reference_->tokens.push_back(tokens.get<std::vector<std::string>>());
    }
    reference_->stems = reply["stem"].get<std::vector<std::string>>();
    reference_->pairs = reply["pairs"];
  }

  static void TearDownTestSuite() {
    delete reference_;
    reference_ = nullptr;
  }

  struct Pair {
    std::string prediction;
    std::string gold;
    int category;
  };
  static inline std::vector<std::string> texts_;
  static inline std::vector<std::string> words_;
  static inline std::vector<Pair> pairs_;
  static inline Reference* reference_ = nullptr;
};

TEST_F(NltkEquivalenceTest, TokenizerMatchesNltkWordTokenizer) {
  ASSERT_NE(reference_, nullptr);
  ASSERT_EQ(reference_->tokens.size(), texts_.size());
  int mismatches = 0;
  for (size_t i = 0; i < texts_.size(); ++i) {
    const std::vector<std::string> ours = WordTokenizer::Default().Tokenize(texts_[i]);
    if (ours != reference_->tokens[i] && ++mismatches <= 10) {
      ADD_FAILURE() << "text: \"" << texts_[i] << "\"\n ours:   " << Json(ours).dump()
                    << "\n nltk:   " << Json(reference_->tokens[i]).dump();
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << texts_.size() << " texts";
}

TEST_F(NltkEquivalenceTest, StemmerMatchesNltkPorterStemmer) {
  ASSERT_NE(reference_, nullptr);
  ASSERT_EQ(reference_->stems.size(), words_.size());
  int mismatches = 0;
  for (size_t i = 0; i < words_.size(); ++i) {
    const std::string ours = PorterStem(words_[i]);
    if (ours != reference_->stems[i] && ++mismatches <= 10) {
      ADD_FAILURE() << "word \"" << words_[i] << "\": ours \"" << ours << "\", nltk \""
                    << reference_->stems[i] << "\"";
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << words_.size() << " words";
}

TEST_F(NltkEquivalenceTest, MetricsMatchReferenceScorers) {
  ASSERT_NE(reference_, nullptr);
  ASSERT_EQ(reference_->pairs.size(), pairs_.size());
  int mismatches = 0;
  for (size_t i = 0; i < pairs_.size(); ++i) {
    const Pair& pair = pairs_[i];
    const AnswerScores ours = ScoreAnswer(pair.prediction, pair.gold, pair.category);
    const Json& expected = reference_->pairs[i];
    const bool same = ours.em == expected["em"].get<double>() &&
                      ours.f1 == expected["f1"].get<double>() &&
                      std::abs(ours.f1_locomo - expected["f1_locomo"].get<double>()) < 1e-12 &&
                      std::abs(ours.bleu1 - expected["bleu1"].get<double>()) < 1e-12;
    if (!same && ++mismatches <= 10) {
      ADD_FAILURE() << "prediction \"" << pair.prediction << "\" gold \"" << pair.gold
                    << "\" category " << pair.category << "\n ours: em " << ours.em << " f1 "
                    << ours.f1 << " f1_locomo " << ours.f1_locomo << " bleu1 " << ours.bleu1
                    << "\n reference: " << expected.dump();
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << pairs_.size() << " pairs";
}

}  // namespace
}  // namespace memr1::eval
