#include "llm/model_init.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h on LibTorch 2.x)
#include <ATen/CPUGeneratorImpl.h>

#include <string>

#include "absl/strings/match.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::llm {

absl::Status InitializeRandom(CausalLM* model, const InitOptions& options) {
  const double std = options.std > 0 ? options.std : model->config().initializer_range;
  return TorchCall("initialising the model", [&]() {
    at::NoGradGuard no_grad;
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
    for (auto& [name, param] : model->NamedParameters()) {
      const auto cpu = at::TensorOptions().dtype(at::kFloat);
      at::Tensor value;
      const bool is_norm = absl::EndsWith(name, "norm.weight");
      const bool is_bias = absl::EndsWith(name, ".bias");
      if (is_norm) {
        value = at::ones(param.sizes(), cpu);
        if (options.perturb > 0) value = value + at::normal(0.0, options.perturb, param.sizes(), gen, cpu);
      } else if (is_bias) {
        value = options.perturb > 0 ? at::normal(0.0, options.perturb, param.sizes(), gen, cpu)
                                    : at::zeros(param.sizes(), cpu);
      } else {
        value = at::normal(0.0, std, param.sizes(), gen, cpu);
      }
      param.copy_(value.to(param.device(), param.scalar_type()));
    }
  });
}

}  // namespace memr1::llm
