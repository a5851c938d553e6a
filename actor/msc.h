#pragma once

// MSC as MemGPT's MSC-Self-Instruct: Multi-Session Chat records whose `previous_dialogs`
// (each with a `dialog` list of turns {`text`, optional `id`} and optional `time_back`,
// `time_num`, `time_unit`) are the memory, and whose `self_instruct` object holds a question
// `A` about them and its answer `B`. The file is a JSON list or JSON Lines (one record per
// line). Each record becomes one Conversation "msc-<index>" between "Speaker 1" and
// "Speaker 2" (turns alternate when they carry no `id`) with one QaItem of category 1
// (self-instruct). The record's current `dialog` is not part of the memory and is skipped.
//
// Errors: InvalidArgument naming the file, the record (index, and line for JSON Lines) and the
// field.
//
// Thread safety: pure functions.

#include <string>

#include "absl/status/statusor.h"
#include "actor/dataset.h"

namespace memr1::actor {

absl::StatusOr<Dataset> LoadMsc(const std::string& path);
absl::StatusOr<Dataset> ParseMsc(const std::string& text, const std::string& source);

}  // namespace memr1::actor
