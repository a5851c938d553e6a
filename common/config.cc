#include "common/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/net.h"
#include "common/numbers.h"
#include "common/status_macros.h"
#include "memr1/v1/options.pb.h"

namespace memr1 {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string JoinPath(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : absl::StrCat(parent, ".", name);
}

const char* NodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Null:
      return "no value";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

const char* ExpectedKind(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
      return "an integer";
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "a non-negative integer";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "a number";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return "one of the enum names";
    case FieldDescriptor::CPPTYPE_STRING:
      return "a string";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return "a mapping";
  }
  return "a value";
}

std::string EnumChoices(const FieldDescriptor* field) {
  std::vector<std::string> names;
  const auto* type = field->enum_type();
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() == 0) continue;  // the *_UNSPECIFIED sentinel
    names.push_back(absl::AsciiStrToLower(type->value(i)->name()));
  }
  return absl::StrJoin(names, ", ");
}

std::string RangeText(const google::protobuf::FieldOptions& options) {
  const std::string low = options.HasExtension(v1::min)
                              ? absl::StrCat(options.GetExtension(v1::min_exclusive) ? "(" : "[",
                                             FormatDoubleShortest(options.GetExtension(v1::min)))
                              : "(-inf";
  const std::string high = options.HasExtension(v1::max)
                               ? absl::StrCat(FormatDoubleShortest(options.GetExtension(v1::max)), "]")
                               : "inf)";
  return absl::StrCat(low, ", ", high);
}

bool InRange(const google::protobuf::FieldOptions& options, double value) {
  if (options.HasExtension(v1::min)) {
    const double min = options.GetExtension(v1::min);
    if (options.GetExtension(v1::min_exclusive) ? !(value > min) : !(value >= min)) return false;
  }
  if (options.HasExtension(v1::max) && !(value <= options.GetExtension(v1::max))) return false;
  return true;
}

