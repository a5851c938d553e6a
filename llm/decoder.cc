#include "llm/decoder.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h on LibTorch 2.x)
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_status.h"
#include "llm/rope.h"

namespace memr1::llm {

namespace internal {

namespace {

// What every layer of one forward shares.
struct LayerInputs {
  at::Tensor cos;   // [B, T, 1, head_dim] compute dtype
  at::Tensor sin;
  at::Tensor mask;  // [B, T, Tk] bool: may query t of row b attend key k
  // Incremental decoding only.
  KvCache* cache = nullptr;
  at::Tensor write_src;   // [N] rows of the [B * T] token axis that are real
  at::Tensor write_slot;  // [N] their cache slot
  at::Tensor write_pos;   // [N] their cache position
  at::Tensor read_slots;  // [B] cache slot of each row; undefined = 0..B-1
  int64_t key_len = 0;    // Tk
};

at::TensorOptions Options(c10::Device device, c10::ScalarType dtype) {
  return at::TensorOptions().device(device).dtype(dtype);
}

}  // namespace

struct Linear : torch::nn::Module {
  Linear(int64_t in, int64_t out, bool has_bias, const at::TensorOptions& options) {
    weight = register_parameter("weight", at::zeros({out, in}, options));
    if (has_bias) bias = register_parameter("bias", at::zeros({out}, options));
  }
  at::Tensor Forward(const at::Tensor& x) const { return at::linear(x, weight, bias); }
  at::Tensor weight;
  at::Tensor bias;
};

struct RMSNorm : torch::nn::Module {
  RMSNorm(int64_t dim, double eps, const at::TensorOptions& options) : eps(eps) {
    weight = register_parameter("weight", at::ones({dim}, options));
  }
  at::Tensor Forward(const at::Tensor& x) const {
    at::Tensor h = x.to(at::kFloat);
    h = h * at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight * h.to(x.scalar_type());
  }
  double eps;
  at::Tensor weight;
};

struct Embedding : torch::nn::Module {
  Embedding(int64_t vocab, int64_t dim, const at::TensorOptions& options) {
    weight = register_parameter("weight", at::zeros({vocab, dim}, options));
  }
  at::Tensor weight;
};

namespace {

at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

at::Tensor ApplyRope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x * cos + RotateHalf(x) * sin;
}

// q [B, T, Hq, D]; keys/values [B, Tk, Hkv, D]; mask [B, T, Tk]. Returns [B, T, Hq * D].
// Query heads are grouped by the key/value head they share (q head h * n_rep + r uses kv head
// h, as transformers' repeat_kv), so keys and values are never copied per query head.
at::Tensor DenseAttention(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                          const at::Tensor& mask) {
  const int64_t b = q.size(0), t = q.size(1), hq = q.size(2), d = q.size(3);
  const int64_t hkv = keys.size(2), tk = keys.size(1), rep = hq / hkv;
  at::Tensor qg = q.view({b, t, hkv, rep, d}).permute({0, 2, 3, 1, 4}).reshape({b, hkv, rep * t, d});
  at::Tensor v = values.permute({0, 2, 1, 3});  // [B, Hkv, Tk, D]
  at::Tensor out;
#if TORCH_VERSION_MAJOR >= 2
  at::Tensor k = keys.permute({0, 2, 1, 3});
  // A query with no visible key (padding) would get NaN from SDPA; let it see every key, which
  // is what the float32 path's uniform softmax over equally masked scores amounts to.
  at::Tensor visible = mask.logical_or(mask.any(-1, /*keepdim=*/true).logical_not());
  at::Tensor m = visible.view({b, 1, 1, t, tk}).expand({b, 1, rep, t, tk}).reshape({b, 1, rep * t, tk});
  out = at::scaled_dot_product_attention(qg, k, v, m, 0.0, false);
#else
  const double scaling = 1.0 / std::sqrt(static_cast<double>(d));
  at::Tensor scores = at::matmul(qg, keys.permute({0, 2, 3, 1})) * scaling;  // [B,Hkv,rep*T,Tk]
  scores = scores.view({b, hkv, rep, t, tk})
               .to(at::kFloat)
               .masked_fill(mask.logical_not().view({b, 1, 1, t, tk}),
                            std::numeric_limits<float>::lowest());
  at::Tensor probs = at::softmax(scores, -1).to(q.scalar_type()).view({b, hkv, rep * t, tk});
  out = at::matmul(probs, v);  // [B, Hkv, rep * T, D]
#endif
  return out.view({b, hkv, rep, t, d}).permute({0, 3, 1, 2, 4}).reshape({b, t, hq * d});
}

// Attention of q [B, T, Hq, D] over keys/values [B, Tk, Hkv, D] under mask [B, T, Tk], in chunks
// of query positions so that one chunk's scores ([B, Hq, chunk, Tk] floats) stay near
// kScoreBytes. Unchunked, a batched prefill of long prompts makes score tensors of hundreds of
// MB (gigabytes at 4k tokens): past glibc's mmap threshold every such temporary is a fresh
// mapping, and page faults then cost more than the attention itself.
at::Tensor AttentionCore(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                         const at::Tensor& mask) {
  constexpr int64_t kScoreBytes = int64_t{8} << 20;
  const int64_t b = q.size(0), t = q.size(1), hq = q.size(2), tk = keys.size(1);
  const int64_t per_query = std::max<int64_t>(1, b * hq * tk * 4);
  const int64_t chunk = std::max<int64_t>(1, kScoreBytes / per_query);
  if (chunk >= t) return DenseAttention(q, keys, values, mask);
  std::vector<at::Tensor> parts;
  parts.reserve((t + chunk - 1) / chunk);
  for (int64_t start = 0; start < t; start += chunk) {
    const int64_t len = std::min(chunk, t - start);
    parts.push_back(DenseAttention(q.narrow(1, start, len), keys, values, mask.narrow(1, start, len)));
  }
  return at::cat(parts, 1);
}

}  // namespace

struct Attention : torch::nn::Module {
  Attention(const ModelConfig& c, const at::TensorOptions& o)
      : num_heads(c.num_attention_heads), num_kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
    q_proj = register_module("q_proj", std::make_shared<Linear>(c.hidden_size, num_heads * head_dim, c.attention_bias, o));
    k_proj = register_module("k_proj", std::make_shared<Linear>(c.hidden_size, num_kv_heads * head_dim, c.attention_bias, o));
    v_proj = register_module("v_proj", std::make_shared<Linear>(c.hidden_size, num_kv_heads * head_dim, c.attention_bias, o));
    o_proj = register_module("o_proj", std::make_shared<Linear>(num_heads * head_dim, c.hidden_size, false, o));
    if (c.qk_norm) {
      q_norm = register_module("q_norm", std::make_shared<RMSNorm>(head_dim, c.rms_norm_eps, o));
      k_norm = register_module("k_norm", std::make_shared<RMSNorm>(head_dim, c.rms_norm_eps, o));
    }
  }

