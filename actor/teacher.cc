#include "actor/teacher.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "actor/chat_encoding.h"
#include "actor/output_format.h"
#include "actor/synthetic_world.h"
#include "actor/teacher_grammar.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "llm/tokenizer.h"

namespace memr1::actor {
namespace {

using teacher::Question;
using teacher::Slot;
using teacher::SlotHistory;
using teacher::Statement;
using Values = std::map<std::string, std::string>;

absl::string_view AsAbsl(std::string_view text) { return {text.data(), text.size()}; }

std::string Quoted(std::string_view text) { return absl::StrCat("\"", Excerpt(text), "\""); }

// ---------------------------------------------------------------------------------------------
// Reading a rendered prompt back against its template.

struct TemplatePart {
  bool placeholder = false;
  std::string text;  // the literal, or the placeholder's name
};

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The same {{name}} syntax as actor/prompts.h.
std::vector<TemplatePart> SplitTemplate(std::string_view text) {
  std::vector<TemplatePart> parts;
  std::string literal;
  size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i, 2) == "{{") {
      size_t j = i + 2;
      while (j < text.size() && IsNameChar(text[j])) ++j;
      if (j > i + 2 && text.substr(j, 2) == "}}") {
        if (!literal.empty()) parts.push_back({false, std::move(literal)});
        literal.clear();
        parts.push_back({true, std::string(text.substr(i + 2, j - i - 2))});
        i = j + 2;
        continue;
      }
    }
    literal.push_back(text[i++]);
  }
  if (!literal.empty()) parts.push_back({false, std::move(literal)});
  return parts;
}

// One past the JSON array or object starting at `start` (brackets inside strings do not
// count); npos when there is none.
size_t JsonEnd(std::string_view text, size_t start) {
  if (start >= text.size() || (text[start] != '[' && text[start] != '{')) {
    return std::string_view::npos;
  }
  int depth = 0;
  bool in_string = false;
  for (size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return i + 1;
    }
  }
  return std::string_view::npos;
}

// The placeholder values of `text` rendered from `parts`, or NotFound describing the first text
// that was not where the template puts it. A placeholder spans to the first occurrence of the
// literal after it (the last placeholder: to where the final literal begins); one in `json`
// spans one JSON array or object. A placeholder used twice must have one value.
absl::StatusOr<Values> MatchTemplate(const std::vector<TemplatePart>& parts,
                                     std::string_view text, const std::set<std::string>& json) {
  Values values;
  size_t pos = 0;
  for (size_t k = 0; k < parts.size(); ++k) {
    const TemplatePart& part = parts[k];
    if (!part.placeholder) {
      const bool last = k + 1 == parts.size();
      if (text.substr(pos, part.text.size()) != part.text || (last && pos + part.text.size() !=
                                                                          text.size())) {
        return absl::NotFoundError(
            absl::StrCat("expected ", Quoted(part.text), last ? " at the end" : "", " at byte ",
                         pos));
      }
      pos += part.text.size();
      continue;
    }
    size_t end = std::string_view::npos;
    if (json.count(part.text) > 0) {
      end = JsonEnd(text, pos);
      if (end == std::string_view::npos) {
        return absl::NotFoundError(absl::StrCat("expected a JSON value for {{", part.text,
                                                "}} at byte ", pos));
      }
    } else if (k + 1 == parts.size()) {
      end = text.size();
    } else if (parts[k + 1].placeholder) {
      return absl::NotFoundError(absl::StrCat("{{", part.text, "}} and {{", parts[k + 1].text,
                                              "}} are adjacent in the template; their values "
                                              "cannot be told apart"));
    } else {
      const std::string& next = parts[k + 1].text;
      if (k + 2 == parts.size()) {
        // The final literal: the value runs to where the text's ending begins.
        end = text.size() >= next.size() && text.size() - next.size() >= pos &&
                      text.substr(text.size() - next.size()) == next
                  ? text.size() - next.size()
                  : std::string_view::npos;
      } else {
        end = text.find(next, pos);
      }
      if (end == std::string_view::npos) {
        return absl::NotFoundError(absl::StrCat("expected ", Quoted(next), " after {{", part.text,
                                                "}} (from byte ", pos, ")"));
      }
    }
    std::string value(text.substr(pos, end - pos));
    auto [it, inserted] = values.emplace(part.text, value);
    if (!inserted && it->second != value) {
      return absl::NotFoundError(absl::StrCat("{{", part.text, "}} has two different values (",
                                              Quoted(it->second), " and ", Quoted(value), ")"));
    }
    pos = end;
  }
  return values;
}