// Prefixes `location` and the key path to an error message.
absl::Status FieldError(const std::string& location, const std::string& path,
                        const std::string& message) {
  if (location.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", message));
  return absl::InvalidArgumentError(absl::StrCat(location, ": ", path, ": ", message));
}

// Converts YAML nodes into fields of a message, by reflection.
class YamlMerger {
 public:
  YamlMerger(std::string source, bool with_marks, ConfigLocations* locations)
      : source_(std::move(source)), with_marks_(with_marks), locations_(locations) {}

  absl::Status MergeMessage(const YAML::Node& node, const std::string& path, Message* message) {
    if (node.IsNull()) {
      if (path.empty()) return absl::OkStatus();  // an empty document: all defaults
      return FieldError(Where(node), path, "has no value (expected a mapping)");
    }
    if (!node.IsMap()) {
      return FieldError(Where(node), path.empty() ? "<document>" : path,
                        absl::StrCat("expected a mapping, got ", NodeKind(node)));
    }
    const Descriptor* descriptor = message->GetDescriptor();
    std::set<std::string> seen;
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar()) {
        return FieldError(Where(key), path.empty() ? "<document>" : path,
                          "keys must be plain names");
      }
      const std::string name = key.Scalar();
      const std::string child_path = JoinPath(path, name);
      const FieldDescriptor* field = descriptor->FindFieldByName(name);
      if (field == nullptr) {
        return FieldError(Where(key), child_path,
                          absl::StrCat("unknown key (", descriptor->full_name(), " has ",
                                       FieldNames(descriptor), ")"));
      }
      if (!seen.insert(name).second) {
        return FieldError(Where(key), child_path, "key given twice");
      }
      if (locations_ != nullptr) (*locations_)[child_path] = Where(key);
      MEMR1_RETURN_IF_ERROR(SetField(entry.second, child_path, message, field));
    }
    return absl::OkStatus();
  }

  absl::Status SetField(const YAML::Node& node, const std::string& path, Message* message,
                        const FieldDescriptor* field) {
    const Reflection* reflection = message->GetReflection();
    if (field->is_repeated()) {
      if (!node.IsSequence()) {
        return FieldError(Where(node), path,
                          absl::StrCat("expected a sequence of ", ExpectedKind(field), ", got ",
                                       NodeKind(node)));
      }
      reflection->ClearField(message, field);
      for (size_t i = 0; i < node.size(); ++i) {
        MEMR1_RETURN_IF_ERROR(
            AddOrSetValue(node[i], absl::StrCat(path, "[", i, "]"), message, field));
      }
      return absl::OkStatus();
    }
    return AddOrSetValue(node, path, message, field);
  }

 private:
  std::string Where(const YAML::Node& node) const {
    if (!with_marks_) return source_;
    const YAML::Mark mark = node.Mark();
    if (mark.line < 0) return source_;
    return absl::StrCat(source_, ":", mark.line + 1, ":", mark.column + 1);
  }

  static std::string FieldNames(const Descriptor* descriptor) {
    std::vector<std::string> names;
    for (int i = 0; i < descriptor->field_count(); ++i) names.push_back(descriptor->field(i)->name());
    return absl::StrJoin(names, ", ");
  }

  absl::Status CheckRange(const YAML::Node& node, const std::string& path,
                          const FieldDescriptor* field, double value) {
    if (!InRange(field->options(), value)) {
      return FieldError(Where(node), path,
                        absl::StrCat(node.Scalar(), " is out of range ",
                                     RangeText(field->options())));
    }
    return absl::OkStatus();
  }

  // Sets a singular field, or appends to a repeated one.
  absl::Status AddOrSetValue(const YAML::Node& node, const std::string& path, Message* message,
                             const FieldDescriptor* field) {
    const Reflection* reflection = message->GetReflection();
    const bool repeated = field->is_repeated();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      Message* child = repeated ? reflection->AddMessage(message, field)
                                : reflection->MutableMessage(message, field);
      return MergeMessage(node, path, child);
    }
    if (!node.IsScalar()) {
      return FieldError(Where(node), path,
                        absl::StrCat("expected ", ExpectedKind(field), ", got ", NodeKind(node)));
    }
    const std::string& text = node.Scalar();
    const auto wrong = [&]() {
      return FieldError(Where(node), path,
                        absl::StrCat("expected ", ExpectedKind(field), ", got '", text, "'"));
    };
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: {
        int32_t value;
        if (!absl::SimpleAtoi(text, &value)) return wrong();
        MEMR1_RETURN_IF_ERROR(CheckRange(node, path, field, value));
        repeated ? reflection->AddInt32(message, field, value)
                 : reflection->SetInt32(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t value;
        if (!absl::SimpleAtoi(text, &value)) return wrong();
        MEMR1_RETURN_IF_ERROR(CheckRange(node, path, field, static_cast<double>(value)));
        repeated ? reflection->AddInt64(message, field, value)
                 : reflection->SetInt64(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_UINT32: {
        uint32_t value;
        if (absl::StartsWith(text, "-") || !absl::SimpleAtoi(text, &value)) return wrong();
        MEMR1_RETURN_IF_ERROR(CheckRange(node, path, field, value));
        repeated ? reflection->AddUInt32(message, field, value)
                 : reflection->SetUInt32(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t value;
        if (absl::StartsWith(text, "-") || !absl::SimpleAtoi(text, &value)) return wrong();
        MEMR1_RETURN_IF_ERROR(CheckRange(node, path, field, static_cast<double>(value)));
        repeated ? reflection->AddUInt64(message, field, value)
                 : reflection->SetUInt64(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double value;
        if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) return wrong();
        MEMR1_RETURN_IF_ERROR(CheckRange(node, path, field, value));
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
          repeated ? reflection->AddFloat(message, field, static_cast<float>(value))
                   : reflection->SetFloat(message, field, static_cast<float>(value));
        } else {
          repeated ? reflection->AddDouble(message, field, value)
                   : reflection->SetDouble(message, field, value);
        }
        break;
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        const std::string lower = absl::AsciiStrToLower(text);
        bool value;
        if (lower == "true" || lower == "yes" || lower == "on") {
          value = true;
        } else if (lower == "false" || lower == "no" || lower == "off") {
          value = false;
        } else {
          return wrong();
        }
        repeated ? reflection->AddBool(message, field, value)
                 : reflection->SetBool(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        const EnumValueDescriptor* value =
            field->enum_type()->FindValueByName(absl::AsciiStrToUpper(text));
        if (value == nullptr || value->number() == 0) {
          return FieldError(Where(node), path,
                            absl::StrCat("'", text, "' is not one of: ", EnumChoices(field)));
        }
        repeated ? reflection->AddEnum(message, field, value)
                 : reflection->SetEnum(message, field, value);
        break;
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        repeated ? reflection->AddString(message, field, text)
                 : reflection->SetString(message, field, text);
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        break;  // handled above
    }
    return absl::OkStatus();
  }

  std::string source_;
  bool with_marks_;
  ConfigLocations* locations_;
};

std::string LocationOf(const ConfigLocations& locations, const std::string& path) {
  const auto it = locations.find(path);
  return it == locations.end() ? "" : it->second;
}

absl::Status CheckOptionsRecursive(const Message& message, const std::string& path,
                                   const ConfigLocations& locations) {
  const Descriptor* descriptor = message.GetDescriptor();
  const Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const std::string field_path = JoinPath(path, field->name());
    const auto& options = field->options();
    const auto check_number = [&](double value, const std::string& at) -> absl::Status {
      if (!InRange(options, value)) {
        return FieldError(LocationOf(locations, field_path), at,
                          absl::StrCat(FormatDoubleShortest(value), " is out of range ",
                                       RangeText(options)));
      }
      return absl::OkStatus();
    };
    const int count = field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int k = 0; k < count; ++k) {
      const std::string at = field->is_repeated() ? absl::StrCat(field_path, "[", k, "]") : field_path;
      const bool rep = field->is_repeated();
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
          MEMR1_RETURN_IF_ERROR(check_number(
              rep ? reflection->GetRepeatedInt32(message, field, k) : reflection->GetInt32(message, field), at));
          break;
        case FieldDescriptor::CPPTYPE_INT64:
          MEMR1_RETURN_IF_ERROR(check_number(static_cast<double>(
              rep ? reflection->GetRepeatedInt64(message, field, k) : reflection->GetInt64(message, field)), at));
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          MEMR1_RETURN_IF_ERROR(check_number(
              rep ? reflection->GetRepeatedUInt32(message, field, k) : reflection->GetUInt32(message, field), at));
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          MEMR1_RETURN_IF_ERROR(check_number(static_cast<double>(
              rep ? reflection->GetRepeatedUInt64(message, field, k) : reflection->GetUInt64(message, field)), at));
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          MEMR1_RETURN_IF_ERROR(check_number(
              rep ? reflection->GetRepeatedDouble(message, field, k) : reflection->GetDouble(message, field), at));
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          MEMR1_RETURN_IF_ERROR(check_number(
              rep ? reflection->GetRepeatedFloat(message, field, k) : reflection->GetFloat(message, field), at));
          break;
        case FieldDescriptor::CPPTYPE_STRING:
          if (options.GetExtension(v1::nonempty) &&
              (rep ? reflection->GetRepeatedString(message, field, k)
                   : reflection->GetString(message, field))
                  .empty()) {
            return FieldError(LocationOf(locations, field_path), at, "must not be empty");
          }
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE:
          MEMR1_RETURN_IF_ERROR(CheckOptionsRecursive(
              rep ? reflection->GetRepeatedMessage(message, field, k) : reflection->GetMessage(message, field),
              at, locations));
          break;
        default:
          break;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status LoadYamlDocument(const std::string& yaml_text, const std::string& source,
                              YAML::Node* node) {
  try {
    *node = YAML::Load(yaml_text);
  } catch (const YAML::Exception& error) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":", error.mark.line + 1, ":",
                                                   error.mark.column + 1, ": YAML syntax error: ",
                                                   error.msg));
  }
  return absl::OkStatus();
}