  at::Tensor Forward(const at::Tensor& x, const LayerInputs& in, int64_t layer) const {
    const int64_t b = x.size(0), t = x.size(1);
    at::Tensor q = q_proj->Forward(x).view({b, t, num_heads, head_dim});
    at::Tensor k = k_proj->Forward(x).view({b, t, num_kv_heads, head_dim});
    at::Tensor v = v_proj->Forward(x).view({b, t, num_kv_heads, head_dim});
    if (q_norm) {
      q = q_norm->Forward(q);
      k = k_norm->Forward(k);
    }
    q = ApplyRope(q, in.cos, in.sin);
    k = ApplyRope(k, in.cos, in.sin);
    at::Tensor keys = k, values = v;
    if (in.cache != nullptr) {
      at::Tensor& kc = in.cache->keys(layer);
      at::Tensor& vc = in.cache->values(layer);
      kc.index_put_({in.write_slot, in.write_pos},
                    k.reshape({b * t, num_kv_heads, head_dim}).index_select(0, in.write_src));
      vc.index_put_({in.write_slot, in.write_pos},
                    v.reshape({b * t, num_kv_heads, head_dim}).index_select(0, in.write_src));
      keys = kc.narrow(1, 0, in.key_len);
      values = vc.narrow(1, 0, in.key_len);
      if (in.read_slots.defined()) {
        keys = keys.index_select(0, in.read_slots);
        values = values.index_select(0, in.read_slots);
      } else {
        keys = keys.narrow(0, 0, b);
        values = values.narrow(0, 0, b);
      }
    }
    return o_proj->Forward(AttentionCore(q, keys, values, in.mask));
  }

  int64_t num_heads, num_kv_heads, head_dim;
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;
  std::shared_ptr<RMSNorm> q_norm, k_norm;
};