// ---------------------------------------------------------------------------------------------
// Shared helpers.

std::string Dump(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// Fills in the day of events the sentence left undated (when `day` is a date the grammar
// reads back: "8 May 2023").
void DateEvents(std::vector<Statement>* statements, const std::string& day) {
  if (!teacher::DayNumber(day).has_value()) return;
  for (Statement& statement : *statements) {
    if (statement.kind != Statement::Kind::kState && statement.date.empty()) {
      statement.date = day;
    }
  }
}

struct Key {
  std::string person;
  Slot slot;
  bool operator<(const Key& other) const {
    return std::tie(person, slot) < std::tie(other.person, other.slot);
  }
  bool operator==(const Key& other) const {
    return person == other.person && slot == other.slot;
  }
};

// The (person, slot) of a text whose world sentences are all about one; nullopt otherwise.
std::optional<Key> PureKey(const std::vector<Statement>& statements) {
  if (statements.empty()) return std::nullopt;
  const Key key{statements.front().person, statements.front().slot};
  for (const Statement& statement : statements) {
    if (!(Key{statement.person, statement.slot} == key)) return std::nullopt;
  }
  return key;
}

long DayOrMin(const std::string& day) {
  const std::optional<long> number = teacher::DayNumber(day);
  return number ? *number : LONG_MIN;
}

std::string Lower(std::string_view text) { return absl::AsciiStrToLower(AsAbsl(text)); }

// ---------------------------------------------------------------------------------------------
// The Answer Agent's memories, as the prompt shows them.

struct ShownLine {
  std::string line;  // as written in the prompt
  std::string text;  // without the "[time] " stamp
  std::string day;   // the stamp's day, "" when there is none
  std::vector<Statement> statements;
};

// Reads {{memories}}: "Memories of <speaker>:" sections of "[time] text" lines ("(none)" for an
// empty one, a blank line between sections), or, when it does not start with a section header,
// transcript lines ("[time] Speaker: text", the full-context baseline).
std::vector<ShownLine> ReadShownMemories(std::string_view block) {
  std::vector<ShownLine> shown;
  constexpr std::string_view kHeader = "Memories of ";
  const bool sections = block.substr(0, kHeader.size()) == kHeader;
  std::string speaker;
  bool expect_header = sections;
  for (absl::string_view raw : absl::StrSplit(AsAbsl(block), '\n')) {
    const std::string_view line(raw.data(), raw.size());
    if (line.empty()) {
      expect_header = sections;
      continue;
    }
    if (expect_header && line.substr(0, kHeader.size()) == kHeader && line.back() == ':') {
      speaker = std::string(line.substr(kHeader.size(), line.size() - kHeader.size() - 1));
      expect_header = false;
      continue;
    }
    expect_header = false;
    if (sections && line == "(none)") continue;
    ShownLine memory;
    memory.line = std::string(line);
    std::string_view text = line;
    if (!text.empty() && text.front() == '[') {
      const size_t close = text.find(']');
      if (close != std::string_view::npos) {
        memory.day = teacher::DayOf(text.substr(1, close - 1));
        text = text.substr(close + 1);
      }
    }
    const absl::string_view trimmed = absl::StripAsciiWhitespace(AsAbsl(text));
    memory.text = std::string(trimmed);
    memory.statements = teacher::ParseStatements(memory.text, speaker);
    DateEvents(&memory.statements, memory.day);
    shown.push_back(std::move(memory));
  }
  return shown;
}

// What the shown memories say about one (person, slot), oldest first.
struct Said {
  const Statement* statement;
  size_t line;
  long day;
};

std::vector<Said> Timeline(const std::vector<ShownLine>& shown, const Key& key) {
  std::vector<Said> said;
  for (size_t i = 0; i < shown.size(); ++i) {
    for (const Statement& statement : shown[i].statements) {
      if (!(Key{statement.person, statement.slot} == key)) continue;
      const long day = statement.date.empty() ? DayOrMin(shown[i].day) : DayOrMin(statement.date);
      said.push_back({&statement, i, day});
    }
  }
  std::stable_sort(said.begin(), said.end(),
                   [](const Said& a, const Said& b) { return a.day < b.day; });
  return said;
}

// The state after folding `said[0, end)`; nullopt when nothing set it. Possessions given up
// read "none".
std::optional<std::string> StateAfter(const std::vector<Said>& said, size_t end, Slot slot) {
  SlotHistory history;
  history.slot = slot;
  for (size_t i = 0; i < end && i < said.size(); ++i) history.Apply(*said[i].statement);
  if (!history.state_known) return std::nullopt;
  if (history.state.empty()) {
    if (slot == Slot::kVehicle || slot == Slot::kPet) return std::string("none");
    return std::nullopt;
  }
  return history.state;
}

// Reads the answer of a world question off the shown memories; `used` gets the lines read.
std::optional<std::string> ReadAnswer(const Question& question,
                                      const std::vector<ShownLine>& shown,
                                      std::set<size_t>* used) {
  const auto timeline = [&](const Key& key) {
    std::vector<Said> said = Timeline(shown, key);
    for (const Said& s : said) used->insert(s.line);
    return said;
  };
  const auto current = [&](const Key& key) {
    const std::vector<Said> said = timeline(key);
    return StateAfter(said, said.size(), key.slot);
  };
  const auto city_info = [](const std::string& city, bool language) -> std::optional<std::string> {
    for (const WorldCity& known : SyntheticWorldCities()) {
      if (city == known.name) return std::string(language ? known.language : known.country);
    }
    return std::nullopt;
  };
  switch (question.kind) {
    case Question::Kind::kCurrent:
      return current({question.person, question.slot});
    case Question::Kind::kWhen:
    case Question::Kind::kBefore: {
      const std::vector<Said> said = timeline({question.person, question.slot});
      for (size_t i = 0; i < said.size(); ++i) {
        const Statement& s = *said[i].statement;
        if (s.kind != question.event || s.value != question.value) continue;
        if (question.kind == Question::Kind::kWhen) {
          if (!s.date.empty()) return s.date;
          if (!shown[said[i].line].day.empty()) return shown[said[i].line].day;
          return std::nullopt;
        }
        if (!s.old_value.empty()) return s.old_value;
        std::optional<std::string> before = StateAfter(said, i, question.slot);
        if (before && *before != s.value) return before;
        return std::nullopt;
      }
      return std::nullopt;
    }
    case Question::Kind::kBothCities: {
      const std::optional<std::string> a = current({question.person, Slot::kCity});
      const std::optional<std::string> b = current({question.other_person, Slot::kCity});
      if (!a || !b) return std::nullopt;
      return absl::StrCat(*a, ", ", *b);
    }
    case Question::Kind::kJobAndCity: {
      const std::optional<std::string> job = current({question.person, Slot::kJob});
      const std::optional<std::string> city = current({question.person, Slot::kCity});
      if (!job || !city) return std::nullopt;
      return absl::StrCat(*job, ", ", *city);
    }
    case Question::Kind::kCountry:
    case Question::Kind::kLanguage: {
      const std::optional<std::string> city = current({question.person, Slot::kCity});
      if (!city) return std::nullopt;
      return city_info(*city, question.kind == Question::Kind::kLanguage);
    }
  }
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Teacher.

Teacher::Teacher(PromptTemplates templates, const Dataset& dataset)
    : templates_(std::move(templates)) {
  for (const Conversation& conversation : dataset.conversations) {
    std::vector<std::string> days;
    for (const Session& session : conversation.sessions) {
      days.push_back(teacher::DayOf(session.date_time));
    }
    for (const QaItem& qa : conversation.qa) {
      const absl::string_view question = absl::StripAsciiWhitespace(qa.question);
      gold_.emplace(std::string(question), GoldEntry{conversation.speaker_a,
                                                     conversation.speaker_b, qa.answer,
                                                     conversation.id, days});
    }
  }
}

absl::StatusOr<std::string> Teacher::Respond(absl::Span<const llm::ChatMessage> messages) const {
  const llm::ChatMessage* user = nullptr;
  for (const llm::ChatMessage& message : messages) {
    if (message.role == "user") user = &message;
  }
  if (user == nullptr) {
    return absl::InvalidArgumentError("the teacher needs a user message; the request has none");
  }
  struct Candidate {
    const char* name;
    const std::string* template_text;
    std::set<std::string> json;
    absl::StatusOr<std::string> (Teacher::*respond)(const Values&) const;
  };
  const Candidate candidates[] = {
      {"extraction", &templates_.extraction, {}, &Teacher::Extract},
      {"manager", &templates_.manager, {"facts", "memories"}, &Teacher::Manage},
      {"answer", &templates_.answer, {}, &Teacher::Answer},
  };
  std::vector<std::string> misses;
  const Candidate* matched = nullptr;
  Values values;
  for (const Candidate& candidate : candidates) {
    absl::StatusOr<Values> found =
        MatchTemplate(SplitTemplate(*candidate.template_text), user->content, candidate.json);
    if (!found.ok()) {
      misses.push_back(absl::StrCat("not the ", candidate.name, " prompt (",
                                    found.status().message(), ")"));
      continue;
    }
    if (matched != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the teacher cannot tell which agent the prompt is for: it matches both the ",
          matched->name, " and the ", candidate.name, " templates"));
    }
    matched = &candidate;
    values = *std::move(found);
  }
  if (matched == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("the teacher cannot read the prompt ", Quoted(user->content), ": ",
                     absl::StrJoin(misses, "; ")));
  }
  absl::StatusOr<std::string> out = (this->*(matched->respond))(values);
  if (!out.ok()) return Annotate(out.status(), absl::StrCat("teacher, ", matched->name, " prompt"));
  return out;
}

