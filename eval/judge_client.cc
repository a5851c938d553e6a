#include "eval/judge_client.h"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace memr1::eval {
namespace {

std::string Snippet(absl::string_view text) {
  constexpr size_t kMax = 200;
  if (text.size() <= kMax) return std::string(text);
  return absl::StrCat(text.substr(0, kMax), "...");
}

constexpr char kRole[] = "judge";
constexpr char kChatPath[] = "/chat/completions";

// The label inside the message content: JSON first, then a bare word.
absl::StatusOr<bool> LabelFromContent(absl::string_view content) {
  absl::string_view text = absl::StripAsciiWhitespace(content);
  // Some servers wrap JSON in a markdown fence despite response_format.
  if (absl::ConsumePrefix(&text, "```")) {
    absl::ConsumePrefix(&text, "json");
    absl::ConsumeSuffix(&text, "```");
    text = absl::StripAsciiWhitespace(text);
  }
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.contains("label") && parsed["label"].is_string()) {
    const std::string label = absl::AsciiStrToUpper(
        absl::StripAsciiWhitespace(parsed["label"].get<std::string>()));
    if (label == "CORRECT") return true;
    if (label == "WRONG") return false;
    return absl::InvalidArgumentError(
        absl::StrCat("judge label \"", parsed["label"].get<std::string>(),
                     "\" is neither CORRECT nor WRONG"));
  }
  const bool has_correct = absl::StrContains(content, "CORRECT");
  const bool has_wrong = absl::StrContains(content, "WRONG");
  if (has_correct != has_wrong) return has_correct;
  return absl::InvalidArgumentError(absl::StrCat(
      "judge reply has no JSON \"label\" and no single CORRECT/WRONG word: \"", Snippet(content),
      "\""));
}

}  // namespace

HttpJsonClientOptions JudgeOptions::HttpOptions() const {
  HttpJsonClientOptions http;
  http.role = kRole;
  http.base_url = base_url;
  http.api_key = api_key;
  http.timeout = timeout;
  http.max_retries = max_retries;
  http.initial_backoff = initial_backoff;
  http.max_backoff = max_backoff;
  http.ca_file = ca_file;
  return http;
}

absl::Status JudgeOptions::Validate() const {
  MEMR1_RETURN_IF_ERROR(ParseHttpUrl(base_url, kRole).status());
  if (model.empty()) return absl::InvalidArgumentError("judge model is empty");
  if (repeats < 1) {
    return absl::InvalidArgumentError(absl::StrCat("judge repeats must be >= 1, got ", repeats));
  }
  return HttpOptions().Validate();
}

absl::StatusOr<JudgeOptions> JudgeOptions::FromConfig(const v1::JudgeConfig& config) {
  JudgeOptions options;
  options.base_url = config.base_url();
  options.model = config.model();
  if (!config.api_key_env().empty()) {
    if (const char* key = std::getenv(config.api_key_env().c_str())) options.api_key = key;
  }
  options.repeats = config.repeats();
  options.timeout = absl::Milliseconds(config.timeout_ms());
  options.max_retries = config.max_retries();
  options.initial_backoff = absl::Milliseconds(config.initial_backoff_ms());
  options.temperature = config.temperature();
  options.ca_file = config.ca_file();
  MEMR1_RETURN_IF_ERROR(options.Validate());
  return options;
}

JudgeClient::JudgeClient(JudgeOptions options, HttpJsonClient http)
    : options_(std::move(options)), http_(std::move(http)) {}

absl::StatusOr<std::unique_ptr<JudgeClient>> JudgeClient::Create(JudgeOptions options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  MEMR1_ASSIGN_OR_RETURN(HttpJsonClient http, HttpJsonClient::Create(options.HttpOptions()));
  return std::unique_ptr<JudgeClient>(new JudgeClient(std::move(options), std::move(http)));
}

std::string JudgeClient::BuildPrompt(absl::string_view question, absl::string_view gold,
                                     absl::string_view prediction) {
  return absl::StrCat(
      "Label a generated answer to a question as CORRECT or WRONG by comparing it with the "
      "gold (ground-truth) answer.\n\n"
      "The question is one person asking about something the other person should remember "
      "from their earlier conversations. The gold answer is usually short. The generated "
      "answer may be longer or worded differently: be generous, and label it CORRECT as long "
      "as it refers to the same thing as the gold answer.\n\n"
      "For questions about time, the gold answer is a date, month, year or period. Label the "
      "generated answer CORRECT if it refers to the same date or period, even in another "
      "format (\"May 7th\" and \"7 May\") or as a relative expression that resolves to it.\n\n"
      "Question: ", question, "\n",
      "Gold answer: ", gold, "\n",
      "Generated answer: ", prediction, "\n\n",
      "Reply with only a JSON object whose key \"label\" is \"CORRECT\" or \"WRONG\", for "
      "example {\"label\": \"CORRECT\"}. Never use both words.");
}

absl::StatusOr<bool> JudgeClient::ParseResponse(absl::string_view body) {
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("response body is not JSON: \"", Snippet(body), "\""));
  }
  if (!parsed.is_object() || !parsed.contains("choices") || !parsed["choices"].is_array() ||
      parsed["choices"].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("response has no \"choices\": \"", Snippet(body), "\""));
  }
  const nlohmann::json& choice = parsed["choices"][0];
  if (!choice.is_object() || !choice.contains("message") || !choice["message"].is_object() ||
      !choice["message"].contains("content") || !choice["message"]["content"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "response has no choices[0].message.content string: \"", Snippet(body), "\""));
  }
  return LabelFromContent(choice["message"]["content"].get<std::string>());
}

absl::StatusOr<bool> JudgeClient::JudgeOnce(absl::string_view question, absl::string_view gold,
                                            absl::string_view prediction) const {
  nlohmann::json request = {
      {"model", options_.model},
      {"messages", nlohmann::json::array({{{"role", "user"},
                                           {"content", BuildPrompt(question, gold, prediction)}}})},
      {"temperature", options_.temperature},
      {"response_format", {{"type", "json_object"}}},
  };
  const std::string body =
      request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // The reply is parsed inside the check so that a reply without a usable label counts as
  // malformed and is retried like a transport failure.
  bool label = false;
  const ReplyCheck check = [&label](const std::string& reply) -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(label, ParseResponse(reply));
    return absl::OkStatus();
  };
  MEMR1_RETURN_IF_ERROR(http_.Post(kChatPath, body, check).status());
  return label;
}

absl::StatusOr<JudgeVerdict> JudgeClient::Judge(absl::string_view question,
                                                absl::string_view gold,
                                                absl::string_view prediction) const {
  JudgeVerdict verdict;
  int correct = 0;
  for (int i = 0; i < options_.repeats; ++i) {
    MEMR1_ASSIGN_OR_RETURN(const bool label, JudgeOnce(question, gold, prediction));
    verdict.correct.push_back(label);
    correct += label ? 1 : 0;
  }
  verdict.score = static_cast<double>(correct) / static_cast<double>(options_.repeats);
  return verdict;
}

}  // namespace memr1::eval
