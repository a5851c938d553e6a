#include "eval/porter_stemmer.h"

#include <functional>
#include <vector>

#include "eval/unicode_text.h"

namespace memr1::eval {
namespace {

using Word = std::u32string;

bool IsVowelLetter(char32_t c) {
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

// The paper's consonant: not a, e, i, o, u, and not a 'y' preceded by a consonant. NLTK
// recurses through runs of 'y'; the loop below walks back the same way.
bool IsConsonant(const Word& word, size_t i) {
  bool flip = false;
  while (true) {
    const char32_t c = word[i];
    if (IsVowelLetter(c)) return flip;
    if (c != 'y') return !flip;
    if (i == 0) return !flip;
    --i;
    flip = !flip;
  }
}

int Measure(const Word& stem) {
  int count = 0;
  bool previous_vowel = false;
  for (size_t i = 0; i < stem.size(); ++i) {
    const bool consonant = IsConsonant(stem, i);
    if (consonant && previous_vowel) ++count;
    previous_vowel = !consonant;
  }
  return count;
}

bool ContainsVowel(const Word& stem) {
  for (size_t i = 0; i < stem.size(); ++i) {
    if (!IsConsonant(stem, i)) return true;
  }
  return false;
}

bool EndsDoubleConsonant(const Word& word) {
  const size_t n = word.size();
  return n >= 2 && word[n - 1] == word[n - 2] && IsConsonant(word, n - 1);
}

// Condition *o, with NLTK's extension for two-letter stems (vowel then consonant).
bool EndsCvc(const Word& word) {
  const size_t n = word.size();
  if (n >= 3 && IsConsonant(word, n - 3) && !IsConsonant(word, n - 2) &&
      IsConsonant(word, n - 1)) {
    const char32_t last = word[n - 1];
    if (last != 'w' && last != 'x' && last != 'y') return true;
  }
  return n == 2 && !IsConsonant(word, 0) && IsConsonant(word, 1);
}

bool EndsWith(const Word& word, const Word& suffix) {
  return word.size() >= suffix.size() &&
         word.compare(word.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Word Cut(const Word& word, size_t count) { return word.substr(0, word.size() - count); }

using Condition = std::function<bool(const Word& stem)>;

struct Rule {
  Word suffix;  // U"*d" stands for "ends in a double consonant"
  Word replacement;
  Condition condition;  // empty: unconditional
};

// NLTK's _apply_rule_list: the first rule whose suffix matches decides, whether or not its
// condition holds.
Word ApplyRules(const Word& word, const std::vector<Rule>& rules) {
  for (const Rule& rule : rules) {
    if (rule.suffix == U"*d" && EndsDoubleConsonant(word)) {
      const Word stem = Cut(word, 2);
      if (!rule.condition || rule.condition(stem)) return stem + rule.replacement;
      return word;
    }
    if (EndsWith(word, rule.suffix)) {
      const Word stem = Cut(word, rule.suffix.size());
      if (!rule.condition || rule.condition(stem)) return stem + rule.replacement;
      return word;
    }
  }
  return word;
}

bool PositiveMeasure(const Word& stem) { return Measure(stem) > 0; }
bool MeasureAboveOne(const Word& stem) { return Measure(stem) > 1; }

Word Step1a(const Word& word) {
  if (EndsWith(word, U"ies") && word.size() == 4) return Cut(word, 3) + U"ie";
  return ApplyRules(word, {{U"sses", U"ss", nullptr},
                           {U"ies", U"i", nullptr},
                           {U"ss", U"ss", nullptr},
                           {U"s", U"", nullptr}});
}

Word Step1b(const Word& word) {
  if (EndsWith(word, U"ied")) {
    return word.size() == 4 ? Cut(word, 3) + U"ie" : Cut(word, 3) + U"i";
  }
  if (EndsWith(word, U"eed")) {
    const Word stem = Cut(word, 3);
    return Measure(stem) > 0 ? stem + U"ee" : word;
  }
  Word intermediate;
  bool succeeded = false;
  for (const char32_t* suffix_text : {U"ed", U"ing"}) {
    const Word suffix(suffix_text);
    if (EndsWith(word, suffix)) {
      intermediate = Cut(word, suffix.size());
      if (ContainsVowel(intermediate)) {
        succeeded = true;
        break;
      }
    }
  }
  if (!succeeded) return word;
  const char32_t last = intermediate.back();
  return ApplyRules(
      intermediate,
      {{U"at", U"ate", nullptr},
       {U"bl", U"ble", nullptr},
       {U"iz", U"ize", nullptr},
       {U"*d", Word(1, last), [last](const Word&) { return last != 'l' && last != 's' && last != 'z'; }},
       {U"", U"e", [](const Word& stem) { return Measure(stem) == 1 && EndsCvc(stem); }}});
}

Word Step1c(const Word& word) {
  return ApplyRules(word, {{U"y", U"i", [](const Word& stem) {
                              return stem.size() > 1 && IsConsonant(stem, stem.size() - 1);
                            }}});
}

Word Step2(const Word& word) {
  if (EndsWith(word, U"alli") && PositiveMeasure(Cut(word, 4))) {
    return Step2(Cut(word, 4) + U"al");
  }
  std::vector<Rule> rules = {
      {U"ational", U"ate", PositiveMeasure}, {U"tional", U"tion", PositiveMeasure},
      {U"enci", U"ence", PositiveMeasure},   {U"anci", U"ance", PositiveMeasure},
      {U"izer", U"ize", PositiveMeasure},    {U"bli", U"ble", PositiveMeasure},
      {U"alli", U"al", PositiveMeasure},     {U"entli", U"ent", PositiveMeasure},
      {U"eli", U"e", PositiveMeasure},       {U"ousli", U"ous", PositiveMeasure},
      {U"ization", U"ize", PositiveMeasure}, {U"ation", U"ate", PositiveMeasure},
      {U"ator", U"ate", PositiveMeasure},    {U"alism", U"al", PositiveMeasure},
      {U"iveness", U"ive", PositiveMeasure}, {U"fulness", U"ful", PositiveMeasure},
      {U"ousness", U"ous", PositiveMeasure}, {U"aliti", U"al", PositiveMeasure},
      {U"iviti", U"ive", PositiveMeasure},   {U"biliti", U"ble", PositiveMeasure},
      {U"fulli", U"ful", PositiveMeasure},
      // NLTK tests the measure of the word without "ogi" (keeping the 'l').
      {U"logi", U"log", [&word](const Word&) { return PositiveMeasure(Cut(word, 3)); }},
  };
  return ApplyRules(word, rules);
}

Word Step3(const Word& word) {
  return ApplyRules(word, {{U"icate", U"ic", PositiveMeasure},
                           {U"ative", U"", PositiveMeasure},
                           {U"alize", U"al", PositiveMeasure},
                           {U"iciti", U"ic", PositiveMeasure},
                           {U"ical", U"ic", PositiveMeasure},
                           {U"ful", U"", PositiveMeasure},
                           {U"ness", U"", PositiveMeasure}});
}

Word Step4(const Word& word) {
  return ApplyRules(
      word, {{U"al", U"", MeasureAboveOne},    {U"ance", U"", MeasureAboveOne},
             {U"ence", U"", MeasureAboveOne},  {U"er", U"", MeasureAboveOne},
             {U"ic", U"", MeasureAboveOne},    {U"able", U"", MeasureAboveOne},
             {U"ible", U"", MeasureAboveOne},  {U"ant", U"", MeasureAboveOne},
             {U"ement", U"", MeasureAboveOne}, {U"ment", U"", MeasureAboveOne},
             {U"ent", U"", MeasureAboveOne},
             {U"ion", U"",
              [](const Word& stem) {
                return Measure(stem) > 1 && (stem.back() == 's' || stem.back() == 't');
              }},
             {U"ou", U"", MeasureAboveOne},    {U"ism", U"", MeasureAboveOne},
             {U"ate", U"", MeasureAboveOne},   {U"iti", U"", MeasureAboveOne},
             {U"ous", U"", MeasureAboveOne},   {U"ive", U"", MeasureAboveOne},
             {U"ize", U"", MeasureAboveOne}});
}

Word Step5a(const Word& word) {
  if (EndsWith(word, U"e")) {
    const Word stem = Cut(word, 1);
    const int measure = Measure(stem);
    if (measure > 1) return stem;
    if (measure == 1 && !EndsCvc(stem)) return stem;
  }
  return word;
}

Word Step5b(const Word& word) {
  return ApplyRules(word, {{U"ll", U"l", [&word](const Word&) {
                              return Measure(Cut(word, 1)) > 1;
                            }}});
}

const Word* IrregularForm(const Word& word) {
  struct Entry {
    const char32_t* form;
    const char32_t* stem;
  };
  static const Entry kPool[] = {
      {U"sky", U"sky"},         {U"skies", U"sky"},      {U"dying", U"die"},
      {U"lying", U"lie"},       {U"tying", U"tie"},      {U"news", U"news"},
      {U"innings", U"inning"},  {U"inning", U"inning"},  {U"outings", U"outing"},
      {U"outing", U"outing"},   {U"cannings", U"canning"}, {U"canning", U"canning"},
      {U"howe", U"howe"},       {U"proceed", U"proceed"}, {U"exceed", U"exceed"},
      {U"succeed", U"succeed"},
  };
  static const std::vector<std::pair<Word, Word>>* pool = [] {
    auto* entries = new std::vector<std::pair<Word, Word>>();
    for (const Entry& entry : kPool) entries->emplace_back(entry.form, entry.stem);
    return entries;
  }();
  for (const auto& [form, stem] : *pool) {
    if (form == word) return &stem;
  }
  return nullptr;
}

}  // namespace

std::u32string PorterStem(const std::u32string& word) {
  Word stem = PythonLower(word);
  // NLTK looks the word up before lower-casing it, so "Skies" goes through the rules.
  if (const Word* irregular = IrregularForm(word)) return *irregular;
  if (word.size() <= 2) return stem;
  stem = Step1a(stem);
  stem = Step1b(stem);
  stem = Step1c(stem);
  stem = Step2(stem);
  stem = Step3(stem);
  stem = Step4(stem);
  stem = Step5a(stem);
  stem = Step5b(stem);
  return stem;
}

std::string PorterStem(absl::string_view word) { return EncodeUtf8(PorterStem(DecodeUtf8(word))); }

}  // namespace memr1::eval
