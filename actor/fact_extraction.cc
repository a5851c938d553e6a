#include "actor/fact_extraction.h"

#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace memr1::actor {

PolicyRequest BuildExtractionRequest(const PromptTemplates& templates, const TurnContext& turn,
                                     const SamplingOptions& sampling) {
  PolicyRequest request;
  request.sampling = sampling;
  request.messages.push_back(
      {"user", RenderTemplate(templates.extraction, {{"speaker", turn.speaker},
                                                     {"date", turn.session_time},
                                                     {"turn", turn.text}})});
  return request;
}

Parsed<std::vector<std::string>> ParseFacts(std::string_view text, int max_facts, int* dropped) {
  using Result = Parsed<std::vector<std::string>>;
  if (dropped != nullptr) *dropped = 0;
  Parsed<nlohmann::json> json = FindJsonValue(text);
  if (!json.ok()) return Result::Fail(json.failure->kind, json.failure->detail);
  const nlohmann::json* list = &*json.value;
  if (list->is_object()) {
    auto it = list->find("facts");
    if (it == list->end() || !it->is_array()) {
      return Result::Fail(FormatFailureKind::kWrongShape,
                          absl::StrCat("expected a list of facts or {\"facts\": [...]}, got: ",
                                       Excerpt(list->dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace))));
    }
    list = &*it;
  } else if (!list->is_array()) {
    return Result::Fail(FormatFailureKind::kWrongShape,
                        absl::StrCat("expected a list of facts, got a JSON ", list->type_name()));
  }
  std::vector<std::string> facts;
  std::set<std::string> seen;
  int over = 0;
  for (size_t i = 0; i < list->size(); ++i) {
    const nlohmann::json& element = (*list)[i];
    if (!element.is_string()) {
      // One bad element rejects the whole list: silently keeping the rest would hide a model
      // that writes facts as objects.
      return Result::Fail(FormatFailureKind::kWrongShape,
                          absl::StrCat("facts[", i, "] is a ", element.type_name(),
                                       ", not a string: ",
                                       Excerpt(element.dump(
                                           -1, ' ', false,
                                           nlohmann::json::error_handler_t::replace))));
    }
    std::string fact(absl::StripAsciiWhitespace(element.get_ref<const std::string&>()));
    if (fact.empty() || !seen.insert(fact).second) continue;
    if (max_facts >= 0 && static_cast<int>(facts.size()) >= max_facts) {
      ++over;
      continue;
    }
    facts.push_back(std::move(fact));
  }
  if (dropped != nullptr) *dropped = over;
  return Result::Ok(std::move(facts));
}

std::string IdentityFact(const TurnContext& turn) {
  return absl::StrCat(turn.speaker, ": ", turn.text);
}

}  // namespace memr1::actor
