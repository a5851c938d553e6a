#pragma once

// The agents' prompt templates. Defaults follow the Memory-R1 paper (and Mem0, whose pipeline
// it extends), written in our own words; a job config may replace any of them
// (actor.memory_manager.extraction_prompt / manager_prompt, actor.answer_agent.answer_prompt).
//
// Templates use {{name}} placeholders (double braces, so JSON examples in a prompt need no
// escaping). Each template must contain its required placeholders; a configured template that
// lacks one, or names an unknown one, is an InvalidArgument naming the config key and the
// placeholder. A placeholder is exactly {{name}} with name in [A-Za-z0-9_]+; other braces
// ("{{ name }}", JSON) are plain text. The answer marker must be non-empty and on one line.
//   extraction: {{speaker}} {{date}} {{turn}}                      (required: {{turn}})
//   manager:    {{facts}} {{memories}} {{speaker}} {{date}}        (required: {{facts}}, {{memories}})
//   answer:     {{question}} {{memories}} {{speaker_a}} {{speaker_b}} {{marker}}
//                                                                   (required: {{question}}, {{memories}})
//
// Thread safety: immutable values.

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "memr1/v1/config.pb.h"

namespace memr1::actor {

std::string_view DefaultExtractionPrompt();
std::string_view DefaultManagerPrompt();
std::string_view DefaultAnswerPrompt();

struct PromptTemplates {
  std::string extraction;
  std::string manager;
  std::string answer;
  std::string answer_marker = "**Answer:**";

  // The defaults, with the config's overrides applied and checked.
  static absl::StatusOr<PromptTemplates> FromConfig(const v1::ActorConfig& config);
};

// Replaces every {{name}} of `values` in `template_text`, in one pass (a substituted value that
// itself contains "{{question}}" is not expanded again). Placeholders not in `values` stay as
// they are (FromConfig has already rejected unknown ones).
std::string RenderTemplate(std::string_view template_text,
                           const std::map<std::string, std::string>& values);

}  // namespace memr1::actor
