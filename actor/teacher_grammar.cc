#include "actor/teacher_grammar.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"

namespace memr1::actor::teacher {
namespace {

using Kind = Statement::Kind;

constexpr const char* kMonths[] = {"January", "February", "March",     "April",   "May",
                                   "June",    "July",     "August",    "September",
                                   "October", "November", "December"};

absl::string_view AsAbsl(std::string_view text) { return {text.data(), text.size()}; }

// A sentence pattern: literal text with captures {N} (a person), {M} (another person), {V} (a
// value), {O} (the old value), {D} (a date), {AV} / {AO} ("a"/"an" and a value). A capture
// spans to the first occurrence of the literal after it (or to the end), so patterns are
// tried in order and validated capture by capture.
struct Pattern {
  const char* text;
  Slot slot;
  Kind kind;
  bool still = false;
  bool first_person = false;
  bool none = false;  // "owns no vehicle": the state is none
};

using Captures = std::map<std::string, std::string>;

// A capitalised word other than "I" and "My" (first-person sentences are not about someone
// called "I").
bool IsName(std::string_view text) {
  if (text.empty() || !std::isupper(static_cast<unsigned char>(text[0]))) return false;
  if (text == "I" || text == "My") return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '-' || c == '\'';
  });
}

// Words of letters (a value: "Lisbon", "motorcycle", "New York").
bool IsValue(std::string_view text) {
  if (text.empty() || text.front() == ' ' || text.back() == ' ') return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == ' ' || c == '-';
  });
}

// "a bike" / "an engineer" -> "bike" / "engineer"; empty when there is no article.
std::string StripArticle(std::string_view text) {
  for (std::string_view article : {std::string_view("a "), std::string_view("an ")}) {
    if (text.substr(0, article.size()) == article) {
      const std::string_view rest = text.substr(article.size());
      if (IsValue(rest)) return std::string(rest);
    }
  }
  return "";
}

bool Match(std::string_view pattern, std::string_view text, Captures* captures) {
  captures->clear();
  size_t p = 0;  // in pattern
  size_t t = 0;  // in text
  while (p < pattern.size()) {
    if (pattern[p] != '{') {
      const size_t next = std::min(pattern.find('{', p), pattern.size());
      const std::string_view literal = pattern.substr(p, next - p);
      if (text.substr(t, literal.size()) != literal) return false;
      t += literal.size();
      p = next;
      continue;
    }
    const size_t close = pattern.find('}', p);
    const std::string name(pattern.substr(p + 1, close - p - 1));
    p = close + 1;
    std::string_view value;
    if (p == pattern.size()) {
      value = text.substr(t);
      t = text.size();
    } else {
      const size_t next = std::min(pattern.find('{', p), pattern.size());
      const std::string_view literal = pattern.substr(p, next - p);
      const size_t found = text.find(literal, t + 1);
      if (found == std::string_view::npos) return false;
      value = text.substr(t, found - t);
      t = found;
    }
    if (value.empty()) return false;
    std::string checked;
    if (name == "N" || name == "M") {
      if (!IsName(value)) return false;
      checked = std::string(value);
    } else if (name == "V" || name == "O") {
      if (!IsValue(value)) return false;
      checked = std::string(value);
    } else if (name == "AV" || name == "AO") {
      checked = StripArticle(value);
      if (checked.empty()) return false;
    } else if (name == "D") {
      if (!DayNumber(value).has_value()) return false;
      checked = std::string(value);
    } else {
      return false;
    }
    (*captures)[name.size() == 2 ? name.substr(1) : name] = std::move(checked);
  }
  return t == text.size();
}

