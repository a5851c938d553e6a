#include "actor/msc.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/jsonl.h"
#include "common/status_macros.h"

namespace memr1::actor {
namespace {

using Json = nlohmann::json;

absl::StatusOr<Conversation> ParseRecord(const Json& record, size_t index,
                                         const std::string& where) {
  const auto error = [&](absl::string_view field, absl::string_view problem) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": record ", index, ": ", field, ": ", problem));
  };
  if (!record.is_object()) return error("record", "must be an object");
  Conversation conversation;
  conversation.id = absl::StrCat("msc-", index);
  conversation.speaker_a = "Speaker 1";
  conversation.speaker_b = "Speaker 2";
  if (!record.contains("previous_dialogs")) return error("previous_dialogs", "missing");
  const Json& dialogs = record["previous_dialogs"];
  if (!dialogs.is_array()) return error("previous_dialogs", "must be a list");
  for (size_t s = 0; s < dialogs.size(); ++s) {
    const std::string field = absl::StrCat("previous_dialogs[", s, "]");
    const Json& dialog = dialogs[s];
    if (!dialog.is_object()) return error(field, "must be an object");
    if (!dialog.contains("dialog") || !dialog["dialog"].is_array()) {
      return error(field + ".dialog", "missing or not a list");
    }
    Session session;
    session.number = static_cast<int>(s) + 1;
    if (dialog.contains("time_back") && dialog["time_back"].is_string()) {
      session.date_time = dialog["time_back"].get<std::string>();
    } else if (dialog.contains("time_num") && dialog.contains("time_unit") &&
               dialog["time_num"].is_number() && dialog["time_unit"].is_string()) {
      session.date_time = absl::StrCat(dialog["time_num"].dump(), " ",
                                       dialog["time_unit"].get<std::string>(), " ago");
    }
    const Json& turns = dialog["dialog"];
    for (size_t t = 0; t < turns.size(); ++t) {
      const std::string turn_field = absl::StrCat(field, ".dialog[", t, "]");
      const Json& entry = turns[t];
      if (!entry.is_object()) return error(turn_field, "must be an object");
      if (!entry.contains("text") || !entry["text"].is_string()) {
        return error(turn_field + ".text", "missing or not a string");
      }
      Turn turn;
      turn.text = entry["text"].get<std::string>();
      if (entry.contains("id") && entry["id"].is_string()) {
        turn.speaker = entry["id"].get<std::string>();
      } else {
        turn.speaker = t % 2 == 0 ? conversation.speaker_a : conversation.speaker_b;
      }
      turn.dia_id = absl::StrCat("D", s + 1, ":", t + 1);
      session.turns.push_back(std::move(turn));
    }
    conversation.sessions.push_back(std::move(session));
  }
  if (!record.contains("self_instruct") || !record["self_instruct"].is_object()) {
    return error("self_instruct", "missing or not an object");
  }
  const Json& instruct = record["self_instruct"];
  QaItem item;
  item.id = conversation.id;
  item.category = 1;
  for (const auto& [key, target] :
       {std::make_pair("A", &item.question), std::make_pair("B", &item.answer)}) {
    if (!instruct.contains(key)) return error(absl::StrCat("self_instruct.", key), "missing");
    const Json& value = instruct[key];
    if (value.is_string()) {
      *target = value.get<std::string>();
    } else if (value.is_number()) {
      *target = value.dump();
    } else {
      return error(absl::StrCat("self_instruct.", key), "must be a string");
    }
  }
  conversation.qa.push_back(std::move(item));
  return conversation;
}

}  // namespace

absl::StatusOr<Dataset> ParseMsc(const std::string& text, const std::string& source) {
  Dataset dataset;
  dataset.kind = DatasetKind::kMsc;
  dataset.source = source;
  const absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(text);
  if (!trimmed.empty() && trimmed.front() == '[') {
    const Json root = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
    }
    for (size_t i = 0; i < root.size(); ++i) {
      MEMR1_ASSIGN_OR_RETURN(Conversation conversation, ParseRecord(root[i], i, source));
      dataset.conversations.push_back(std::move(conversation));
    }
    return dataset;
  }
  std::istringstream stream(text);
  MEMR1_RETURN_IF_ERROR(ForEachJsonLine(
      stream, source, [&](const std::string& line, const std::string& where) -> absl::Status {
        const Json record = Json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (record.is_discarded()) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": not valid JSON"));
        }
        MEMR1_ASSIGN_OR_RETURN(Conversation conversation,
                               ParseRecord(record, dataset.conversations.size(), where));
        dataset.conversations.push_back(std::move(conversation));
        return absl::OkStatus();
      }));
  return dataset;
}

absl::StatusOr<Dataset> LoadMsc(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return ParseMsc(text.str(), path);
}

}  // namespace memr1::actor
