#include "actor/memory_manager.h"

#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace memr1::actor {
namespace {

using nlohmann::json;

std::string Dump(const json& value) {
  // `replace` keeps invalid UTF-8 (possible in model output and dataset text) from throwing.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A JSON list with one element per line: readable for the model, still valid JSON.
std::string JsonLines(const std::vector<json>& elements) {
  if (elements.empty()) return "[]";
  std::vector<std::string> lines;
  lines.reserve(elements.size());
  for (const json& element : elements) lines.push_back(absl::StrCat("  ", Dump(element)));
  return absl::StrCat("[\n", absl::StrJoin(lines, ",\n"), "\n]");
}

std::string ShownRange(int shown_count) {
  if (shown_count <= 0) return "no memories were shown";
  if (shown_count == 1) return "only id 0 was shown";
  return absl::StrCat("only ids 0-", shown_count - 1, " were shown");
}

// How an op names a shown memory.
struct IdRef {
  bool present = false;  // an id other than null / ""
  int index = -1;        // the shown index, or -1 when the id names none
  std::string text;      // the id as written, for details
};

IdRef ReadId(const json& op, int shown_count) {
  IdRef ref;
  auto it = op.find("id");
  if (it == op.end() || it->is_null()) return ref;
  if (it->is_string()) {
    const std::string trimmed(absl::StripAsciiWhitespace(it->get_ref<const std::string&>()));
    if (trimmed.empty()) return ref;
    ref.present = true;
    ref.text = absl::StrCat("\"", trimmed, "\"");
    int index = -1;
    // Digits only: "m3" or "-1" are not shown ids even if absl would read part of them.
    const bool digits = trimmed.find_first_not_of("0123456789") == std::string::npos;
    if (digits && absl::SimpleAtoi(trimmed, &index) && index >= 0 && index < shown_count) {
      ref.index = index;
    }
    return ref;
  }
  ref.present = true;
  ref.text = Dump(*it);
  if (it->is_number_integer()) {
    const int64_t index = it->get<int64_t>();
    if (index >= 0 && index < shown_count) ref.index = static_cast<int>(index);
  }
  return ref;
}

absl::StatusOr<std::vector<v1::SearchHit>> SearchBank(const memstore::ShardRouter& router,
                                                      const std::string& bank, uint64_t as_of_seq,
                                                      const std::string& query, int k) {
  v1::SearchRequest request;
  request.set_bank(bank);
  request.set_query(query);
  request.set_k(k);
  request.set_as_of_seq(as_of_seq);
  request.set_mode(v1::SEARCH_MODE_AUTO);
  absl::StatusOr<v1::SearchResponse> response = router.Search(request);
  if (!response.ok()) {
    return Annotate(response.status(), absl::StrCat("searching bank \"", bank, "\""));
  }
  return std::vector<v1::SearchHit>(response->hits().begin(), response->hits().end());
}

}  // namespace

ShownMemory ShownMemory::FromMemory(const v1::Memory& memory, double score) {
  ShownMemory shown;
  shown.id = memory.id();
  shown.text = memory.text();
  shown.speaker = memory.speaker();
  shown.session_time = memory.session_time();
  shown.turn_id = memory.turn_id();
  shown.score = score;
  return shown;
}

absl::StatusOr<std::vector<ShownMemory>> RetrieveRelated(const memstore::ShardRouter& router,
                                                         const std::string& bank,
                                                         uint64_t as_of_seq,
                                                         const std::vector<std::string>& facts,
                                                         int k) {
  std::vector<ShownMemory> shown;
  if (facts.empty()) return shown;
  if (k <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("retrieving related memories from bank \"", bank, "\": k must be > 0, got ",
                     k));
  }
  std::map<std::string, size_t> position;  // memory id -> index in `shown`
  for (const std::string& fact : facts) {
    if (absl::StripAsciiWhitespace(fact).empty()) continue;
    MEMR1_ASSIGN_OR_RETURN(std::vector<v1::SearchHit> hits,
                           SearchBank(router, bank, as_of_seq, fact, k));
    for (const v1::SearchHit& hit : hits) {
      auto [it, inserted] = position.emplace(hit.memory().id(), shown.size());
      if (inserted) {
        shown.push_back(ShownMemory::FromMemory(hit.memory(), hit.score()));
      } else if (hit.score() > shown[it->second].score) {
        shown[it->second].score = hit.score();
      }
    }
  }
  return shown;
}