const std::vector<Pattern>& SentencePatterns() {
  static const auto* patterns = new std::vector<Pattern>{
      // City.
      {"{N} lives in {V}", Slot::kCity, Kind::kState},
      {"{N} still lives in {V}", Slot::kCity, Kind::kState, true},
      {"{N} moved from {O} to {V} on {D}", Slot::kCity, Kind::kChange},
      {"{N} moved from {O} to {V}", Slot::kCity, Kind::kChange},
      {"{N} moved to {V} on {D}", Slot::kCity, Kind::kChange},
      {"{N} moved to {V}", Slot::kCity, Kind::kChange},
      {"I live in {V}", Slot::kCity, Kind::kState, false, true},
      {"I still live in {V}", Slot::kCity, Kind::kState, true, true},
      {"I moved to {V}", Slot::kCity, Kind::kChange, false, true},
      // Job.
      {"{N} works as {AV}", Slot::kJob, Kind::kState},
      {"{N} still works as {AV}", Slot::kJob, Kind::kState, true},
      {"{N} started working as {AV} on {D}, after working as {AO}", Slot::kJob, Kind::kChange},
      {"{N} started working as {AV}, after working as {AO}", Slot::kJob, Kind::kChange},
      {"{N} started working as {AV} on {D}", Slot::kJob, Kind::kChange},
      {"{N} started working as {AV}", Slot::kJob, Kind::kChange},
      {"I work as {AV}", Slot::kJob, Kind::kState, false, true},
      {"I still work as {AV}", Slot::kJob, Kind::kState, true, true},
      {"I started a new job as {AV}", Slot::kJob, Kind::kChange, false, true},
      // Vehicle.
      {"{N} owns no vehicle", Slot::kVehicle, Kind::kState, false, false, true},
      {"{N} owns {AV}", Slot::kVehicle, Kind::kState},
      {"{N} still owns the {V}", Slot::kVehicle, Kind::kState, true},
      {"{N} bought {AV} on {D}", Slot::kVehicle, Kind::kAcquire},
      {"{N} bought {AV}", Slot::kVehicle, Kind::kAcquire},
      {"{N} sold the {V} on {D}", Slot::kVehicle, Kind::kRelease},
      {"{N} sold the {V}", Slot::kVehicle, Kind::kRelease},
      {"I bought {AV}", Slot::kVehicle, Kind::kAcquire, false, true},
      {"I sold the {V}", Slot::kVehicle, Kind::kRelease, false, true},
      {"I still have my {V}", Slot::kVehicle, Kind::kState, true, true},
      // Pet.
      {"{N} has no pet", Slot::kPet, Kind::kState, false, false, true},
      {"{N} has {AV}", Slot::kPet, Kind::kState},
      {"{N} still has the {V}", Slot::kPet, Kind::kState, true},
      {"{N} adopted {AV} on {D}", Slot::kPet, Kind::kAcquire},
      {"{N} adopted {AV}", Slot::kPet, Kind::kAcquire},
      {"{N} gave away the {V} on {D}", Slot::kPet, Kind::kRelease},
      {"{N} gave away the {V}", Slot::kPet, Kind::kRelease},
      {"I adopted {AV}", Slot::kPet, Kind::kAcquire, false, true},
      {"I gave my {V} away", Slot::kPet, Kind::kRelease, false, true},
      {"My {V} is doing well", Slot::kPet, Kind::kState, true, true},
      // Hobby.
      {"{N}'s favorite hobby is {V}", Slot::kHobby, Kind::kState},
      {"{N} still loves {V}", Slot::kHobby, Kind::kState, true},
      {"{N}'s favorite hobby changed from {O} to {V} on {D}", Slot::kHobby, Kind::kChange},
      {"{N}'s favorite hobby changed from {O} to {V}", Slot::kHobby, Kind::kChange},
      {"{N}'s favorite hobby changed to {V} on {D}", Slot::kHobby, Kind::kChange},
      {"{N}'s favorite hobby changed to {V}", Slot::kHobby, Kind::kChange},
      {"My favorite hobby is {V}", Slot::kHobby, Kind::kState, false, true},
      {"These days my favorite hobby is {V}", Slot::kHobby, Kind::kChange, false, true},
      {"I still love {V}", Slot::kHobby, Kind::kState, true, true},
  };
  return *patterns;
}

std::optional<Statement> ParseSentence(std::string_view sentence, std::string_view speaker) {
  Captures captures;
  for (const Pattern& pattern : SentencePatterns()) {
    if (pattern.first_person && speaker.empty()) continue;
    if (!Match(pattern.text, sentence, &captures)) continue;
    Statement statement;
    statement.person = pattern.first_person ? std::string(speaker) : captures["N"];
    statement.slot = pattern.slot;
    statement.kind = pattern.kind;
    statement.still = pattern.still;
    statement.value = pattern.none ? "" : captures["V"];
    statement.old_value = captures["O"];
    statement.date = captures["D"];
    return statement;
  }
  return std::nullopt;
}

// Sentences of `text`: split after '.', '!' or '?' followed by whitespace or the end; the
// final punctuation is dropped.
std::vector<std::string_view> Sentences(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    const bool end = i == text.size();
    const bool boundary =
        !end && (text[i] == '.' || text[i] == '!' || text[i] == '?') &&
        (i + 1 == text.size() || std::isspace(static_cast<unsigned char>(text[i + 1])));
    if (!end && !boundary) continue;
    const absl::string_view sentence =
        absl::StripAsciiWhitespace(AsAbsl(text.substr(start, i - start)));
    if (!sentence.empty()) out.emplace_back(sentence.data(), sentence.size());
    start = i + 1;
  }
  return out;
}

