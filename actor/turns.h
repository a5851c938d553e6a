#pragma once

// A conversation's dialogue turns in order, each with its session's date: the unit the Memory
// Manager works on. Episodes and bank building index turns by their position in this list (the
// "global turn index"); a bank built turn by turn has seq = i + 1 after turn i (see
// bank_builder.h), so the bank as it was before turn i is the bank as of seq i.
//
// Thread safety: plain values and pure functions.

#include <string>
#include <vector>

#include "actor/dataset.h"

namespace memr1::actor {

struct TurnContext {
  int index = 0;          // global turn index in the conversation
  int session = 0;        // Session::number
  std::string session_time;
  std::string speaker;
  std::string dia_id;
  std::string text;       // Turn::DisplayText()
};

// Every turn of `conversation`, in order.
std::vector<TurnContext> FlattenTurns(const Conversation& conversation);

// Global index of the last turn named by any of `evidence` (dia_ids, or session ids that name a
// whole session: its last turn); -1 when none resolves.
int LastEvidenceTurn(const Conversation& conversation, const std::vector<std::string>& evidence);

// Global indices of all turns named by `evidence` (a session id names all its turns), sorted.
std::vector<int> EvidenceTurns(const Conversation& conversation,
                               const std::vector<std::string>& evidence);

}  // namespace memr1::actor
