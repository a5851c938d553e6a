#include "llm/normalizer.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace memr1::llm {

namespace {

absl::Status AddSteps(const nlohmann::json& json, std::vector<NormalizationForm>* forms) {
  if (json.is_null()) return absl::OkStatus();
  if (!json.is_object() || !json.contains("type") || !json.at("type").is_string()) {
    return absl::InvalidArgumentError("normalizer: expected an object with a \"type\"");
  }
  const std::string type = json.at("type").get<std::string>();
  if (type == "Sequence") {
    for (const auto& step : json.at("normalizers")) MEMR1_RETURN_IF_ERROR(AddSteps(step, forms));
  } else if (type == "NFC") {
    forms->push_back(NormalizationForm::kNfc);
  } else if (type == "NFD") {
    forms->push_back(NormalizationForm::kNfd);
  } else if (type == "NFKC") {
    forms->push_back(NormalizationForm::kNfkc);
  } else if (type == "NFKD") {
    forms->push_back(NormalizationForm::kNfkd);
  } else {
    return absl::UnimplementedError(absl::StrCat("normalizer type '", type, "' is not supported"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> Normalizer::FromJson(const nlohmann::json& json) {
  auto normalizer = std::make_unique<Normalizer>();
  MEMR1_RETURN_IF_ERROR(AddSteps(json, &normalizer->forms_));
  return normalizer;
}

absl::StatusOr<std::string> Normalizer::Apply(std::string_view text) const {
  std::string current(text);
  for (const NormalizationForm form : forms_) {
    MEMR1_ASSIGN_OR_RETURN(current, Normalize(form, current));
  }
  return current;
}

}  // namespace memr1::llm
