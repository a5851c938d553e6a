#include "learner/adamw.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::learner {

absl::Status AdamWOptions::Validate() const {
  if (beta1 < 0 || beta1 >= 1) return absl::InvalidArgumentError("adam beta1 must be in [0, 1)");
  if (beta2 < 0 || beta2 >= 1) return absl::InvalidArgumentError("adam beta2 must be in [0, 1)");
  if (!(eps > 0)) return absl::InvalidArgumentError("adam eps must be > 0");
  if (weight_decay < 0) return absl::InvalidArgumentError("weight decay must be >= 0");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ShardedAdamW>> ShardedAdamW::Create(std::vector<at::Tensor> params,
                                                                   const AdamWOptions& options,
                                                                   Communicator* comm) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  if (comm == nullptr) return absl::InvalidArgumentError("AdamW: no communicator");
  if (params.empty()) return absl::InvalidArgumentError("AdamW: no parameters");
  for (size_t i = 0; i < params.size(); ++i) {
    if (!at::isFloatingType(params[i].scalar_type()) ||
        params[i].scalar_type() != params[0].scalar_type() ||
        params[i].device() != params[0].device() || !params[i].is_contiguous()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "AdamW: parameter ", i, " differs in dtype/device from parameter 0 or is not contiguous"));
    }
  }
  std::unique_ptr<ShardedAdamW> optimizer(new ShardedAdamW(std::move(params), options, comm));
  MEMR1_RETURN_IF_ERROR(TorchCall("AdamW state", [&] {
    at::NoGradGuard no_grad;
    ShardedAdamW& o = *optimizer;
    const at::Device state_device =
        options.offload_state ? at::Device(at::kCPU) : o.params_[0].device();
    const auto f32 = at::TensorOptions().dtype(at::kFloat).device(state_device);
    const int64_t length = o.end_ - o.begin_;
    o.master_ = at::empty({length}, f32);
    for (const Piece& piece : o.pieces_) {
      o.master_.narrow(0, piece.shard_offset, piece.length)
          .copy_(o.params_[piece.param].view(-1).narrow(0, piece.param_offset, piece.length));
    }
    o.exp_avg_ = at::zeros({length}, f32);
    o.exp_avg_sq_ = at::zeros({length}, f32);
  }));
  return optimizer;
}

ShardedAdamW::ShardedAdamW(std::vector<at::Tensor> params, const AdamWOptions& options,
                           Communicator* comm)
    : params_(std::move(params)), options_(options), comm_(comm) {
  for (const auto& p : params_) total_ += p.numel();
  const int world = options_.shard_state ? comm_->world_size() : 1;
  const int rank = options_.shard_state ? comm_->rank() : 0;
  shard_size_ = (total_ + world - 1) / world;
  begin_ = std::min(total_, rank * shard_size_);
  end_ = std::min(total_, begin_ + shard_size_);
  int64_t offset = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t n = params_[i].numel();
    const int64_t lo = std::max(begin_, offset), hi = std::min(end_, offset + n);
    if (lo < hi) pieces_.push_back(Piece{i, lo - offset, lo - begin_, hi - lo});
    offset += n;
  }
}

at::Tensor ShardedAdamW::GatherShardGradient() const {
  at::Tensor grad = at::zeros_like(master_);
  for (const Piece& piece : pieces_) {
    const at::Tensor& g = params_[piece.param].grad();
    if (!g.defined()) continue;
    grad.narrow(0, piece.shard_offset, piece.length)
        .copy_(g.reshape(-1).narrow(0, piece.param_offset, piece.length));
  }
  return grad;
}

absl::Status ShardedAdamW::Step(double lr) {
  return TorchCall("AdamW step", [&]() -> absl::Status {
    at::NoGradGuard no_grad;
    const int64_t t = steps_ + 1;
    const double b1 = options_.beta1, b2 = options_.beta2;
    const at::Tensor grad = GatherShardGradient();
    // PyTorch's AdamW: decay, then the moment updates and the bias-corrected step.
    master_.mul_(1.0 - lr * options_.weight_decay);
    exp_avg_.mul_(b1).add_(grad, 1.0 - b1);
    exp_avg_sq_.mul_(b2).addcmul_(grad, grad, 1.0 - b2);
    const double bias1 = 1.0 - std::pow(b1, static_cast<double>(t));
    const double bias2 = 1.0 - std::pow(b2, static_cast<double>(t));
    const at::Tensor denom = (exp_avg_sq_.sqrt() / std::sqrt(bias2)).add_(options_.eps);
    master_.addcdiv_(exp_avg_, denom, -lr / bias1);

    if (!options_.shard_state || comm_->world_size() == 1) {
      for (const Piece& piece : pieces_) {
        params_[piece.param].view(-1).narrow(0, piece.param_offset, piece.length)
            .copy_(master_.narrow(0, piece.shard_offset, piece.length));
      }
    } else {
      MEMR1_RETURN_IF_ERROR(GatherParameters());
    }
    steps_ = t;
    return absl::OkStatus();
  });
}