std::string StateSentence(const std::string& person, Slot slot, const std::string& value) {
  switch (slot) {
    case Slot::kCity:
      return absl::StrCat(person, " lives in ", value, ".");
    case Slot::kJob:
      return absl::StrCat(person, " works as ", WithArticle(value), ".");
    case Slot::kVehicle:
      return value.empty() ? absl::StrCat(person, " owns no vehicle.")
                           : absl::StrCat(person, " owns ", WithArticle(value), ".");
    case Slot::kPet:
      return value.empty() ? absl::StrCat(person, " has no pet.")
                           : absl::StrCat(person, " has ", WithArticle(value), ".");
    case Slot::kHobby:
      return absl::StrCat(person, "'s favorite hobby is ", value, ".");
  }
  return "";
}

std::string StillSentence(const std::string& person, Slot slot, const std::string& value) {
  switch (slot) {
    case Slot::kCity:
      return absl::StrCat(person, " still lives in ", value, ".");
    case Slot::kJob:
      return absl::StrCat(person, " still works as ", WithArticle(value), ".");
    case Slot::kVehicle:
      return absl::StrCat(person, " still owns the ", value, ".");
    case Slot::kPet:
      return absl::StrCat(person, " still has the ", value, ".");
    case Slot::kHobby:
      return absl::StrCat(person, " still loves ", value, ".");
  }
  return "";
}

// One event as a sentence; `with_old` adds the replaced value of a change when known.
std::string EventSentence(const Statement& event, bool with_old) {
  const std::string on = event.date.empty() ? "" : absl::StrCat(" on ", event.date);
  const bool old = with_old && !event.old_value.empty();
  const std::string& p = event.person;
  switch (event.slot) {
    case Slot::kCity:
      return old ? absl::StrCat(p, " moved from ", event.old_value, " to ", event.value, on, ".")
                 : absl::StrCat(p, " moved to ", event.value, on, ".");
    case Slot::kJob:
      return old ? absl::StrCat(p, " started working as ", WithArticle(event.value), on,
                                ", after working as ", WithArticle(event.old_value), ".")
                 : absl::StrCat(p, " started working as ", WithArticle(event.value), on, ".");
    case Slot::kHobby:
      return old ? absl::StrCat(p, "'s favorite hobby changed from ", event.old_value, " to ",
                                event.value, on, ".")
                 : absl::StrCat(p, "'s favorite hobby changed to ", event.value, on, ".");
    case Slot::kVehicle:
      return event.kind == Kind::kAcquire
                 ? absl::StrCat(p, " bought ", WithArticle(event.value), on, ".")
                 : absl::StrCat(p, " sold the ", event.value, on, ".");
    case Slot::kPet:
      return event.kind == Kind::kAcquire
                 ? absl::StrCat(p, " adopted ", WithArticle(event.value), on, ".")
                 : absl::StrCat(p, " gave away the ", event.value, on, ".");
  }
  return "";
}

struct QuestionPattern {
  const char* text;
  Question::Kind kind;
  Slot slot = Slot::kCity;
  Kind event = Kind::kChange;
};

const std::vector<QuestionPattern>& QuestionPatterns() {
  using Q = Question::Kind;
  static const auto* patterns = new std::vector<QuestionPattern>{
      {"Where does {N} live?", Q::kCurrent, Slot::kCity},
      {"What is {N}'s job?", Q::kCurrent, Slot::kJob},
      {"What vehicle does {N} own?", Q::kCurrent, Slot::kVehicle},
      {"What pet does {N} have?", Q::kCurrent, Slot::kPet},
      {"What is {N}'s favorite hobby?", Q::kCurrent, Slot::kHobby},
      {"When did {N} move to {V}?", Q::kWhen, Slot::kCity, Kind::kChange},
      {"When did {N} start working as {AV}?", Q::kWhen, Slot::kJob, Kind::kChange},
      {"When did {N} buy {AV}?", Q::kWhen, Slot::kVehicle, Kind::kAcquire},
      {"When did {N} sell the {V}?", Q::kWhen, Slot::kVehicle, Kind::kRelease},
      {"When did {N} adopt {AV}?", Q::kWhen, Slot::kPet, Kind::kAcquire},
      {"When did {N} give away the {V}?", Q::kWhen, Slot::kPet, Kind::kRelease},
      {"Where did {N} live before moving to {V}?", Q::kBefore, Slot::kCity, Kind::kChange},
      {"What was {N}'s job before becoming {AV}?", Q::kBefore, Slot::kJob, Kind::kChange},
      {"Where do {N} and {M} live?", Q::kBothCities},
      {"What is {N}'s job and in which city does {M} live?", Q::kJobAndCity},
      {"Which country does {N} live in?", Q::kCountry},
      {"What language do people speak where {N} lives?", Q::kLanguage},
  };
  return *patterns;
}

}  // namespace

const char* SlotName(Slot slot) {
  switch (slot) {
    case Slot::kCity:
      return "city";
    case Slot::kJob:
      return "job";
    case Slot::kVehicle:
      return "vehicle";
    case Slot::kPet:
      return "pet";
    case Slot::kHobby:
      return "hobby";
  }
  return "unknown";
}

