#include "learner/advantages.h"

#include <cmath>
#include <map>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::learner {

namespace {

absl::Status CheckSameShape2d(const at::Tensor& a, const at::Tensor& b, const char* name) {
  if (b.dim() != 2 || a.sizes() != b.sizes()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be [B, T] like rewards"));
  }
  return absl::OkStatus();
}

// Indices of each group, in first-seen order.
std::vector<std::vector<size_t>> Groups(const std::vector<std::string>& group_ids) {
  std::map<std::string, size_t> index;
  std::vector<std::vector<size_t>> groups;
  for (size_t i = 0; i < group_ids.size(); ++i) {
    auto [it, inserted] = index.emplace(group_ids[i], groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  return groups;
}

}  // namespace

absl::StatusOr<GaeResult> ComputeGae(const at::Tensor& rewards, const at::Tensor& values,
                                     const at::Tensor& mask, double gamma, double lambda) {
  if (rewards.dim() != 2) return absl::InvalidArgumentError("rewards must be [B, T]");
  if (auto s = CheckSameShape2d(rewards, values, "values"); !s.ok()) return s;
  if (auto s = CheckSameShape2d(rewards, mask, "mask"); !s.ok()) return s;
  GaeResult result;
  MEMR1_RETURN_IF_ERROR(TorchCall("GAE", [&]() -> absl::Status {
    at::NoGradGuard no_grad;
    const at::Tensor r = rewards.detach().to(at::kDouble).contiguous();
    const at::Tensor v = values.detach().to(at::kDouble).contiguous();
    const at::Tensor m = mask.detach().to(at::kDouble).contiguous();
    if (r.mul(1.0 - m).abs().sum().item<double>() != 0) {
      return absl::InvalidArgumentError("GAE: rewards must be zero where mask == 0");
    }
    const int64_t batch = r.size(0), steps = r.size(1);
    at::Tensor adv = at::zeros_like(r);
    const double* rp = r.data_ptr<double>();
    const double* vp = v.data_ptr<double>();
    const double* mp = m.data_ptr<double>();
    double* ap = adv.data_ptr<double>();
    for (int64_t b = 0; b < batch; ++b) {
      double next_value = 0, running = 0;
      for (int64_t t = steps - 1; t >= 0; --t) {
        const int64_t i = b * steps + t;
        if (mp[i] == 0) continue;
        const double delta = rp[i] + gamma * next_value - vp[i];
        running = delta + gamma * lambda * running;
        ap[i] = running;
        next_value = vp[i];
      }
    }
    result.advantages = adv.to(rewards.scalar_type());
    result.returns = (adv + v * m).to(rewards.scalar_type());
    return absl::OkStatus();
  }));
  return result;
}

at::Tensor MaskedWhiten(const at::Tensor& x, const at::Tensor& mask, double eps) {
  const at::Tensor m = mask.to(x.scalar_type());
  const at::Tensor count = m.sum().clamp_min(1);
  const at::Tensor mean = (x * m).sum() / count;
  const at::Tensor var = ((x - mean).pow(2) * m).sum() / count;
  return (x - mean) / (var.sqrt() + eps) * m;
}

absl::StatusOr<GroupAdvantages> GroupRelativeAdvantages(const std::vector<double>& rewards,
                                                        const std::vector<std::string>& group_ids,
                                                        bool std_normalize, double eps) {
  if (rewards.size() != group_ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat("GRPO: ", rewards.size(), " rewards but ",
                                                   group_ids.size(), " group ids"));
  }
  GroupAdvantages out;
  out.advantages.assign(rewards.size(), 0.0);
  for (const auto& members : Groups(group_ids)) {
    ++out.num_groups;
    const double n = static_cast<double>(members.size());
    double mean = 0;
    for (size_t i : members) mean += rewards[i];
    mean /= n;
    bool all_equal = true;
    for (size_t i : members) all_equal = all_equal && rewards[i] == rewards[members[0]];
    if (all_equal) {
      ++out.num_degenerate_groups;
      continue;  // advantages stay exactly 0
    }
    double scale = 1.0;
    if (std_normalize) {
      double ss = 0;
      for (size_t i : members) ss += (rewards[i] - mean) * (rewards[i] - mean);
      scale = 1.0 / (std::sqrt(ss / (n - 1)) + eps);
    }
    for (size_t i : members) out.advantages[i] = (rewards[i] - mean) * scale;
  }
  return out;
}

absl::StatusOr<GroupAdvantages> LeaveOneOutAdvantages(const std::vector<double>& rewards,
                                                      const std::vector<std::string>& group_ids) {
  if (rewards.size() != group_ids.size()) {
    return absl::InvalidArgumentError(absl::StrCat("RLOO: ", rewards.size(), " rewards but ",
                                                   group_ids.size(), " group ids"));
  }
  GroupAdvantages out;
  out.advantages.assign(rewards.size(), 0.0);
  for (const auto& members : Groups(group_ids)) {
    ++out.num_groups;
    bool all_equal = true;
    for (size_t i : members) all_equal = all_equal && rewards[i] == rewards[members[0]];
    if (members.size() < 2 || all_equal) {
      ++out.num_degenerate_groups;
      continue;
    }
    double sum = 0;
    for (size_t i : members) sum += rewards[i];
    const double n = static_cast<double>(members.size());
    for (size_t i : members) out.advantages[i] = rewards[i] - (sum - rewards[i]) / (n - 1);
  }
  return out;
}

}  // namespace memr1::learner