absl::StatusOr<std::string> Teacher::Extract(const Values& values) const {
  auto speaker = values.find("speaker");
  if (speaker == values.end()) {
    return absl::InvalidArgumentError(
        "the extraction template has no {{speaker}}: the teacher needs to know who speaks");
  }
  auto date = values.find("date");
  const std::string day = date == values.end() ? "" : teacher::DayOf(date->second);
  std::vector<Statement> statements =
      teacher::ParseStatements(values.at("turn"), speaker->second);
  DateEvents(&statements, day);
  nlohmann::ordered_json facts = nlohmann::ordered_json::array();
  for (const Statement& statement : statements) facts.push_back(teacher::RenderFact(statement));
  return Dump({{"facts", facts}});
}

absl::StatusOr<std::string> Teacher::Manage(const Values& values) const {
  const nlohmann::json facts_json =
      nlohmann::json::parse(values.at("facts"), nullptr, /*allow_exceptions=*/false);
  if (!facts_json.is_array() ||
      !std::all_of(facts_json.begin(), facts_json.end(),
                   [](const nlohmann::json& fact) { return fact.is_string(); })) {
    return absl::InvalidArgumentError(
        absl::StrCat("{{facts}} is not a JSON list of strings: ", Quoted(values.at("facts"))));
  }
  const nlohmann::json memories_json =
      nlohmann::json::parse(values.at("memories"), nullptr, /*allow_exceptions=*/false);
  struct Shown {
    std::string id;
    std::string text;
    std::optional<Key> key;
    std::vector<Statement> statements;
  };
  std::vector<Shown> shown;
  if (!memories_json.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("{{memories}} is not a JSON list: ", Quoted(values.at("memories"))));
  }
  for (const nlohmann::json& memory : memories_json) {
    if (!memory.is_object() || !memory.contains("id") || !memory["id"].is_string() ||
        !memory.contains("text") || !memory["text"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "{{memories}} element is not {\"id\": string, \"text\": string}: ",
          Quoted(memory.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))));
    }
    Shown entry;
    entry.id = memory["id"].get<std::string>();
    entry.text = memory["text"].get<std::string>();
    // Memory texts name their person (the teacher's are third person; identity facts carry
    // "Name: "), so no default speaker.
    entry.statements = teacher::ParseStatements(entry.text, "");
    entry.key = PureKey(entry.statements);
    shown.push_back(std::move(entry));
  }
  auto speaker_it = values.find("speaker");
  const std::string speaker = speaker_it == values.end() ? "" : speaker_it->second;
  auto date_it = values.find("date");
  const std::string day = date_it == values.end() ? "" : teacher::DayOf(date_it->second);

  struct Work {
    Key key;
    int target = -1;  // the shown memory kept and updated; -1: a new memory (ADD)
    std::vector<int> duplicates;
    SlotHistory history;
  };
  std::vector<Work> work;  // in the order the facts first touch them
  for (const nlohmann::json& fact : facts_json) {
    std::vector<Statement> statements =
        teacher::ParseStatements(fact.get<std::string>(), speaker);
    DateEvents(&statements, day);
    for (Statement& statement : statements) {
      const Key key{statement.person, statement.slot};
      auto it = std::find_if(work.begin(), work.end(),
                             [&key](const Work& w) { return w.key == key; });
      if (it == work.end()) {
        Work fresh;
        fresh.key = key;
        fresh.history.person = key.person;
        fresh.history.slot = key.slot;
        std::vector<int> same;
        for (size_t i = 0; i < shown.size(); ++i) {
          if (shown[i].key && *shown[i].key == key) same.push_back(static_cast<int>(i));
        }
        for (int i : same) {
          for (const Statement& said : shown[i].statements) fresh.history.Apply(said);
        }
        if (same.size() > 1) {
          // Duplicates merged: their events in date order, the state of the newest event.
          std::stable_sort(fresh.history.events.begin(), fresh.history.events.end(),
                           [](const Statement& a, const Statement& b) {
                             return DayOrMin(a.date) < DayOrMin(b.date);
                           });
          if (!fresh.history.events.empty()) {
            const Statement& last = fresh.history.events.back();
            fresh.history.state = last.kind == Statement::Kind::kRelease ? "" : last.value;
          }
        }
        if (!same.empty()) {
          fresh.target = same.front();
          fresh.duplicates.assign(same.begin() + 1, same.end());
        }
        work.push_back(std::move(fresh));
        it = work.end() - 1;
      }
      it->history.Apply(std::move(statement));
    }
  }

  nlohmann::ordered_json ops = nlohmann::ordered_json::array();
  size_t next_id = shown.size();
  for (const Work& w : work) {
    const std::string text = teacher::RenderMemory(w.history);
    if (w.target < 0) {
      ops.push_back({{"id", std::to_string(next_id++)}, {"text", text}, {"event", "ADD"}});
    } else if (text == shown[w.target].text) {
      ops.push_back({{"id", shown[w.target].id}, {"text", text}, {"event", "NONE"}});
    } else {
      ops.push_back({{"id", shown[w.target].id},
                     {"text", text},
                     {"event", "UPDATE"},
                     {"old_memory", shown[w.target].text}});
    }
    for (int duplicate : w.duplicates) {
      ops.push_back(
          {{"id", shown[duplicate].id}, {"text", shown[duplicate].text}, {"event", "DELETE"}});
    }
  }
  return Dump({{"memory", ops}});
}