void EmitScalarField(YAML::Emitter& out, const Message& message, const FieldDescriptor* field,
                     int index) {
  const Reflection* r = message.GetReflection();
  const bool rep = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      out << (rep ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      out << (rep ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      out << (rep ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      out << (rep ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      out << FormatDoubleShortest(rep ? r->GetRepeatedDouble(message, field, index)
                                      : r->GetDouble(message, field));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      out << FormatDoubleShortest(rep ? r->GetRepeatedFloat(message, field, index)
                                      : r->GetFloat(message, field));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out << (rep ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field));
      break;
    case FieldDescriptor::CPPTYPE_ENUM:
      out << absl::AsciiStrToLower(
          (rep ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field))->name());
      break;
    case FieldDescriptor::CPPTYPE_STRING: {
      const std::string value =
          rep ? r->GetRepeatedString(message, field, index) : r->GetString(message, field);
      // Always quoted, so strings that look like numbers or booleans read back as strings.
      out << YAML::DoubleQuoted << value;
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
}

void EmitMessage(YAML::Emitter& out, const Message& message) {
  const Descriptor* descriptor = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  out << YAML::BeginMap;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    out << YAML::Key << field->name() << YAML::Value;
    if (field->is_repeated()) {
      const int size = r->FieldSize(message, field);
      const bool scalars = field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE;
      if (scalars) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (int k = 0; k < size; ++k) {
        if (scalars) {
          EmitScalarField(out, message, field, k);
        } else {
          EmitMessage(out, r->GetRepeatedMessage(message, field, k));
        }
      }
      out << YAML::EndSeq;
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      EmitMessage(out, r->GetMessage(message, field));
    } else {
      EmitScalarField(out, message, field, -1);
    }
  }
  out << YAML::EndMap;
}

}  // namespace

absl::Status MergeYamlText(const std::string& yaml_text, const std::string& source,
                           Message* message, ConfigLocations* locations) {
  YAML::Node node;
  MEMR1_RETURN_IF_ERROR(LoadYamlDocument(yaml_text, source, &node));
  YamlMerger merger(source, /*with_marks=*/true, locations);
  return merger.MergeMessage(node, "", message);
}

absl::Status ApplyOverride(const std::string& assignment, Message* message,
                           ConfigLocations* locations) {
  const std::string source = absl::StrCat("--set ", assignment);
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": expected path=value, e.g. learner.actor_lr=1e-6"));
  }
  const std::string path = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  Message* current = message;
  const FieldDescriptor* field = nullptr;
  std::string walked;
  const std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    walked = JoinPath(walked, parts[i]);
    field = current->GetDescriptor()->FindFieldByName(parts[i]);
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", walked, ": unknown key"));
    }
    if (i + 1 < parts.size()) {
      if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || field->is_repeated()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": ", walked, ": is not a section, cannot go into it"));
      }
      current = current->GetReflection()->MutableMessage(current, field);
    }
  }
  YAML::Node node;
  if (field->is_repeated() || field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    MEMR1_RETURN_IF_ERROR(LoadYamlDocument(value, source, &node));
  } else {
    node = YAML::Node(value);  // verbatim: "a:b" stays a string, "1e-6" a number
  }
  if (locations != nullptr) (*locations)[path] = source;
  YamlMerger merger(source, /*with_marks=*/false, locations);
  return merger.SetField(node, path, current, field);
}