struct Mlp : torch::nn::Module {
  Mlp(const ModelConfig& c, const at::TensorOptions& o) {
    gate_proj = register_module("gate_proj", std::make_shared<Linear>(c.hidden_size, c.intermediate_size, false, o));
    up_proj = register_module("up_proj", std::make_shared<Linear>(c.hidden_size, c.intermediate_size, false, o));
    down_proj = register_module("down_proj", std::make_shared<Linear>(c.intermediate_size, c.hidden_size, false, o));
  }
  at::Tensor Forward(const at::Tensor& x) const {
    return down_proj->Forward(at::silu(gate_proj->Forward(x)) * up_proj->Forward(x));
  }
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

struct DecoderLayer : torch::nn::Module {
  DecoderLayer(const ModelConfig& c, const at::TensorOptions& o) {
    self_attn = register_module("self_attn", std::make_shared<Attention>(c, o));
    mlp = register_module("mlp", std::make_shared<Mlp>(c, o));
    input_layernorm = register_module("input_layernorm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps, o));
    post_attention_layernorm = register_module(
        "post_attention_layernorm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps, o));
  }
  at::Tensor Forward(const at::Tensor& x, const LayerInputs& in, int64_t layer) const {
    at::Tensor h = x + self_attn->Forward(input_layernorm->Forward(x), in, layer);
    return h + mlp->Forward(post_attention_layernorm->Forward(h));
  }
  std::shared_ptr<Attention> self_attn;
  std::shared_ptr<Mlp> mlp;
  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;
};

struct Model : torch::nn::Module {
  Model(const ModelConfig& c, const at::TensorOptions& o) {
    embed_tokens = register_module("embed_tokens", std::make_shared<Embedding>(c.vocab_size, c.hidden_size, o));
    auto list = std::make_shared<torch::nn::Module>();
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      layers.push_back(list->register_module(std::to_string(i), std::make_shared<DecoderLayer>(c, o)));
    }
    register_module("layers", list);
    norm = register_module("norm", std::make_shared<RMSNorm>(c.hidden_size, c.rms_norm_eps, o));
  }
  std::shared_ptr<Embedding> embed_tokens;
  std::vector<std::shared_ptr<DecoderLayer>> layers;
  std::shared_ptr<RMSNorm> norm;
};

struct CausalLMModule : torch::nn::Module {
  CausalLMModule(const ModelConfig& c, const at::TensorOptions& o) {
    model = register_module("model", std::make_shared<Model>(c, o));
    if (!c.tie_word_embeddings) {
      lm_head = register_module("lm_head", std::make_shared<Linear>(c.hidden_size, c.vocab_size, false, o));
    }
  }
  std::shared_ptr<Model> model;
  std::shared_ptr<Linear> lm_head;
};

namespace {

// Activation checkpointing of one decoder layer: forward runs without recording a graph;
// backward re-runs the layer with grad enabled and back-propagates through it, accumulating
// parameter gradients into .grad (the "reentrant" scheme of torch.utils.checkpoint). `anchor`
// is an empty tensor that requires grad, so the output is differentiable even when the layer's
// input is not (frozen embeddings).
struct CheckpointedLayer : torch::autograd::Function<CheckpointedLayer> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor hidden,
                            at::Tensor cos, at::Tensor sin, at::Tensor mask, at::Tensor anchor,
                            DecoderLayer* layer, int64_t index) {
    (void)anchor;
    ctx->save_for_backward({hidden, cos, sin, mask});
    ctx->saved_data["layer"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(layer));
    ctx->saved_data["index"] = index;
    LayerInputs in;
    in.cos = cos;
    in.sin = sin;
    in.mask = mask;
    return layer->Forward(hidden, in, index);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_output) {
    auto saved = ctx->get_saved_variables();
    auto* layer = reinterpret_cast<DecoderLayer*>(
        static_cast<intptr_t>(ctx->saved_data["layer"].toInt()));
    const int64_t index = ctx->saved_data["index"].toInt();
    at::Tensor hidden = saved[0].detach().requires_grad_(saved[0].requires_grad());
    LayerInputs in;
    in.cos = saved[1];
    in.sin = saved[2];
    in.mask = saved[3];
    {
      at::AutoGradMode enable(true);
      at::Tensor out = layer->Forward(hidden, in, index);
      torch::autograd::backward({out}, {grad_output[0]});
    }
    at::Tensor grad_hidden = hidden.requires_grad() ? hidden.grad() : at::Tensor();
    return {grad_hidden, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

}  // namespace internal

using internal::LayerInputs;

CausalLM::CausalLM(const ModelConfig& config, c10::Device device, c10::ScalarType dtype)
    : config_(config), device_(device), dtype_(dtype) {}

CausalLM::~CausalLM() = default;

absl::StatusOr<std::unique_ptr<CausalLM>> CausalLM::Create(const ModelConfig& config,
                                                           c10::Device device,
                                                           c10::ScalarType dtype) {
  MEMR1_RETURN_IF_ERROR(config.Validate());
  if (dtype != at::kFloat && dtype != at::kBFloat16 && dtype != at::kHalf) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported compute dtype ", c10::toString(dtype),
                     " (supported: float32, bfloat16, float16)"));
  }
  std::unique_ptr<CausalLM> model(new CausalLM(config, device, dtype));
  MEMR1_RETURN_IF_ERROR(TorchCall("creating the model", [&]() {
    model->module_ = std::make_shared<internal::CausalLMModule>(config, internal::Options(device, dtype));
    const std::vector<double> inv = RopeInverseFrequencies(config);
    model->inv_freq_ = at::tensor(std::vector<float>(inv.begin(), inv.end()), at::kFloat).to(device);
  }));
  return model;
}