absl::StatusOr<std::string> Teacher::Answer(const Values& values) const {
  const std::string question(absl::StripAsciiWhitespace(values.at("question")));
  const std::vector<ShownLine> shown = ReadShownMemories(values.at("memories"));
  std::set<size_t> used;
  std::string answer;
  if (std::optional<Question> parsed = teacher::ParseQuestion(question)) {
    answer = ReadAnswer(*parsed, shown, &used).value_or("unknown");
  } else {
    // Outside the world's grammar: the gold answer of the conversation the prompt is about.
    auto a = values.find("speaker_a");
    auto b = values.find("speaker_b");
    std::vector<const GoldEntry*> entries;
    const auto [begin, end] = gold_.equal_range(question);
    for (auto it = begin; it != end; ++it) {
      if (a != values.end() && it->second.speaker_a != a->second) continue;
      if (b != values.end() && it->second.speaker_b != b->second) continue;
      entries.push_back(&it->second);
    }
    if (entries.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "question ", Quoted(question), " is neither one of the synthetic world's questions "
          "nor in the teacher's dataset",
          a != values.end() && b != values.end()
              ? absl::StrCat(" (for speakers ", a->second, " and ", b->second, ")")
              : ""));
    }
    const auto answers = [](const std::vector<const GoldEntry*>& list) {
      std::set<std::string> distinct;
      for (const GoldEntry* entry : list) distinct.insert(entry->answer);
      return distinct;
    };
    if (answers(entries).size() > 1) {
      // The session days of the shown memories tell the conversations apart.
      std::vector<const GoldEntry*> narrowed;
      for (const GoldEntry* entry : entries) {
        const bool all_days = std::all_of(shown.begin(), shown.end(), [entry](const ShownLine& l) {
          return l.day.empty() ||
                 std::find(entry->days.begin(), entry->days.end(), l.day) != entry->days.end();
        });
        if (all_days) narrowed.push_back(entry);
      }
      if (answers(narrowed).size() != 1) {
        std::vector<std::string> where;
        for (const GoldEntry* entry : entries) {
          where.push_back(absl::StrCat(entry->conversation_id, ": ", Quoted(entry->answer)));
        }
        return absl::InvalidArgumentError(absl::StrCat(
            "question ", Quoted(question), " has different gold answers (",
            absl::StrJoin(where, ", "),
            ") and the shown memories' session days do not single one out"));
      }
      entries = narrowed;
    }
    answer = entries.front()->answer;
    const std::string needle = Lower(answer);
    for (size_t i = 0; i < shown.size(); ++i) {
      if (!needle.empty() && absl::StrContains(Lower(shown[i].text), needle)) used.insert(i);
    }
  }
  std::string out;
  for (size_t i : used) absl::StrAppend(&out, shown[i].line, "\n");
  absl::StrAppend(&out, templates_.answer_marker, " ", answer);
  return out;
}

