#include "actor/locomo.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

namespace memr1::actor {
namespace {

using Json = nlohmann::json;

class RecordContext {
 public:
  RecordContext(const std::string& source, size_t index, std::string sample_id)
      : source_(source), index_(index), sample_id_(std::move(sample_id)) {}

  absl::Status Error(absl::string_view field, absl::string_view problem) const {
    return absl::InvalidArgumentError(absl::StrCat(
        source_, ": record ", index_, sample_id_.empty() ? "" : absl::StrCat(" (", sample_id_, ")"),
        ": ", field, ": ", problem));
  }

 private:
  const std::string& source_;
  size_t index_;
  std::string sample_id_;
};

absl::StatusOr<std::string> RequiredString(const Json& object, const char* key,
                                           const RecordContext& context,
                                           const std::string& path) {
  if (!object.contains(key)) return context.Error(absl::StrCat(path, key), "missing");
  if (!object[key].is_string()) return context.Error(absl::StrCat(path, key), "must be a string");
  return object[key].get<std::string>();
}

// A string, or a number as its decimal text (Python's str() of an int).
absl::StatusOr<std::string> StringOrNumber(const Json& value, const RecordContext& context,
                                           const std::string& field) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return value.dump();
  return context.Error(field, "must be a string or a number");
}

absl::StatusOr<Session> ParseSession(const Json& turns, int number, const Json& conversation,
                                     const RecordContext& context) {
  const std::string field = absl::StrCat("conversation.session_", number);
  if (!turns.is_array()) return context.Error(field, "must be a list of turns");
  Session session;
  session.number = number;
  const std::string date_key = absl::StrCat("session_", number, "_date_time");
  if (conversation.contains(date_key)) {
    if (!conversation[date_key].is_string()) {
      return context.Error(absl::StrCat("conversation.", date_key), "must be a string");
    }
    session.date_time = conversation[date_key].get<std::string>();
  }
  for (size_t t = 0; t < turns.size(); ++t) {
    const Json& item = turns[t];
    const std::string prefix = absl::StrCat(field, "[", t, "].");
    if (!item.is_object()) return context.Error(absl::StrCat(field, "[", t, "]"), "must be an object");
    Turn turn;
    MEMR1_ASSIGN_OR_RETURN(turn.speaker, RequiredString(item, "speaker", context, prefix));
    MEMR1_ASSIGN_OR_RETURN(turn.text, RequiredString(item, "text", context, prefix));
    if (item.contains("dia_id")) {
      MEMR1_ASSIGN_OR_RETURN(turn.dia_id, RequiredString(item, "dia_id", context, prefix));
    } else {
      turn.dia_id = absl::StrCat("D", number, ":", t + 1);
    }
    if (item.contains("blip_caption") && !item["blip_caption"].is_null()) {
      MEMR1_ASSIGN_OR_RETURN(turn.image_caption,
                             RequiredString(item, "blip_caption", context, prefix));
    }
    session.turns.push_back(std::move(turn));
  }
  return session;
}

absl::StatusOr<Conversation> ParseSample(const Json& sample, size_t index,
                                         const std::string& source, const LoadOptions& options) {
  const RecordContext unnamed(source, index, "");
  if (!sample.is_object()) return unnamed.Error("record", "must be an object");
  std::string sample_id = absl::StrCat("sample-", index);
  if (sample.contains("sample_id")) {
    MEMR1_ASSIGN_OR_RETURN(sample_id, RequiredString(sample, "sample_id", unnamed, ""));
  }
  const RecordContext context(source, index, sample_id);
  Conversation conversation;
  conversation.id = sample_id;
  if (!sample.contains("conversation") || !sample["conversation"].is_object()) {
    return context.Error("conversation", "missing or not an object");
  }
  const Json& dialogue = sample["conversation"];
  MEMR1_ASSIGN_OR_RETURN(conversation.speaker_a,
                         RequiredString(dialogue, "speaker_a", context, "conversation."));
  MEMR1_ASSIGN_OR_RETURN(conversation.speaker_b,
                         RequiredString(dialogue, "speaker_b", context, "conversation."));
  // Sessions are the keys session_<N> (N a positive integer), in numeric order.
  std::vector<int> numbers;
  for (const auto& [key, value] : dialogue.items()) {
    absl::string_view rest = key;
    int number = 0;
    if (absl::ConsumePrefix(&rest, "session_") && absl::SimpleAtoi(rest, &number) &&
        number > 0 && absl::StrCat(number) == rest) {
      numbers.push_back(number);
    }
  }
  std::sort(numbers.begin(), numbers.end());
  for (int number : numbers) {
    MEMR1_ASSIGN_OR_RETURN(
        Session session,
        ParseSession(dialogue[absl::StrCat("session_", number)], number, dialogue, context));
    conversation.sessions.push_back(std::move(session));
  }
  if (!sample.contains("qa")) return conversation;
  const Json& qa = sample["qa"];
  if (!qa.is_array()) return context.Error("qa", "must be a list");
  for (size_t q = 0; q < qa.size(); ++q) {
    const Json& item = qa[q];
    const std::string prefix = absl::StrCat("qa[", q, "].");
    if (!item.is_object()) return context.Error(absl::StrCat("qa[", q, "]"), "must be an object");
    QaItem qa_item;
    qa_item.id = absl::StrCat(sample_id, "/qa", q);
    if (!item.contains("category") || !item["category"].is_number_integer() ||
        item["category"].get<int64_t>() < 1 || item["category"].get<int64_t>() > 5) {
      return context.Error(absl::StrCat(prefix, "category"), "must be an integer 1-5");
    }
    qa_item.category = item["category"].get<int>();
    MEMR1_ASSIGN_OR_RETURN(qa_item.question, RequiredString(item, "question", context, prefix));
    if (item.contains("answer")) {
      MEMR1_ASSIGN_OR_RETURN(qa_item.answer,
                             StringOrNumber(item["answer"], context, prefix + "answer"));
    }
    if (item.contains("adversarial_answer")) {
      MEMR1_ASSIGN_OR_RETURN(
          qa_item.adversarial_answer,
          StringOrNumber(item["adversarial_answer"], context, prefix + "adversarial_answer"));
    }
    if (!item.contains("answer") && qa_item.category != 5) {
      return context.Error(prefix + "answer", "missing");
    }
    if (item.contains("evidence")) {
      if (!item["evidence"].is_array()) return context.Error(prefix + "evidence", "must be a list");
      for (const Json& evidence : item["evidence"]) {
        if (!evidence.is_string()) {
          return context.Error(prefix + "evidence", "must be a list of strings");
        }
        qa_item.evidence.push_back(evidence.get<std::string>());
      }
    }
    if (qa_item.category == 5 && !options.include_adversarial) continue;
    conversation.qa.push_back(std::move(qa_item));
  }
  return conversation;
}

}  // namespace