PolicyRequest BuildManagerRequest(const PromptTemplates& templates, const ManagerInput& input,
                                  const SamplingOptions& sampling) {
  std::vector<json> facts;
  facts.reserve(input.facts.size());
  for (const std::string& fact : input.facts) facts.emplace_back(fact);
  std::vector<json> memories;
  memories.reserve(input.shown.size());
  for (size_t i = 0; i < input.shown.size(); ++i) {
    json memory = json::object();
    memory["id"] = std::to_string(i);
    memory["text"] = input.shown[i].text;
    memories.push_back(std::move(memory));
  }
  PolicyRequest request;
  request.sampling = sampling;
  request.messages.push_back(
      {"user", RenderTemplate(templates.manager, {{"facts", JsonLines(facts)},
                                                  {"memories", JsonLines(memories)},
                                                  {"speaker", input.turn.speaker},
                                                  {"date", input.turn.session_time}})});
  return request;
}

Parsed<std::vector<ManagerOp>> ParseManagerOutput(std::string_view text, int shown_count) {
  using Result = Parsed<std::vector<ManagerOp>>;
  Parsed<json> found = FindJsonValue(text);
  if (!found.ok()) return Result::Fail(found.failure->kind, found.failure->detail);
  const json& root = *found.value;
  if (!root.is_object()) {
    return Result::Fail(FormatFailureKind::kWrongShape,
                        absl::StrCat("expected an object {\"memory\": [...]}, got a JSON ",
                                     root.type_name(), ": ", Excerpt(Dump(root))));
  }
  auto list_it = root.find("memory");
  if (list_it == root.end() || !list_it->is_array()) {
    return Result::Fail(FormatFailureKind::kWrongShape,
                        absl::StrCat("expected a \"memory\" list, got: ", Excerpt(Dump(root))));
  }
  const json& list = *list_it;
  std::vector<ManagerOp> ops;
  ops.reserve(list.size());
  std::map<int, size_t> named;  // shown index -> first element naming it
  for (size_t i = 0; i < list.size(); ++i) {
    const json& element = list[i];
    const std::string where = absl::StrCat("memory[", i, "]");
    if (!element.is_object()) {
      return Result::Fail(FormatFailureKind::kWrongShape,
                          absl::StrCat(where, " is a ", element.type_name(),
                                       ", not an object: ", Excerpt(Dump(element))));
    }
    auto event_it = element.find("event");
    if (event_it == element.end() || !event_it->is_string()) {
      return Result::Fail(FormatFailureKind::kWrongShape,
                          absl::StrCat(where, " has no \"event\" string: ",
                                       Excerpt(Dump(element))));
    }
    const std::string event = absl::AsciiStrToUpper(
        absl::StripAsciiWhitespace(event_it->get_ref<const std::string&>()));
    ManagerOp op;
    if (event == "ADD") {
      op.event = v1::ADD;
    } else if (event == "UPDATE") {
      op.event = v1::UPDATE;
    } else if (event == "DELETE") {
      op.event = v1::DELETE;
    } else if (event == "NONE" || event == "NOOP") {
      op.event = v1::NOOP;
    } else {
      return Result::Fail(FormatFailureKind::kUnknownEvent,
                          absl::StrCat(where, ": unknown event ", Dump(*event_it),
                                       " (expected ADD, UPDATE, DELETE or NONE)"));
    }
    auto text_it = element.find("text");
    if (text_it != element.end() && !text_it->is_null() && !text_it->is_string()) {
      return Result::Fail(FormatFailureKind::kWrongShape,
                          absl::StrCat(where, ": \"text\" is a ", text_it->type_name(),
                                       ", not a string"));
    }
    if (text_it != element.end() && text_it->is_string()) {
      op.text = std::string(absl::StripAsciiWhitespace(text_it->get_ref<const std::string&>()));
    }
    if (auto old_it = element.find("old_memory"); old_it != element.end() && old_it->is_string()) {
      // Informational only (the store keeps the real old text), so a malformed one is ignored.
      op.old_memory = old_it->get<std::string>();
    }
    const IdRef id = ReadId(element, shown_count);
    switch (op.event) {
      case v1::ADD:
        break;  // the store assigns ids; whatever the model wrote is ignored
      case v1::UPDATE:
        if (id.index < 0) {
          return Result::Fail(
              FormatFailureKind::kUnknownId,
              id.present ? absl::StrCat(where, ": UPDATE of id ", id.text, ", but ",
                                        ShownRange(shown_count))
                         : absl::StrCat(where, ": UPDATE without an id"));
        }
        break;
      case v1::DELETE:
        if (id.index < 0) {
          return Result::Fail(
              FormatFailureKind::kDeleteNotShown,
              id.present ? absl::StrCat(where, ": DELETE of id ", id.text, ", but ",
                                        ShownRange(shown_count))
                         : absl::StrCat(where, ": DELETE without an id"));
        }
        break;
      default:  // NOOP
        if (id.present && id.index < 0) {
          return Result::Fail(FormatFailureKind::kUnknownId,
                              absl::StrCat(where, ": NONE of id ", id.text, ", but ",
                                           ShownRange(shown_count)));
        }
        break;
    }
    if ((op.event == v1::ADD || op.event == v1::UPDATE) && op.text.empty()) {
      return Result::Fail(FormatFailureKind::kMissingText,
                          absl::StrCat(where, ": ", op.event == v1::ADD ? "ADD" : "UPDATE",
                                       " without text: ", Excerpt(Dump(element))));
    }
    if (op.event != v1::ADD) op.shown_index = id.index;
    if (op.shown_index >= 0) {
      auto [it, inserted] = named.emplace(op.shown_index, i);
      if (!inserted) {
        return Result::Fail(FormatFailureKind::kConflictingOps,
                            absl::StrCat(where, " and memory[", it->second,
                                         "] both act on id \"", op.shown_index, "\""));
      }
    }
    ops.push_back(std::move(op));
  }
  return Result::Ok(std::move(ops));
}

