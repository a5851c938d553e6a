#pragma once

// Question categories are plain ints everywhere (as in LoCoMo's `category` field); this file
// names them for reports. LoCoMo's official names follow its evaluation code: 1 multi-hop,
// 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial. Mem0's paper and evaluation code call
// the same ids 1 single-hop, 2 temporal, 3 multi-hop, 4 open-domain (mem0ai/mem0 issue 2609),
// so Mem0-style tables can be printed for comparison. LongMemEval's question types and MSC's
// single self-instruct type get ids of their own (see actor/longmemeval.h, actor/msc.h).
//
// Thread safety: pure functions over constant tables.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memr1::eval {

enum class CategoryNaming {
  kLocomo,       // official LoCoMo names
  kMem0,         // Mem0's labels for the same ids
  kLongMemEval,  // LongMemEval question types
  kMsc,          // MSC-Self-Instruct
  kNumeric,      // "category N"
};

// "locomo", "mem0", "longmemeval", "msc", "numeric" (any case).
absl::StatusOr<CategoryNaming> ParseCategoryNaming(absl::string_view name);

// The name of `category` under `naming`; "category N" for ids the naming does not define.
std::string CategoryName(int category, CategoryNaming naming);

// LongMemEval question types in id order (ids start at 1).
const std::vector<std::string>& LongMemEvalQuestionTypes();
// The id of a LongMemEval question type, if it is one.
std::optional<int> LongMemEvalCategory(absl::string_view question_type);

}  // namespace memr1::eval