// ---------------------------------------------------------------------------------------------
// TeacherPolicy.

struct TeacherPolicy::Owned {
  std::unique_ptr<llm::Tokenizer> tokenizer;
  std::unique_ptr<ChatEncoder> encoder;
};

TeacherPolicy::~TeacherPolicy() = default;

absl::StatusOr<std::vector<Completion>> TeacherPolicy::Complete(
    absl::Span<const PolicyRequest> requests) {
  std::vector<Completion> completions;
  completions.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const PolicyRequest& request = requests[i];
    const std::string where = absl::StrCat("teacher policy, request ", i);
    absl::Status valid = request.sampling.Validate();
    if (!valid.ok()) return Annotate(valid, where);
    absl::StatusOr<std::string> text = teacher_->Respond(request.messages);
    if (!text.ok()) return Annotate(text.status(), where);
    Completion completion;
    completion.text = *std::move(text);
    if (encoder_ != nullptr) {
      absl::StatusOr<std::vector<int32_t>> prompt = encoder_->EncodePrompt(request.messages);
      if (!prompt.ok()) return Annotate(prompt.status(), where);
      completion.prompt_ids = *std::move(prompt);
      absl::StatusOr<std::vector<int32_t>> response =
          encoder_->tokenizer().Encode(completion.text, /*add_special_tokens=*/false);
      if (!response.ok()) return Annotate(response.status(), where);
      completion.response_ids = *std::move(response);
      if (!encoder_->stop_ids().empty()) {
        completion.response_ids.push_back(encoder_->stop_ids().front());
      }
      completion.logprobs.assign(completion.response_ids.size(), 0.0f);
    }
    completions.push_back(std::move(completion));
  }
  return completions;
}

