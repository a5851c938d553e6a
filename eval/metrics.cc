#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "eval/porter_stemmer.h"
#include "eval/unicode_text.h"
#include "eval/word_tokenizer.h"

namespace memr1::eval {
namespace {

double F1FromCounts(double common, double predicted, double gold) {
  if (common == 0) return 0.0;
  const double precision = common / predicted;
  const double recall = common / gold;
  return (2 * precision * recall) / (precision + recall);
}

// Python's str.split(sep) for a one-character separator: keeps empty parts.
std::vector<std::string> SplitOn(absl::string_view text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(separator, start);
    if (at == absl::string_view::npos) {
      parts.emplace_back(text.substr(start));
      return parts;
    }
    parts.emplace_back(text.substr(start, at - start));
    start = at + 1;
  }
}

std::vector<std::u32string> StemmedLocomoTokens(absl::string_view text) {
  std::vector<std::u32string> tokens = PythonSplit(DecodeUtf8(NormalizeLocomoAnswer(text)));
  for (std::u32string& token : tokens) token = PorterStem(token);
  return tokens;
}

}  // namespace

double ExactMatch(absl::string_view prediction, absl::string_view gold) {
  return PythonLower(PythonStrip(prediction)) == PythonLower(PythonStrip(gold)) ? 1.0 : 0.0;
}

std::vector<std::string> SimpleTokens(absl::string_view text) {
  std::string lowered = PythonLower(text);
  for (char& ch : lowered) {
    if (ch == '.' || ch == ',' || ch == '!' || ch == '?') ch = ' ';
  }
  return PythonSplit(lowered);
}

double TokenF1(absl::string_view prediction, absl::string_view gold) {
  const std::vector<std::string> predicted_list = SimpleTokens(prediction);
  const std::vector<std::string> gold_list = SimpleTokens(gold);
  const std::set<std::string> predicted(predicted_list.begin(), predicted_list.end());
  const std::set<std::string> reference(gold_list.begin(), gold_list.end());
  if (predicted.empty() || reference.empty()) return 0.0;
  size_t common = 0;
  for (const std::string& token : predicted) common += reference.count(token);
  return F1FromCounts(static_cast<double>(common), static_cast<double>(predicted.size()),
                      static_cast<double>(reference.size()));
}

double Bleu1OfTokens(const std::vector<std::string>& prediction,
                     const std::vector<std::string>& reference) {
  // NLTK: modified unigram precision (counts clipped by the reference), 0 when nothing
  // matches, times the brevity penalty; exp(fsum(1 * log(p1))) as NLTK computes it.
  if (prediction.empty()) return 0.0;
  std::map<std::string, int> reference_counts;
  for (const std::string& token : reference) ++reference_counts[token];
  std::map<std::string, int> prediction_counts;
  for (const std::string& token : prediction) ++prediction_counts[token];
  int clipped = 0;
  for (const auto& [token, count] : prediction_counts) {
    const auto it = reference_counts.find(token);
    if (it != reference_counts.end()) clipped += std::min(count, it->second);
  }
  if (clipped == 0) return 0.0;
  const double hyp_len = static_cast<double>(prediction.size());
  const double ref_len = static_cast<double>(reference.size());
  const double brevity = hyp_len > ref_len ? 1.0 : std::exp(1.0 - ref_len / hyp_len);
  const double precision = static_cast<double>(clipped) / hyp_len;
  return brevity * std::exp(std::log(precision));
}

double Bleu1(absl::string_view prediction, absl::string_view gold) {
  const WordTokenizer& tokenizer = WordTokenizer::Default();
  return Bleu1OfTokens(tokenizer.Tokenize(PythonLower(prediction)),
                       tokenizer.Tokenize(PythonLower(gold)));
}

std::string NormalizeLocomoAnswer(absl::string_view text) {
  std::u32string s = DecodeUtf8(text);
  s.erase(std::remove(s.begin(), s.end(), U','), s.end());
  s = PythonLower(s);
  s.erase(std::remove_if(s.begin(), s.end(), IsAsciiPunctuation), s.end());
  // re.sub(r'\b(a|an|the|and)\b', ' ', s): whole runs of word characters equal to one of the
  // four words become a space.
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (!IsPythonWordChar(s[i])) {
      out.push_back(s[i++]);
      continue;
    }
    const size_t start = i;
    while (i < s.size() && IsPythonWordChar(s[i])) ++i;
    const std::u32string word = s.substr(start, i - start);
    if (word == U"a" || word == U"an" || word == U"the" || word == U"and") {
      out.push_back(U' ');
    } else {
      out += word;
    }
  }
  std::u32string joined;
  for (const std::u32string& part : PythonSplit(out)) {
    if (!joined.empty()) joined.push_back(U' ');
    joined += part;
  }
  return EncodeUtf8(joined);
}

double LocomoTokenF1(absl::string_view prediction, absl::string_view gold) {
  const std::vector<std::u32string> predicted = StemmedLocomoTokens(prediction);
  const std::vector<std::u32string> reference = StemmedLocomoTokens(gold);
  std::map<std::u32string, int> reference_counts;
  for (const std::u32string& token : reference) ++reference_counts[token];
  int common = 0;
  for (const std::u32string& token : predicted) {
    auto it = reference_counts.find(token);
    if (it != reference_counts.end() && it->second > 0) {
      --it->second;
      ++common;
    }
  }
  return F1FromCounts(common, static_cast<double>(predicted.size()),
                      static_cast<double>(reference.size()));
}

double LocomoF1(absl::string_view prediction, absl::string_view gold, int category) {
  switch (category) {
    case 1: {
      // np.mean over gold parts of the best F1 against any prediction part.
      std::vector<std::string> predictions = SplitOn(prediction, ',');
      for (std::string& part : predictions) part = PythonStrip(part);
      std::vector<std::string> golds = SplitOn(gold, ',');
      double sum = 0;
      for (const std::string& gold_part : golds) {
        double best = 0;
        for (size_t k = 0; k < predictions.size(); ++k) {
          const double f1 = LocomoTokenF1(predictions[k], PythonStrip(gold_part));
          best = k == 0 ? f1 : std::max(best, f1);
        }
        sum += best;
      }
      return sum / static_cast<double>(golds.size());
    }
    case 3: {
      const size_t semicolon = gold.find(';');
      const std::string cut = PythonStrip(gold.substr(0, semicolon));
      return LocomoTokenF1(prediction, cut);
    }
    case 5: {
      const std::string lowered = PythonLower(prediction);
      return lowered.find("no information available") != std::string::npos ||
                     lowered.find("not mentioned") != std::string::npos
                 ? 1.0
                 : 0.0;
    }
    default:
      return LocomoTokenF1(prediction, gold);
  }
}

AnswerScores ScoreAnswer(absl::string_view prediction, absl::string_view gold, int category) {
  AnswerScores scores;
  scores.em = ExactMatch(prediction, gold);
  scores.f1 = TokenF1(prediction, gold);
  scores.f1_locomo = LocomoF1(prediction, gold, category);
  scores.bleu1 = Bleu1(prediction, gold);
  return scores;
}

}  // namespace memr1::eval
