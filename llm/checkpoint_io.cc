#include "llm/checkpoint_io.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h on LibTorch 2.x)

#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::llm {

namespace {

std::string DtypeConfigName(c10::ScalarType dtype) {
  switch (dtype) {
    case at::kBFloat16:
      return "bfloat16";
    case at::kHalf:
      return "float16";
    default:
      return "float32";
  }
}

// Checkpoint tensors that are not parameters but are allowed: a tied LM head saved anyway,
// and the RoPE buffers older transformers versions saved.
bool Ignorable(const std::string& name, const ModelConfig& config) {
  if (config.tie_word_embeddings && name == "lm_head.weight") return true;
  return absl::EndsWith(name, "rotary_emb.inv_freq");
}

}  // namespace

absl::Status LoadWeights(const SafetensorsCheckpoint& checkpoint, CausalLM* model) {
  const auto params = model->NamedParameters();
  std::map<std::string, at::Tensor> by_name(params.begin(), params.end());
  for (const std::string& name : checkpoint.names()) {
    if (by_name.count(name) == 0 && !Ignorable(name, model->config())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint tensor \"", name, "\" is not a parameter of ",
          ArchitectureClassName(model->config().arch), " with this config"));
    }
  }
  for (const auto& [name, param] : params) {
    if (!checkpoint.Contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint lacks tensor \"", name, "\""));
    }
    MEMR1_ASSIGN_OR_RETURN(SafetensorsEntry entry, checkpoint.Entry(name));
    if (entry.shape != param.sizes().vec()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint tensor \"", name, "\" has shape [", absl::StrJoin(entry.shape, ", "),
          "], the config needs [", absl::StrJoin(param.sizes().vec(), ", "), "]"));
    }
    if (entry.dtype != "F32" && entry.dtype != "F16" && entry.dtype != "BF16") {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint tensor \"", name,
                                                     "\" has dtype ", entry.dtype,
                                                     " (supported: F32, F16, BF16)"));
    }
  }
  for (const auto& [name, param] : params) {
    MEMR1_ASSIGN_OR_RETURN(at::Tensor value,
                           checkpoint.Load(name, param.device(), param.scalar_type()));
    MEMR1_RETURN_IF_ERROR(TorchCall(absl::StrCat("copying \"", name, "\""), [&]() {
      at::NoGradGuard no_grad;
      param.copy_(value);
    }));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CausalLM>> LoadCausalLM(const std::string& dir, c10::Device device,
                                                       c10::ScalarType dtype) {
  MEMR1_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir));
  MEMR1_ASSIGN_OR_RETURN(auto checkpoint, SafetensorsCheckpoint::Open(dir));
  MEMR1_ASSIGN_OR_RETURN(auto model, CausalLM::Create(config, device, dtype));
  absl::Status status = LoadWeights(*checkpoint, model.get());
  if (!status.ok()) return Annotate(status, dir);
  return model;
}

absl::Status SaveCausalLM(const CausalLM& model, const std::string& dir,
                          const SaveOptions& options) {
  const c10::ScalarType dtype = options.dtype.value_or(model.dtype());
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  MEMR1_RETURN_IF_ERROR(TorchCall("preparing tensors to save", [&]() {
    for (const auto& [name, param] : model.NamedParameters()) {
      tensors.emplace_back(name, param.detach().to(at::kCPU, dtype));
    }
  }));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create directory: ", ec.message()));
  MEMR1_RETURN_IF_ERROR(WriteSafetensorsCheckpoint(dir, tensors, options.max_shard_bytes));
  ModelConfig config = model.config();
  config.torch_dtype = DtypeConfigName(dtype);
  const std::string path = dir + "/config.json";
  std::ofstream out(path + ".tmp", std::ios::binary | std::ios::trunc);
  out << ModelConfigToJson(config);
  out.close();
  if (!out || std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": cannot write"));
  }
  return absl::OkStatus();
}

}  // namespace memr1::llm
