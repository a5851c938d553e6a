#include "eval/categories.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace memr1::eval {

absl::StatusOr<CategoryNaming> ParseCategoryNaming(absl::string_view name) {
  const std::string lowered = absl::AsciiStrToLower(name);
  if (lowered == "locomo" || lowered == "official") return CategoryNaming::kLocomo;
  if (lowered == "mem0") return CategoryNaming::kMem0;
  if (lowered == "longmemeval") return CategoryNaming::kLongMemEval;
  if (lowered == "msc") return CategoryNaming::kMsc;
  if (lowered == "numeric") return CategoryNaming::kNumeric;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown category naming \"", name, "\"; expected locomo, mem0, longmemeval, msc or numeric"));
}

const std::vector<std::string>& LongMemEvalQuestionTypes() {
  static const auto* types = new std::vector<std::string>{
      "single-session-user", "single-session-assistant", "single-session-preference",
      "multi-session",       "temporal-reasoning",       "knowledge-update"};
  return *types;
}

std::optional<int> LongMemEvalCategory(absl::string_view question_type) {
  const std::vector<std::string>& types = LongMemEvalQuestionTypes();
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] == question_type) return static_cast<int>(i) + 1;
  }
  return std::nullopt;
}

std::string CategoryName(int category, CategoryNaming naming) {
  static const char* const kLocomo[] = {"multi-hop", "temporal", "open-domain", "single-hop",
                                        "adversarial"};
  static const char* const kMem0[] = {"single-hop", "temporal", "multi-hop", "open-domain",
                                      "adversarial"};
  switch (naming) {
    case CategoryNaming::kLocomo:
      if (category >= 1 && category <= 5) return kLocomo[category - 1];
      break;
    case CategoryNaming::kMem0:
      if (category >= 1 && category <= 5) return kMem0[category - 1];
      break;
    case CategoryNaming::kLongMemEval: {
      const std::vector<std::string>& types = LongMemEvalQuestionTypes();
      if (category >= 1 && category <= static_cast<int>(types.size())) {
        return types[category - 1];
      }
      break;
    }
    case CategoryNaming::kMsc:
      if (category == 1) return "self-instruct";
      break;
    case CategoryNaming::kNumeric:
      break;
  }
  return absl::StrCat("category ", category);
}

}  // namespace memr1::eval
