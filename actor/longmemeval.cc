#include "actor/longmemeval.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/categories.h"

namespace memr1::actor {
namespace {

using Json = nlohmann::json;

// Carries a Status out of the parser callback, which can only return bool.
struct StopParsing {
  absl::Status status;
};

class InstanceParser {
 public:
  InstanceParser(const std::string& source, size_t index, const Json& instance)
      : source_(source), index_(index), instance_(instance) {}

  absl::StatusOr<Conversation> Parse(bool keep_sessions) {
    if (!instance_.is_object()) return Error("instance", "must be an object");
    Conversation conversation;
    QaItem item;
    MEMR1_ASSIGN_OR_RETURN(item.id, String("question_id"));
    question_id_ = item.id;
    conversation.id = item.id;
    conversation.speaker_a = "user";
    conversation.speaker_b = "assistant";
    MEMR1_ASSIGN_OR_RETURN(item.question, String("question"));
    MEMR1_ASSIGN_OR_RETURN(const std::string question_type, String("question_type"));
    const std::optional<int> category = eval::LongMemEvalCategory(question_type);
    if (!category) {
      return Error("question_type", absl::StrCat("unknown type \"", question_type, "\""));
    }
    item.category = *category;
    if (!instance_.contains("answer")) return Error("answer", "missing");
    const Json& answer = instance_["answer"];
    if (answer.is_string()) {
      item.answer = answer.get<std::string>();
    } else if (answer.is_number()) {
      item.answer = answer.dump();
    } else {
      return Error("answer", "must be a string or a number");
    }
    if (instance_.contains("question_date")) {
      MEMR1_ASSIGN_OR_RETURN(item.question_date, String("question_date"));
    }
    item.abstention = absl::EndsWith(item.id, "_abs");
    if (instance_.contains("answer_session_ids")) {
      MEMR1_ASSIGN_OR_RETURN(item.evidence, StringList("answer_session_ids"));
    }
    if (keep_sessions) MEMR1_RETURN_IF_ERROR(ParseSessions(&conversation));
    conversation.qa.push_back(std::move(item));
    return conversation;
  }

 private:
  absl::Status Error(absl::string_view field, absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(
        source_, ": instance ", index_,
        question_id_.empty() ? "" : absl::StrCat(" (", question_id_, ")"), ": ", field, ": ",
        problem));
  }

  absl::StatusOr<std::string> String(const char* key) const {
    if (!instance_.contains(key)) return Error(key, "missing");
    if (!instance_[key].is_string()) return Error(key, "must be a string");
    return instance_[key].get<std::string>();
  }

  absl::StatusOr<std::vector<std::string>> StringList(const char* key) const {
    if (!instance_.contains(key)) return Error(key, "missing");
    const Json& list = instance_[key];
    if (!list.is_array()) return Error(key, "must be a list");
    std::vector<std::string> out;
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) return Error(absl::StrCat(key, "[", i, "]"), "must be a string");
      out.push_back(list[i].get<std::string>());
    }
    return out;
  }

  absl::Status ParseSessions(Conversation* conversation) const {
    if (!instance_.contains("haystack_sessions")) return Error("haystack_sessions", "missing");
    const Json& sessions = instance_["haystack_sessions"];
    if (!sessions.is_array()) return Error("haystack_sessions", "must be a list");
    MEMR1_ASSIGN_OR_RETURN(const std::vector<std::string> ids, StringList("haystack_session_ids"));
    MEMR1_ASSIGN_OR_RETURN(const std::vector<std::string> dates, StringList("haystack_dates"));
    if (ids.size() != sessions.size() || dates.size() != sessions.size()) {
      return Error("haystack_sessions",
                   absl::StrCat(sessions.size(), " sessions but ", ids.size(), " session ids and ",
                                dates.size(), " dates"));
    }
    for (size_t s = 0; s < sessions.size(); ++s) {
      const std::string field = absl::StrCat("haystack_sessions[", s, "]");
      if (!sessions[s].is_array()) return Error(field, "must be a list of turns");
      Session session;
      session.number = static_cast<int>(s) + 1;
      session.id = ids[s];
      session.date_time = dates[s];
      for (size_t t = 0; t < sessions[s].size(); ++t) {
        const Json& entry = sessions[s][t];
        const std::string turn_field = absl::StrCat(field, "[", t, "]");
        if (!entry.is_object()) return Error(turn_field, "must be an object");
        if (!entry.contains("role") || !entry["role"].is_string()) {
          return Error(turn_field + ".role", "missing or not a string");
        }
        if (!entry.contains("content") || !entry["content"].is_string()) {
          return Error(turn_field + ".content", "missing or not a string");
        }
        Turn turn;
        turn.speaker = entry["role"].get<std::string>();
        turn.text = entry["content"].get<std::string>();
        turn.dia_id = absl::StrCat("D", s + 1, ":", t + 1);
        if (entry.contains("has_answer")) {
          if (!entry["has_answer"].is_boolean()) {
            return Error(turn_field + ".has_answer", "must be true or false");
          }
          turn.has_answer = entry["has_answer"].get<bool>();
        }
        session.turns.push_back(std::move(turn));
      }
      conversation->sessions.push_back(std::move(session));
    }
    return absl::OkStatus();
  }

  const std::string& source_;
  size_t index_;
  const Json& instance_;
  std::string question_id_;
};

}  // namespace

absl::Status StreamLongMemEval(const std::string& path, const LoadOptions& options,
                               const ConversationCallback& callback) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  size_t index = 0;
  bool saw_top_level = false;
  const Json::parser_callback_t on_event = [&](int depth, Json::parse_event_t event,
                                               Json& parsed) -> bool {
    if (depth == 0 && !saw_top_level) {
      saw_top_level = true;
      if (event != Json::parse_event_t::array_start) {
        throw StopParsing{absl::InvalidArgumentError(
            absl::StrCat(path, ": must be a JSON list of instances"))};
      }
    }
    if (!options.keep_sessions && depth == 2 && event == Json::parse_event_t::key &&
        parsed == "haystack_sessions") {
      return false;  // skip the haystack while parsing
    }
    // Depth 1 holds the list's elements; each ends with one of these events.
    if (depth == 1 && (event == Json::parse_event_t::object_end ||
                       event == Json::parse_event_t::array_end ||
                       event == Json::parse_event_t::value)) {
      InstanceParser parser(path, index, parsed);
      absl::StatusOr<Conversation> conversation = parser.Parse(options.keep_sessions);
      if (!conversation.ok()) throw StopParsing{conversation.status()};
      absl::Status status = callback(*std::move(conversation));
      if (!status.ok()) throw StopParsing{status};
      ++index;
      return false;  // drop the instance: memory stays bounded
    }
    return true;
  };
  try {
    // The elements are dropped as they are read, so the returned list is empty.
    const Json emptied = Json::parse(file, on_event);
    (void)emptied;
  } catch (const StopParsing& stop) {
    return stop.status;
  } catch (const Json::parse_error& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not valid JSON at byte ", error.byte, ": ", error.what()));
  }
  if (file.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return absl::OkStatus();
}

absl::StatusOr<Dataset> LoadLongMemEval(const std::string& path, const LoadOptions& options) {
  Dataset dataset;
  dataset.kind = DatasetKind::kLongMemEval;
  dataset.source = path;
  MEMR1_RETURN_IF_ERROR(StreamLongMemEval(path, options, [&](Conversation&& conversation) {
    dataset.conversations.push_back(std::move(conversation));
    return absl::OkStatus();
  }));
  return dataset;
}

}  // namespace memr1::actor