torch::nn::Module& CausalLM::module() { return *module_; }

std::vector<std::pair<std::string, at::Tensor>> CausalLM::NamedParameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : module_->named_parameters(/*recurse=*/true)) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

int64_t CausalLM::NumParameters() const {
  int64_t n = 0;
  for (const auto& item : module_->named_parameters(true)) n += item.value().numel();
  return n;
}

at::Tensor CausalLM::LmHead(const at::Tensor& hidden) const {
  if (module_->lm_head) return module_->lm_head->Forward(hidden);
  return at::linear(hidden, module_->model->embed_tokens->weight);
}

absl::StatusOr<at::Tensor> CausalLM::Logits(const DecoderInput& input) {
  MEMR1_ASSIGN_OR_RETURN(at::Tensor hidden, Hidden(input));
  return TorchCall("LM head", [&]() { return LmHead(hidden); });
}

absl::StatusOr<at::Tensor> CausalLM::Hidden(const DecoderInput& input) {
  const at::Tensor& ids = input.input_ids;
  if (!ids.defined() || ids.dim() != 2 || ids.scalar_type() != at::kLong) {
    return absl::InvalidArgumentError("input_ids must be a [batch, tokens] int64 tensor");
  }
  const int64_t b = ids.size(0), t = ids.size(1);
  if (b == 0 || t == 0) return absl::InvalidArgumentError("input_ids is empty");
  for (const at::Tensor* other : {&input.attention_mask, &input.positions}) {
    if (other->defined() && (other->dim() != 2 || other->size(0) != b || other->size(1) != t)) {
      return absl::InvalidArgumentError(absl::StrCat(
          other == &input.attention_mask ? "attention_mask" : "positions",
          " must have the shape of input_ids [", b, ", ", t, "]"));
    }
  }
  at::Tensor result;
  MEMR1_RETURN_IF_ERROR(TorchCall("decoder forward", [&]() -> absl::Status {
    at::Tensor ids_dev = ids.to(device_);
    const int64_t min_id = ids_dev.min().item<int64_t>();
    const int64_t max_id = ids_dev.max().item<int64_t>();
    if (min_id < 0 || max_id >= config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", min_id < 0 ? min_id : max_id,
                                                     " is outside the vocabulary [0, ",
                                                     config_.vocab_size, ")"));
    }
    at::Tensor mask = input.attention_mask.defined()
                          ? input.attention_mask.to(device_).to(at::kBool)
                          : at::ones({b, t}, at::TensorOptions().device(device_).dtype(at::kBool));
    at::Tensor positions;
    LayerInputs in;
    std::vector<int64_t> slots(b), counts(b), before(b);
    std::optional<at::NoGradGuard> no_grad;
    KvCache* cache = input.cache;
    if (cache != nullptr) {
      no_grad.emplace();
      if (cache->num_layers() != config_.num_hidden_layers) {
        return absl::InvalidArgumentError("KV cache was made for another model");
      }
      if (input.cache_slots.defined()) {
        at::Tensor s = input.cache_slots.to(at::kCPU).to(at::kLong).contiguous();
        if (s.dim() != 1 || s.size(0) != b) {
          return absl::InvalidArgumentError(absl::StrCat("cache_slots must be [", b, "]"));
        }
        std::copy(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + b, slots.begin());
      } else {
        for (int64_t i = 0; i < b; ++i) slots[i] = i;
      }
      std::set<int64_t> unique;
      for (int64_t s : slots) {
        if (s < 0 || s >= cache->max_batch() || !unique.insert(s).second) {
          return absl::InvalidArgumentError(absl::StrCat(
              "cache slot ", s, " is out of range [0, ", cache->max_batch(), ") or repeated"));
        }
      }
      at::Tensor count_t = mask.sum(1).to(at::kCPU).to(at::kLong).contiguous();
      std::copy(count_t.data_ptr<int64_t>(), count_t.data_ptr<int64_t>() + b, counts.begin());
      at::Tensor arange_t = at::arange(t, at::TensorOptions().device(device_).dtype(at::kLong));
      at::Tensor expected = arange_t.unsqueeze(0) < count_t.to(device_).unsqueeze(1);
      if (!at::equal(expected, mask)) {
        return absl::InvalidArgumentError(
            "with a KV cache, the real tokens of each row must come before its padding");
      }
      int64_t key_len = 1;
      std::vector<int64_t> src, slot_idx, pos_idx;
      for (int64_t i = 0; i < b; ++i) {
        before[i] = cache->length(slots[i]);
        if (before[i] + counts[i] > cache->max_seq()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "KV cache slot ", slots[i], " would hold ", before[i] + counts[i],
              " tokens, more than its capacity ", cache->max_seq()));
        }
        key_len = std::max(key_len, before[i] + counts[i]);
        for (int64_t j = 0; j < counts[i]; ++j) {
          src.push_back(i * t + j);
          slot_idx.push_back(slots[i]);
          pos_idx.push_back(before[i] + j);
        }
      }
      auto long_dev = at::TensorOptions().dtype(at::kLong);
      in.cache = cache;
      in.write_src = at::tensor(src, long_dev).to(device_);
      in.write_slot = at::tensor(slot_idx, long_dev).to(device_);
      in.write_pos = at::tensor(pos_idx, long_dev).to(device_);
      in.key_len = key_len;
      bool identity = true;
      for (int64_t i = 0; i < b; ++i) identity = identity && slots[i] == i;
      if (!identity) in.read_slots = at::tensor(slots, long_dev).to(device_);
      at::Tensor query_pos = at::tensor(before, long_dev).to(device_).unsqueeze(1) + arange_t.unsqueeze(0);
      positions = query_pos;
      at::Tensor key_idx = at::arange(key_len, at::TensorOptions().device(device_).dtype(at::kLong));
      in.mask = key_idx.view({1, 1, key_len}) <= query_pos.unsqueeze(2);
    } else {
      positions = (mask.to(at::kLong).cumsum(1) - 1).clamp_min(0);
      at::Tensor causal = at::ones({t, t}, at::TensorOptions().device(device_).dtype(at::kBool)).tril();
      in.mask = causal.unsqueeze(0).logical_and(mask.unsqueeze(1));
    }
    if (input.positions.defined()) positions = input.positions.to(device_).to(at::kLong);
    at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq_;  // [B, T, D/2]
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    in.cos = emb.cos().to(dtype_).unsqueeze(2);
    in.sin = emb.sin().to(dtype_).unsqueeze(2);

    const internal::Model& model = *module_->model;
    at::Tensor h = at::embedding(model.embed_tokens->weight, ids_dev);
    const bool checkpoint =
        activation_checkpointing_ && cache == nullptr && at::GradMode::is_enabled();
    at::Tensor anchor;
    if (checkpoint) anchor = at::empty({0}, at::TensorOptions().device(device_)).requires_grad_(true);
    for (size_t i = 0; i < model.layers.size(); ++i) {
      if (checkpoint) {
        h = internal::CheckpointedLayer::apply(h, in.cos, in.sin, in.mask, anchor,
                                               model.layers[i].get(), static_cast<int64_t>(i));
      } else {
        h = model.layers[i]->Forward(h, in, static_cast<int64_t>(i));
      }
    }
    h = model.norm->Forward(h);
    if (cache != nullptr) {
      for (int64_t i = 0; i < b; ++i) cache->set_length(slots[i], before[i] + counts[i]);
    }
    result = h;
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<c10::ScalarType> ParseDtype(const std::string& name) {
  if (name == "float32" || name == "f32" || name == "fp32" || name == "float") return at::kFloat;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "f16" || name == "fp16" || name == "half") return at::kHalf;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype \"", name, "\" (supported: float32, bfloat16, float16)"));
}

absl::StatusOr<c10::Device> ParseDevice(const std::string& name) {
  return TorchCall(absl::StrCat("parsing device \"", name, "\""),
                   [&]() { return c10::Device(name); });
}

}  // namespace memr1::llm
