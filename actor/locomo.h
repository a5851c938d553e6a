#pragma once

// LoCoMo (snap-research/locomo, data/locomo10.json) and every file of its shape, including
// the synthetic world's. Shape: a JSON list of samples with `sample_id`, `conversation`
// (`speaker_a`, `speaker_b`, `session_N_date_time`, `session_N`: turns with `speaker`,
// `dia_id`, `text` and optional `blip_caption`), and `qa` (`question`, `answer` or, for
// category 5, `adversarial_answer`, `evidence`, `category`). Other keys are ignored.
//
// Loading rules, as LoCoMo's and Memory-R1's evaluations apply them: number answers become
// their decimal text (2022 -> "2022"); category-5 questions are dropped unless
// `include_adversarial`; an image turn keeps its caption (Turn::image_caption). QA ids are
// "<sample_id>/qa<index in the file's qa list>", stable whatever is filtered.
//
// Errors: InvalidArgument naming the file, the record (index and sample_id) and the field,
// e.g. "locomo10.json: record 3 (conv-41): qa[12].category: must be an integer 1-5".
//
// Thread safety: pure functions.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actor/dataset.h"

namespace memr1::actor {

absl::StatusOr<Dataset> LoadLocomo(const std::string& path, const LoadOptions& options = {});
// The same for text in memory; `source` names it in errors.
absl::StatusOr<Dataset> ParseLocomo(const std::string& text, const std::string& source,
                                    const LoadOptions& options = {});

// The dataset as LoCoMo JSON (2-space indented, keys in LoCoMo's order, trailing newline).
// Deterministic: equal datasets give byte-identical text. Loading the text gives the dataset
// back (category-5 items need include_adversarial).
std::string LocomoToJson(const Dataset& dataset);
// Writes LocomoToJson(dataset) to `path` atomically (temp file + rename).
absl::Status WriteLocomo(const Dataset& dataset, const std::string& path);

}  // namespace memr1::actor
