#include "actor/prompts.h"

#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace memr1::actor {
namespace {

// The defaults follow the structure of Memory-R1's appendix prompts (which follow Mem0's):
// extraction into {"facts": [...]}, an update step with ADD / UPDATE / DELETE / NONE over
// numbered memories, and an answer step that lists the useful memories before the answer.
// They are kept short because the quickstart trains a tiny model on them.

constexpr char kExtractionPrompt[] =
    R"(You pick out the facts worth remembering from one turn of a conversation.

Write each fact as a short sentence that stands on its own: name the person it is about
(never "I" or "you") and keep names, places, dates and numbers. Turn relative times
("yesterday", "next month") into dates using the session date. Skip greetings, small talk
and questions.

Session date: {{date}}
{{speaker}}: {{turn}}

Reply with JSON only: {"facts": ["...", "..."]}. If nothing is worth remembering, reply
{"facts": []}.)";

constexpr char kManagerPrompt[] =
    R"(You keep a memory bank about a conversation up to date. Compare the new facts with the
existing memories and decide what to change:
- ADD: a fact is new information. Add it as a new memory.
- UPDATE: a fact refines or changes an existing memory. Keep that memory's id and write the
  merged text, keeping the more detailed information.
- DELETE: a fact contradicts an existing memory. Give the id of the memory to remove.
- NONE: a fact is already known. Nothing changes.
Use only ids of the existing memories below, and each id at most once.

Existing memories:
{{memories}}

New facts from {{speaker}} ({{date}}):
{{facts}}

Reply with JSON only:
{"memory": [{"id": "<existing id; any for ADD>", "text": "<memory text>", "event": "ADD|UPDATE|DELETE|NONE", "old_memory": "<old text, for UPDATE>"}]}
Reply {"memory": []} when nothing changes.)";

constexpr char kAnswerPrompt[] =
    R"(You answer a question about a long conversation between {{speaker_a}} and {{speaker_b}}
using memories taken from it. Each memory starts with the date of the session it comes from.

{{memories}}

Question: {{question}}

First list the memories that help answer the question, one per line, copied as written.
Reason about time with the memory dates: a relative time ("last year") is relative to the
date of its memory. If memories disagree, trust the most recent one.
Then write {{marker}} followed by the answer on the same line, in at most 5-6 words.)";

struct TemplateSpec {
  const char* config_key;
  std::set<std::string> allowed;
  std::vector<std::string> required;
};

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Calls `visit(name, begin, end)` for every {{name}} in `text` (name: [A-Za-z0-9_]+), where
// [begin, end) is the placeholder's byte range. Braces not of that shape are plain text, so
// JSON examples ({"a": {"b": 1}}) pass through.
template <typename Visit>
void ForEachPlaceholder(std::string_view text, Visit visit) {
  size_t pos = 0;
  while (true) {
    const size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) return;
    size_t i = open + 2;
    while (i < text.size() && IsNameChar(text[i])) ++i;
    if (i > open + 2 && text.substr(i, 2) == "}}") {
      visit(std::string(text.substr(open + 2, i - open - 2)), open, i + 2);
      pos = i + 2;
    } else {
      pos = open + 1;
    }
  }
}

absl::Status CheckTemplate(const std::string& text, const TemplateSpec& spec) {
  std::set<std::string> found;
  absl::Status status;
  ForEachPlaceholder(text, [&](const std::string& name, size_t, size_t) {
    if (!status.ok()) return;
    if (spec.allowed.count(name) == 0) {
      status = absl::InvalidArgumentError(absl::StrCat(
          spec.config_key, ": unknown placeholder {{", name, "}} (allowed: {{",
          absl::StrJoin(spec.allowed, "}}, {{"), "}})"));
      return;
    }
    found.insert(name);
  });
  if (!status.ok()) return status;
  for (const std::string& name : spec.required) {
    if (found.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.config_key, ": the template lacks the required placeholder {{", name, "}}"));
    }
  }
  return absl::OkStatus();
}

const TemplateSpec& ExtractionSpec() {
  static const TemplateSpec* spec = new TemplateSpec{
      "actor.memory_manager.extraction_prompt", {"speaker", "date", "turn"}, {"turn"}};
  return *spec;
}
const TemplateSpec& ManagerSpec() {
  static const TemplateSpec* spec =
      new TemplateSpec{"actor.memory_manager.manager_prompt",
                       {"facts", "memories", "speaker", "date"},
                       {"facts", "memories"}};
  return *spec;
}
const TemplateSpec& AnswerSpec() {
  static const TemplateSpec* spec =
      new TemplateSpec{"actor.answer_agent.answer_prompt",
                       {"question", "memories", "speaker_a", "speaker_b", "marker"},
                       {"question", "memories"}};
  return *spec;
}

absl::StatusOr<std::string> Choose(const std::string& configured, std::string_view fallback,
                                   const TemplateSpec& spec) {
  std::string text = configured.empty() ? std::string(fallback) : configured;
  absl::Status status = CheckTemplate(text, spec);
  if (!status.ok()) return status;
  return text;
}

}  // namespace

std::string_view DefaultExtractionPrompt() { return kExtractionPrompt; }
std::string_view DefaultManagerPrompt() { return kManagerPrompt; }
std::string_view DefaultAnswerPrompt() { return kAnswerPrompt; }

absl::StatusOr<PromptTemplates> PromptTemplates::FromConfig(const v1::ActorConfig& config) {
  PromptTemplates templates;
  absl::StatusOr<std::string> extraction = Choose(
      config.memory_manager().extraction_prompt(), kExtractionPrompt, ExtractionSpec());
  if (!extraction.ok()) return extraction.status();
  absl::StatusOr<std::string> manager =
      Choose(config.memory_manager().manager_prompt(), kManagerPrompt, ManagerSpec());
  if (!manager.ok()) return manager.status();
  absl::StatusOr<std::string> answer =
      Choose(config.answer_agent().answer_prompt(), kAnswerPrompt, AnswerSpec());
  if (!answer.ok()) return answer.status();
  const std::string& marker = config.answer_agent().answer_marker();
  if (marker.empty() || marker.find_first_of("\r\n") != std::string::npos) {
    // The answer is read from the marker's line, so the marker itself must be one line.
    return absl::InvalidArgumentError(
        "actor.answer_agent.answer_marker: must be non-empty and on one line");
  }
  templates.extraction = *std::move(extraction);
  templates.manager = *std::move(manager);
  templates.answer = *std::move(answer);
  templates.answer_marker = marker;
  return templates;
}

std::string RenderTemplate(std::string_view template_text,
                           const std::map<std::string, std::string>& values) {
  // One pass over the template: substituted values are never scanned again, so a memory or a
  // question that happens to contain "{{question}}" stays as written.
  std::string out;
  out.reserve(template_text.size());
  size_t copied = 0;
  ForEachPlaceholder(template_text, [&](const std::string& name, size_t begin, size_t end) {
    auto it = values.find(name);
    if (it == values.end()) return;
    out.append(template_text.substr(copied, begin - copied));
    out.append(it->second);
    copied = end;
  });
  out.append(template_text.substr(copied));
  return out;
}

}  // namespace memr1::actor
