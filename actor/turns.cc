#include "actor/turns.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace memr1::actor {
namespace {

// LoCoMo's evidence lists hold a few malformed entries ("D8:6; D9:17", " D1:3"), so each entry
// is split on ';', ',' and spaces before lookup.
std::vector<std::string> EvidenceIds(const std::vector<std::string>& evidence) {
  std::vector<std::string> ids;
  for (const std::string& entry : evidence) {
    for (absl::string_view part : absl::StrSplit(entry, absl::ByAnyChar("; ,"), absl::SkipEmpty())) {
      ids.emplace_back(absl::StripAsciiWhitespace(part));
    }
  }
  return ids;
}

}  // namespace

std::vector<TurnContext> FlattenTurns(const Conversation& conversation) {
  std::vector<TurnContext> turns;
  int index = 0;
  for (const Session& session : conversation.sessions) {
    for (const Turn& turn : session.turns) {
      TurnContext context;
      context.index = index++;
      context.session = session.number;
      context.session_time = session.date_time;
      context.speaker = turn.speaker;
      context.dia_id = turn.dia_id;
      context.text = turn.DisplayText();
      turns.push_back(std::move(context));
    }
  }
  return turns;
}

std::vector<int> EvidenceTurns(const Conversation& conversation,
                               const std::vector<std::string>& evidence) {
  std::map<std::string, int> by_dia_id;
  std::map<std::string, std::pair<int, int>> by_session;  // id -> [first, last]
  int index = 0;
  for (const Session& session : conversation.sessions) {
    const int first = index;
    for (const Turn& turn : session.turns) by_dia_id.emplace(turn.dia_id, index++);
    if (!session.id.empty() && index > first) by_session[session.id] = {first, index - 1};
  }
  std::set<int> turns;
  for (const std::string& id : EvidenceIds(evidence)) {
    if (auto it = by_dia_id.find(id); it != by_dia_id.end()) {
      turns.insert(it->second);
    } else if (auto s = by_session.find(id); s != by_session.end()) {
      for (int i = s->second.first; i <= s->second.second; ++i) turns.insert(i);
    }
  }
  return std::vector<int>(turns.begin(), turns.end());
}

int LastEvidenceTurn(const Conversation& conversation, const std::vector<std::string>& evidence) {
  const std::vector<int> turns = EvidenceTurns(conversation, evidence);
  return turns.empty() ? -1 : turns.back();
}

}  // namespace memr1::actor
