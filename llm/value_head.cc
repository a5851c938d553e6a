#include "llm/value_head.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h on LibTorch 2.x)
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_status.h"
#include "llm/safetensors.h"

namespace memr1::llm {

absl::StatusOr<std::unique_ptr<ValueHead>> ValueHead::Create(int64_t hidden_size,
                                                             c10::Device device,
                                                             c10::ScalarType dtype,
                                                             uint64_t seed) {
  if (hidden_size <= 0) return absl::InvalidArgumentError("hidden_size must be positive");
  std::unique_ptr<ValueHead> head(new ValueHead());
  MEMR1_RETURN_IF_ERROR(TorchCall("creating the value head", [&]() {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    at::Tensor w = at::normal(0.0, 1.0 / std::sqrt(static_cast<double>(hidden_size + 1)),
                              {1, hidden_size}, gen, at::TensorOptions().dtype(at::kFloat));
    auto v_head = std::make_shared<torch::nn::Module>();
    head->weight_ = v_head->register_parameter("weight", w.to(device, dtype));
    head->bias_ = v_head->register_parameter(
        "bias", at::zeros({1}, at::TensorOptions().device(device).dtype(dtype)));
    head->module_ = std::make_shared<torch::nn::Module>();
    head->module_->register_module("v_head", v_head);
  }));
  return head;
}

absl::StatusOr<std::unique_ptr<ValueHead>> ValueHead::Load(const std::string& dir,
                                                           int64_t hidden_size,
                                                           c10::Device device,
                                                           c10::ScalarType dtype) {
  const std::string path = absl::StrCat(dir, "/", kValueHeadFile);
  MEMR1_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path));
  MEMR1_ASSIGN_OR_RETURN(auto head, Create(hidden_size, device, dtype));
  for (const char* name : {"v_head.weight", "v_head.bias"}) {
    MEMR1_ASSIGN_OR_RETURN(at::Tensor value, file->Load(name, device, dtype));
    at::Tensor& param = std::string(name) == "v_head.weight" ? head->weight_ : head->bias_;
    if (value.sizes() != param.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor \"", name, "\" has shape ",
                                                     c10::str(value.sizes()), ", expected ",
                                                     c10::str(param.sizes())));
    }
    MEMR1_RETURN_IF_ERROR(TorchCall("loading the value head", [&]() {
      at::NoGradGuard no_grad;
      param.copy_(value);
    }));
  }
  return head;
}

absl::Status ValueHead::Save(const std::string& dir) const {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  MEMR1_RETURN_IF_ERROR(TorchCall("saving the value head", [&]() {
    tensors.emplace_back("v_head.bias", bias_.detach().to(at::kCPU, at::kFloat));
    tensors.emplace_back("v_head.weight", weight_.detach().to(at::kCPU, at::kFloat));
  }));
  return WriteSafetensors(absl::StrCat(dir, "/", kValueHeadFile), tensors);
}

at::Tensor ValueHead::Forward(const at::Tensor& hidden) const {
  return at::linear(hidden.to(weight_.scalar_type()), weight_, bias_).squeeze(-1).to(at::kFloat);
}

}  // namespace memr1::llm