absl::Status CheckFieldOptions(const Message& message, const ConfigLocations& locations) {
  return CheckOptionsRecursive(message, "", locations);
}

absl::Status ValidateJobConfig(const v1::JobConfig& config, const ConfigLocations& locations) {
  const auto fail = [&](const std::string& path, const std::string& message) {
    return FieldError(LocationOf(locations, path), path, message);
  };
  const v1::LearnerConfig& learner = config.learner();
  const int64_t per_step = static_cast<int64_t>(learner.micro_batch_size()) * learner.num_ranks();
  if (learner.global_batch_size() % per_step != 0) {
    return fail("learner.global_batch_size",
                absl::StrCat(learner.global_batch_size(),
                             " is not a multiple of learner.micro_batch_size x learner.num_ranks (",
                             learner.micro_batch_size(), " x ", learner.num_ranks(), ")"));
  }
  if (learner.clip_eps_low() >= 1.0) {
    return fail("learner.clip_eps_low", "must be below 1 (the ratio's lower clip is 1 - eps)");
  }
  if (learner.dual_clip() != 0 && learner.dual_clip() <= 1.0) {
    return fail("learner.dual_clip", "must be 0 (off) or greater than 1");
  }
  const v1::SamplingConfig& sampling = config.actor().sampling();
  if (learner.algorithm() == v1::LearnerConfig::GRPO ||
      learner.algorithm() == v1::LearnerConfig::RLOO) {
    if (sampling.group_size() < 2) {
      return fail("actor.sampling.group_size",
                  "GRPO and RLOO compare completions within a group: needs at least 2");
    }
    if (learner.global_batch_size() % sampling.group_size() != 0) {
      return fail("learner.global_batch_size",
                  absl::StrCat(learner.global_batch_size(),
                               " is not a multiple of actor.sampling.group_size (",
                               sampling.group_size(), "): groups are kept whole"));
    }
  }
  if (learner.warmup_steps() > learner.total_steps()) {
    return fail("learner.warmup_steps", "is longer than learner.total_steps");
  }
  const std::string& device = config.model().device();
  const bool cuda = absl::StartsWith(device, "cuda");
  int index = 0;
  if (!(device == "cpu" || device == "cuda" ||
        (absl::StartsWith(device, "cuda:") && absl::SimpleAtoi(device.substr(5), &index) &&
         index >= 0))) {
    return fail("model.device", absl::StrCat("'", device, "' is not cpu, cuda or cuda:N"));
  }
  if (learner.communicator() == v1::LearnerConfig::NCCL && !cuda) {
    return fail("learner.communicator", "nccl needs model.device cuda");
  }
  for (int i = 0; i < config.memstore().shards_size(); ++i) {
    const auto parsed = ParseHostPort(config.memstore().shards(i));
    if (!parsed.ok()) {
      return fail(absl::StrCat("memstore.shards"), std::string(parsed.status().message()));
    }
  }
  const auto check_tls = [&](const v1::TlsConfig& tls, const std::string& path) -> absl::Status {
    if (tls.enabled() && (tls.cert_file().empty() || tls.key_file().empty())) {
      return fail(path, "enabled TLS needs cert_file and key_file");
    }
    return absl::OkStatus();
  };
  MEMR1_RETURN_IF_ERROR(check_tls(config.memstore().tls(), "memstore.tls"));
  const std::pair<const char*, std::string> addresses[] = {
      {"coordinator.listen", config.coordinator().listen()},
      {"learner.listen", config.learner().listen()},
      {"observability.metrics_listen", config.observability().metrics_listen()},
  };
  for (const auto& [path, address] : addresses) {
    if (address.empty() && std::string(path) == "observability.metrics_listen") continue;
    const auto parsed = ParseHostPort(address);
    if (!parsed.ok()) return fail(path, std::string(parsed.status().message()));
  }
  if (config.coordinator().heartbeat_seconds() >= config.coordinator().lease_seconds()) {
    return fail("coordinator.heartbeat_seconds",
                "must be shorter than coordinator.lease_seconds, or every lease expires");
  }
  if (config.data().dataset() != v1::DataConfig::SYNTHETIC && config.data().path().empty()) {
    return fail("data.path", "must name the dataset file");
  }
  if (config.eval().judge_enabled() &&
      (config.eval().judge().base_url().empty() || config.eval().judge().model().empty())) {
    return fail("eval.judge", "judge_enabled needs judge.base_url and judge.model");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::JobConfig> LoadJobConfigFromText(const std::string& yaml_text,
                                                    const std::string& source,
                                                    const std::vector<std::string>& overrides) {
  v1::JobConfig config;
  ConfigLocations locations;
  MEMR1_RETURN_IF_ERROR(MergeYamlText(yaml_text, source, &config, &locations));
  for (const std::string& assignment : overrides) {
    MEMR1_RETURN_IF_ERROR(ApplyOverride(assignment, &config, &locations));
  }
  MEMR1_RETURN_IF_ERROR(CheckFieldOptions(config, locations));
  MEMR1_RETURN_IF_ERROR(ValidateJobConfig(config, locations));
  return config;
}

absl::StatusOr<v1::JobConfig> LoadJobConfig(const std::string& path,
                                            const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("config file '", path, "' cannot be read"));
  std::ostringstream text;
  text << in.rdbuf();
  return LoadJobConfigFromText(text.str(), path, overrides);
}

std::string MessageToYaml(const Message& message) {
  YAML::Emitter out;
  out.SetIndent(2);
  EmitMessage(out, message);
  return std::string(out.c_str()) + "\n";
}

}  // namespace memr1
