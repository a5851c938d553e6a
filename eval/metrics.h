#pragma once

// The answer-level metrics of Memory-R1, Mem0 and LoCoMo, each defined exactly as its reference
// implementation computes it, so our numbers compare with published ones to the decimal:
//
//  - ExactMatch: Memory-R1's reward; 1 when prediction and gold are equal after Python's
//    strip() and lower().
//  - TokenF1 (Mem0 / Memory-R1 style): lower-case, replace . , ! ? by spaces, split on
//    whitespace; F1 over token *sets*; 0 when either side has no tokens.
//  - Bleu1: NLTK sentence_bleu(weights=(1,0,0,0), SmoothingFunction().method1) of the
//    NLTKWordTokenizer tokens of the lower-cased texts (Mem0's calculate_bleu_scores).
//  - LocomoF1: the official LoCoMo scorer (task_eval/evaluation.py): normalise (drop commas,
//    lower-case, drop ASCII punctuation, drop the words a/an/the/and, squeeze whitespace),
//    Porter-stem each token, F1 over token *multisets*. Category 1 (multi-hop) splits both
//    sides on commas and averages, over gold parts, the best F1 against any prediction part;
//    category 3 keeps the gold text before the first ';'; category 5 scores 1 when the
//    prediction contains "no information available" or "not mentioned". Other categories
//    (2, 4, and non-LoCoMo ones) use the plain F1.
//
// All scores are in [0, 1]. Thread safety: pure functions.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace memr1::eval {

double ExactMatch(absl::string_view prediction, absl::string_view gold);

// Mem0's simple_tokenize.
std::vector<std::string> SimpleTokens(absl::string_view text);
double TokenF1(absl::string_view prediction, absl::string_view gold);

double Bleu1(absl::string_view prediction, absl::string_view gold);
// BLEU-1 of already tokenized texts (one reference).
double Bleu1OfTokens(const std::vector<std::string>& prediction,
                     const std::vector<std::string>& reference);

// LoCoMo's normalize_answer.
std::string NormalizeLocomoAnswer(absl::string_view text);
// LoCoMo's f1_score: stemmed multiset F1 of two texts, no category rules.
double LocomoTokenF1(absl::string_view prediction, absl::string_view gold);
// LoCoMo's per-category score (see above).
double LocomoF1(absl::string_view prediction, absl::string_view gold, int category);

// Every automatic metric of one answer.
struct AnswerScores {
  double em = 0;
  double f1 = 0;
  double f1_locomo = 0;
  double bleu1 = 0;
};
AnswerScores ScoreAnswer(absl::string_view prediction, absl::string_view gold, int category);

}  // namespace memr1::eval