bool Statement::operator==(const Statement& other) const {
  return person == other.person && slot == other.slot && kind == other.kind &&
         value == other.value && old_value == other.old_value && date == other.date &&
         still == other.still;
}

std::vector<Statement> ParseStatements(std::string_view text, std::string_view speaker) {
  // "Maya: I moved to Lisbon." (identity facts, transcript lines).
  const size_t colon = text.find(": ");
  if (colon != std::string_view::npos && IsName(text.substr(0, colon))) {
    speaker = text.substr(0, colon);
    text = text.substr(colon + 2);
  }
  std::vector<Statement> out;
  for (std::string_view sentence : Sentences(text)) {
    if (std::optional<Statement> statement = ParseSentence(sentence, speaker)) {
      out.push_back(*std::move(statement));
    }
  }
  return out;
}

std::string RenderFact(const Statement& statement) {
  if (statement.kind == Kind::kState) {
    return statement.still && !statement.value.empty()
               ? StillSentence(statement.person, statement.slot, statement.value)
               : StateSentence(statement.person, statement.slot, statement.value);
  }
  return EventSentence(statement, /*with_old=*/false);
}

void SlotHistory::Apply(Statement statement) {
  if (statement.kind == Kind::kState) {
    state_known = true;
    state = statement.value;
    return;
  }
  if (statement.kind == Kind::kChange && statement.old_value.empty() && state_known &&
      state != statement.value) {
    statement.old_value = state;
  }
  statement.still = false;
  const auto same = [&statement](const Statement& event) {
    // The same event, whether or not one of them knew the old value.
    return event.kind == statement.kind && event.value == statement.value &&
           event.date == statement.date &&
           (event.old_value == statement.old_value || event.old_value.empty() ||
            statement.old_value.empty());
  };
  auto it = std::find_if(events.begin(), events.end(), same);
  if (it == events.end()) {
    events.push_back(statement);
  } else if (it->old_value.empty()) {
    it->old_value = statement.old_value;
  }
  state_known = true;
  state = statement.kind == Kind::kRelease ? "" : statement.value;
}

std::string RenderMemory(const SlotHistory& history) {
  std::vector<std::string> sentences;
  if (history.state_known) sentences.push_back(StateSentence(history.person, history.slot,
                                                             history.state));
  for (const Statement& event : history.events) {
    sentences.push_back(EventSentence(event, /*with_old=*/true));
  }
  return absl::StrJoin(sentences, " ");
}

std::optional<Question> ParseQuestion(std::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(AsAbsl(text));
  const std::string_view question(trimmed.data(), trimmed.size());
  Captures captures;
  for (const QuestionPattern& pattern : QuestionPatterns()) {
    if (!Match(pattern.text, question, &captures)) continue;
    Question parsed;
    parsed.kind = pattern.kind;
    parsed.person = captures["N"];
    parsed.other_person = captures["M"];
    parsed.slot = pattern.slot;
    parsed.event = pattern.event;
    parsed.value = captures["V"];
    if (parsed.kind == Question::Kind::kJobAndCity && parsed.other_person != parsed.person) {
      continue;  // the world asks this about one person
    }
    return parsed;
  }
  return std::nullopt;
}

std::string DayOf(std::string_view session_time) {
  std::string_view day = session_time;
  const size_t on = day.rfind(" on ");
  if (on != std::string_view::npos) day = day.substr(on + 4);
  std::string out;
  for (char c : day) {
    if (c != ',') out.push_back(c);
  }
  return std::string(absl::StripAsciiWhitespace(out));
}

std::optional<long> DayNumber(std::string_view day) {
  const std::vector<absl::string_view> parts = absl::StrSplit(AsAbsl(day), ' ');
  if (parts.size() != 3) return std::nullopt;
  int d = 0;
  int y = 0;
  if (!absl::SimpleAtoi(parts[0], &d) || !absl::SimpleAtoi(parts[2], &y)) return std::nullopt;
  if (parts[0].size() > 2 || parts[2].size() != 4) return std::nullopt;
  int m = 0;
  for (int i = 0; i < 12; ++i) {
    if (parts[1] == kMonths[i]) m = i + 1;
  }
  if (m == 0 || d < 1 || d > 31) return std::nullopt;
  const absl::CivilDay civil(y, m, d);
  if (civil.day() != d) return std::nullopt;  // 31 June normalises to 1 July
  return static_cast<long>(civil - absl::CivilDay(1970, 1, 1));
}

std::string WithArticle(std::string_view word) {
  const char first = word.empty() ? 'x' : static_cast<char>(std::tolower(word[0]));
  const bool vowel = first == 'a' || first == 'e' || first == 'i' || first == 'o' || first == 'u';
  return absl::StrCat(vowel ? "an " : "a ", AsAbsl(word));
}

}  // namespace memr1::actor::teacher
