#pragma once

// LongMemEval (Wu et al., ICLR 2025; the oracle, S and M files): a JSON list of instances with
// `question_id` (ids ending in "_abs" are abstention questions), `question_type`, `question`,
// `answer`, `question_date`, `haystack_session_ids`, `haystack_dates`, `haystack_sessions`
// (lists of turns with `role`, `content`, optional `has_answer`) and `answer_session_ids`.
// Each instance becomes one Conversation (speakers "user" and "assistant") holding one QaItem
// whose category is the question type's id (eval/categories.h: 1 single-session-user ...
// 6 knowledge-update).
//
// The M file is 2.7 GB, so the reader streams: it parses one instance at a time (memory is
// bounded by the largest instance) and hands it to a callback; with keep_sessions=false the
// haystacks are skipped while parsing, so question statistics need almost no memory.
//
// Errors: InvalidArgument naming the file, the instance (index and question_id) and the field;
// JSON syntax errors name the byte offset.
//
// Thread safety: pure functions; the callback runs on the calling thread.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actor/dataset.h"

namespace memr1::actor {

// Receives each instance in file order. A non-OK status stops the stream and is returned.
using ConversationCallback = std::function<absl::Status(Conversation&& conversation)>;

absl::Status StreamLongMemEval(const std::string& path, const LoadOptions& options,
                               const ConversationCallback& callback);

// Loads every instance (fine for oracle and S; for M prefer streaming or keep_sessions=false).
absl::StatusOr<Dataset> LoadLongMemEval(const std::string& path, const LoadOptions& options = {});

}  // namespace memr1::actor