absl::StatusOr<Dataset> ParseLocomo(const std::string& text, const std::string& source,
                                    const LoadOptions& options) {
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::parse_error& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not valid JSON at byte ", error.byte, ": ", error.what()));
  }
  if (!root.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": must be a JSON list of samples"));
  }
  Dataset dataset;
  dataset.kind = DatasetKind::kLocomo;
  dataset.source = source;
  for (size_t i = 0; i < root.size(); ++i) {
    MEMR1_ASSIGN_OR_RETURN(Conversation conversation, ParseSample(root[i], i, source, options));
    dataset.conversations.push_back(std::move(conversation));
  }
  return dataset;
}

absl::StatusOr<Dataset> LoadLocomo(const std::string& path, const LoadOptions& options) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return ParseLocomo(text.str(), path, options);
}

std::string LocomoToJson(const Dataset& dataset) {
  using Ordered = nlohmann::ordered_json;
  Ordered root = Ordered::array();
  for (const Conversation& conversation : dataset.conversations) {
    Ordered sample;
    Ordered qa = Ordered::array();
    for (const QaItem& item : conversation.qa) {
      Ordered entry;
      entry["question"] = item.question;
      if (item.category != 5 || !item.answer.empty()) entry["answer"] = item.answer;
      if (!item.adversarial_answer.empty()) entry["adversarial_answer"] = item.adversarial_answer;
      entry["evidence"] = item.evidence;
      entry["category"] = item.category;
      qa.push_back(std::move(entry));
    }
    sample["qa"] = std::move(qa);
    Ordered dialogue;
    dialogue["speaker_a"] = conversation.speaker_a;
    dialogue["speaker_b"] = conversation.speaker_b;
    for (const Session& session : conversation.sessions) {
      dialogue[absl::StrCat("session_", session.number, "_date_time")] = session.date_time;
      Ordered turns = Ordered::array();
      for (const Turn& turn : session.turns) {
        Ordered entry;
        entry["speaker"] = turn.speaker;
        entry["dia_id"] = turn.dia_id;
        entry["text"] = turn.text;
        if (!turn.image_caption.empty()) entry["blip_caption"] = turn.image_caption;
        turns.push_back(std::move(entry));
      }
      dialogue[absl::StrCat("session_", session.number)] = std::move(turns);
    }
    sample["conversation"] = std::move(dialogue);
    sample["sample_id"] = conversation.id;
    root.push_back(std::move(sample));
  }
  return root.dump(2, ' ', false, Ordered::error_handler_t::replace) + "\n";
}

absl::Status WriteLocomo(const Dataset& dataset, const std::string& path) {
  const std::string text = LocomoToJson(dataset);
  const std::string temp = path + ".tmp";
  {
    std::ofstream file(temp, std::ios::binary | std::ios::trunc);
    if (!file) return absl::PermissionDeniedError(absl::StrCat("cannot create ", temp));
    file << text;
    file.flush();
    if (!file) {
      std::remove(temp.c_str());
      return absl::DataLossError(absl::StrCat("cannot write ", temp));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return absl::PermissionDeniedError(absl::StrCat("cannot rename ", temp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace memr1::actor
