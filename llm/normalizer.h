#pragma once

// The "normalizer" of a tokenizer.json: Unicode normalization forms (NFC, NFD, NFKC, NFKD)
// and Sequences of them, through ICU.
//
// Thread safety: immutable after FromJson.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/status/statusor.h"
#include "llm/unicode.h"

namespace memr1::llm {

class Normalizer {
 public:
  // Parses a normalizer object, or null for none. Unimplemented names any other type.
  static absl::StatusOr<std::unique_ptr<Normalizer>> FromJson(const nlohmann::json& json);

  // Applies the steps in order to valid UTF-8 `text`.
  absl::StatusOr<std::string> Apply(std::string_view text) const;

  bool empty() const { return forms_.empty(); }

 private:
  std::vector<NormalizationForm> forms_;
};

}  // namespace memr1::llm