std::vector<v1::Operation> ToOperations(const std::vector<ManagerOp>& ops,
                                        const ManagerInput& input) {
  std::vector<v1::Operation> out;
  out.reserve(ops.size());
  for (const ManagerOp& op : ops) {
    const bool names_shown =
        op.shown_index >= 0 && op.shown_index < static_cast<int>(input.shown.size());
    v1::Operation operation;
    operation.set_event(op.event);
    switch (op.event) {
      case v1::ADD:
      case v1::UPDATE:
        if (op.event == v1::UPDATE) {
          if (!names_shown) continue;  // not from ParseManagerOutput against this input
          operation.set_memory_id(input.shown[op.shown_index].id);
        }
        operation.set_text(op.text);
        operation.set_speaker(input.turn.speaker);
        operation.set_turn_id(input.turn.dia_id);
        operation.set_session_time(input.turn.session_time);
        break;
      case v1::DELETE:
        if (!names_shown) continue;
        operation.set_memory_id(input.shown[op.shown_index].id);
        break;
      case v1::NOOP:
        if (!names_shown) continue;  // an id-less NONE changes and logs nothing
        operation.set_memory_id(input.shown[op.shown_index].id);
        break;
      default:
        continue;
    }
    out.push_back(std::move(operation));
  }
  return out;
}

std::vector<v1::Operation> AddOnlyOperations(const ManagerInput& input) {
  std::vector<v1::Operation> out;
  out.reserve(input.facts.size());
  for (const std::string& fact : input.facts) {
    const absl::string_view text = absl::StripAsciiWhitespace(fact);
    if (text.empty()) continue;
    v1::Operation operation;
    operation.set_event(v1::ADD);
    operation.set_text(std::string(text));
    operation.set_speaker(input.turn.speaker);
    operation.set_turn_id(input.turn.dia_id);
    operation.set_session_time(input.turn.session_time);
    out.push_back(std::move(operation));
  }
  return out;
}

}  // namespace memr1::actor