void ShardedAdamW::WriteFlatRange(int64_t begin, const at::Tensor& values) {
  const int64_t end = begin + values.numel();
  int64_t offset = 0;
  for (auto& p : params_) {
    const int64_t n = p.numel();
    const int64_t lo = std::max(begin, offset), hi = std::min(end, offset + n);
    if (lo < hi) p.view(-1).narrow(0, lo - offset, hi - lo).copy_(values.narrow(0, lo - begin, hi - lo));
    offset += n;
    if (offset >= end) break;
  }
}

absl::Status ShardedAdamW::GatherParameters() {
  // Slices are gathered in chunks so that the buffers stay at (world + 1) x chunk elements
  // instead of a second copy of the model.
  const int world = comm_->world_size();
  const int64_t chunk = std::max<int64_t>(1, std::min(shard_size_, options_.gather_chunk_elements));
  const auto options = params_[0].options();
  at::Tensor send = at::empty({chunk}, options);
  at::Tensor gathered = at::empty({chunk * world}, options);
  const int64_t local = end_ - begin_;
  for (int64_t offset = 0; offset < shard_size_; offset += chunk) {
    const int64_t n = std::min(chunk, shard_size_ - offset);
    send.zero_();
    const int64_t mine = std::max<int64_t>(0, std::min(n, local - offset));
    if (mine > 0) send.narrow(0, 0, mine).copy_(master_.narrow(0, offset, mine));
    MEMR1_RETURN_IF_ERROR(comm_->AllGather(send, gathered));
    for (int r = 0; r < world; ++r) {
      const int64_t flat = r * shard_size_ + offset;
      const int64_t valid = std::max<int64_t>(0, std::min(n, total_ - flat));
      if (valid > 0) WriteFlatRange(flat, gathered.narrow(0, r * chunk, valid));
    }
  }
  return absl::OkStatus();
}

std::map<std::string, at::Tensor> ShardedAdamW::StateDict() const {
  const int world = options_.shard_state ? comm_->world_size() : 1;
  std::map<std::string, at::Tensor> state;
  state["master"] = master_.cpu().clone();
  state["exp_avg"] = exp_avg_.cpu().clone();
  state["exp_avg_sq"] = exp_avg_sq_.cpu().clone();
  state["meta"] = at::tensor(std::vector<int64_t>{steps_, total_, begin_, end_, world,
                                                  options_.shard_state ? 1 : 0},
                             at::kLong);
  return state;
}

absl::Status ShardedAdamW::LoadStateDict(const std::map<std::string, at::Tensor>& state) {
  for (const char* key : {"master", "exp_avg", "exp_avg_sq", "meta"}) {
    if (state.count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("optimizer state has no '", key, "'"));
    }
  }
  const at::Tensor meta = state.at("meta");
  if (meta.scalar_type() != at::kLong || meta.numel() != 6) {
    return absl::InvalidArgumentError("optimizer state 'meta' is malformed");
  }
  const auto m = meta.accessor<int64_t, 1>();
  const int world = options_.shard_state ? comm_->world_size() : 1;
  if (m[1] != total_ || m[2] != begin_ || m[3] != end_ || m[4] != world ||
      m[5] != (options_.shard_state ? 1 : 0)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "optimizer state was saved for ", m[1], " parameters, slice [", m[2], ", ", m[3],
        "), world ", m[4], ", sharded ", m[5], "; this run has ", total_, " parameters, slice [",
        begin_, ", ", end_, "), world ", world, ", sharded ", options_.shard_state ? 1 : 0,
        " (resume with the same ranks and zero_stage)"));
  }
  const int64_t length = end_ - begin_;
  for (const char* key : {"master", "exp_avg", "exp_avg_sq"}) {
    const at::Tensor& t = state.at(key);
    if (t.scalar_type() != at::kFloat || t.dim() != 1 || t.numel() != length) {
      return absl::InvalidArgumentError(
          absl::StrCat("optimizer state '", key, "' is not a float32 vector of ", length));
    }
  }
  return TorchCall("AdamW load", [&] {
    at::NoGradGuard no_grad;
    master_.copy_(state.at("master"));
    exp_avg_.copy_(state.at("exp_avg"));
    exp_avg_sq_.copy_(state.at("exp_avg_sq"));
    steps_ = m[0];
  });
}

}  // namespace memr1::learner