absl::StatusOr<int64_t> TeacherPolicy::CountPromptTokens(
    absl::Span<const llm::ChatMessage> messages) const {
  if (encoder_ == nullptr) {
    return absl::UnimplementedError(
        "the teacher has no tokenizer (set tokenizer.path or model.path) and cannot count tokens");
  }
  MEMR1_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, encoder_->EncodePrompt(messages));
  return static_cast<int64_t>(ids.size());
}

std::string TeacherPolicy::Describe() const {
  // No tokenizer here: the completions' texts (and so the banks built from them) do not
  // depend on it.
  return absl::StrCat("teacher:r", Teacher::kRevision, " (v0)");
}

absl::StatusOr<std::unique_ptr<TextPolicy>> MakeTeacherPolicy(const v1::PolicyConfig& policy,
                                                              const v1::JobConfig& job) {
  absl::StatusOr<Dataset> dataset = LoadDataset(job.data());
  if (!dataset.ok()) {
    return Annotate(dataset.status(), "the TEACHER policy's dataset (data.dataset, data.path)");
  }
  if (dataset->kind != DatasetKind::kSynthetic) {
    MEMR1_LOG(WARNING) << "the TEACHER policy knows the synthetic world's grammar; on "
                       << DatasetKindName(dataset->kind)
                       << " it extracts nothing and answers with gold answers only";
  }
  MEMR1_ASSIGN_OR_RETURN(PromptTemplates templates, PromptTemplates::FromConfig(job.actor()));
  std::unique_ptr<TeacherPolicy> out(new TeacherPolicy());
  out->teacher_ = std::make_unique<Teacher>(std::move(templates), *dataset);
  out->owned_ = std::make_unique<TeacherPolicy::Owned>();
  std::string path = job.tokenizer().path();
  if (path.empty()) path = policy.model_path();
  if (path.empty()) path = job.model().path();
  if (!path.empty()) {
    absl::StatusOr<std::unique_ptr<llm::Tokenizer>> tokenizer = llm::Tokenizer::Load(path);
    if (!tokenizer.ok()) {
      return Annotate(tokenizer.status(), absl::StrCat("the TEACHER policy's tokenizer ", path));
    }
    out->owned_->tokenizer = *std::move(tokenizer);
    absl::StatusOr<ChatEncoder> encoder =
        ChatEncoder::Create(out->owned_->tokenizer.get(), job.tokenizer().chat_family(),
                            job.tokenizer().enable_thinking());
    if (!encoder.ok()) {
      return Annotate(encoder.status(),
                      absl::StrCat("the TEACHER policy's chat template of ", path));
    }
    out->owned_->encoder = std::make_unique<ChatEncoder>(*std::move(encoder));
    out->encoder_ = out->owned_->encoder.get();
    out->max_prompt_tokens_ = job.actor().sampling().max_prompt_tokens();
  }
  return std::unique_ptr<TextPolicy>(std::move(out));
}

}  // namespace memr1::actor
