#include <cmath>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "learner/adamw.h"
#include "learner/checkpoint.h"
#include "learner/grad_sync.h"
#include "learner/losses.h"
#include "learner/lr_schedule.h"
#include "learner/tensor_archive.h"
#include "tests/learner/toy_policy.h"

namespace memr1::learner {
namespace {

namespace fs = std::filesystem;
using testing::ToyPolicy;

std::string TempDir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / (name + "." + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

torch::Tensor Flatten(ToyPolicy& model) {
  std::vector<torch::Tensor> flat;
  for (const auto& p : model->parameters()) flat.push_back(p.detach().reshape(-1).clone());
  return torch::cat(flat);
}

TEST(LrScheduleTest, WarmupThenConstantOrCosine) {
  LrScheduleOptions options;
  options.base_lr = 1.0;
  options.warmup_steps = 4;
  options.total_steps = 14;
  LrSchedule constant(options);
  EXPECT_DOUBLE_EQ(constant.LearningRate(0), 0.25);
  EXPECT_DOUBLE_EQ(constant.LearningRate(3), 1.0);
  EXPECT_DOUBLE_EQ(constant.LearningRate(100), 1.0);
  options.kind = LrScheduleOptions::Kind::kCosine;
  options.min_lr_ratio = 0.1;
  LrSchedule cosine(options);
  EXPECT_DOUBLE_EQ(cosine.LearningRate(4), 1.0);
  EXPECT_NEAR(cosine.LearningRate(9), 0.1 + 0.9 * 0.5, 1e-12);  // half way
  EXPECT_NEAR(cosine.LearningRate(14), 0.1, 1e-12);
  EXPECT_NEAR(cosine.LearningRate(50), 0.1, 1e-12);
  options.warmup_steps = 20;
  EXPECT_FALSE(options.Validate().ok());
}

TEST(AdamWTest, MatchesLibTorchAdamW) {
  ToyPolicy ours(3), theirs(3);
  SingleProcessCommunicator single;
  AdamWOptions options;
  options.weight_decay = 0.05;
  auto optimizer = ShardedAdamW::Create(ours->parameters(), options, &single);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  torch::optim::AdamW reference(theirs->parameters(),
                                torch::optim::AdamWOptions(1e-2).weight_decay(0.05));
  const auto batch = testing::MakeToyBatch(4, 1);
  for (int step = 0; step < 5; ++step) {
    for (ToyPolicy* model : {&ours, &theirs}) {
      (*model)->zero_grad();
      (-(*model)->LogProbs(batch.features, batch.actions) * batch.advantages).mean().backward();
    }
    ASSERT_TRUE((*optimizer)->Step(1e-2).ok());
    reference.step();
  }
  EXPECT_TRUE(torch::allclose(Flatten(ours), Flatten(theirs), 1e-6, 1e-6));
  EXPECT_EQ((*optimizer)->steps(), 5);
}

TEST(AdamWTest, RejectsMixedDtypesAndBadState) {
  SingleProcessCommunicator single;
  auto a = torch::zeros({2});
  auto b = torch::zeros({2}, torch::kDouble);
  EXPECT_FALSE(ShardedAdamW::Create({a, b}, {}, &single).ok());
  auto optimizer = ShardedAdamW::Create({a}, {}, &single);
  ASSERT_TRUE(optimizer.ok());
  auto state = (*optimizer)->StateDict();
  state["exp_avg"] = torch::zeros({3});
  EXPECT_FALSE((*optimizer)->LoadStateDict(state).ok());
  state = (*optimizer)->StateDict();
  state["meta"][1] = 99;
  EXPECT_EQ((*optimizer)->LoadStateDict(state).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(AdamWTest, Bf16ParametersKeepFloat32MasterWeights) {
  SingleProcessCommunicator single;
  auto p = torch::ones({4}, torch::kBFloat16);
  AdamWOptions options;
  options.weight_decay = 0;
  auto optimizer = ShardedAdamW::Create({p}, options, &single);
  ASSERT_TRUE(optimizer.ok());
  // 100 steps of 1e-4 each: too small for bf16 one by one, but the master weight accumulates.
  for (int i = 0; i < 100; ++i) {
    p.mutable_grad() = torch::ones({4}, torch::kBFloat16);
    ASSERT_TRUE((*optimizer)->Step(1e-4).ok());
  }
  EXPECT_NEAR((*optimizer)->StateDict().at("master")[0].item<float>(), 0.99, 1e-5);
  EXPECT_NEAR(p[0].item<float>(), 0.99, 4e-3);
}

TEST(GradClipTest, ClipsToMaxNormAndReportsTheNormBefore) {
  auto a = torch::zeros({2}).set_requires_grad(true);
  a.mutable_grad() = torch::tensor({3.0f, 4.0f});
  EXPECT_NEAR(ClipGradNorm({a}, 1.0), 5.0, 1e-9);
  EXPECT_NEAR(a.grad().norm().item<float>(), 1.0, 1e-5);
  EXPECT_NEAR(ClipGradNorm({a}, 10.0), 1.0, 1e-5);  // below: unchanged
}

TEST(TensorArchiveTest, RoundTripsAndRejectsCorruption) {
  const std::string dir = TempDir("memr1_archive");
  const std::string path = dir + "/a.memr1t";
  std::map<std::string, torch::Tensor> tensors = {
      {"w", torch::randn({3, 4})}, {"b", torch::arange(5).to(torch::kBFloat16)},
      {"step", torch::tensor({7}, torch::kLong)}};
  ASSERT_TRUE(WriteTensorArchive(path, tensors).ok());
  auto back = ReadTensorArchive(path);
  ASSERT_TRUE(back.ok()) << back.status();
  for (const auto& [name, t] : tensors) EXPECT_TRUE(torch::equal(back->at(name), t)) << name;

  // Flip one byte of the data.
  std::string bytes = *ReadFileToString(path);
  bytes[bytes.size() - 3] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
  auto flipped = ReadTensorArchive(path);
  EXPECT_EQ(flipped.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(flipped.status().message().find("checksum mismatch"), std::string::npos);
  // Truncate it.
  ASSERT_TRUE(WriteFileAtomically(path, bytes.substr(0, bytes.size() / 2)).ok());
  EXPECT_EQ(ReadTensorArchive(path).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReadTensorArchive(dir + "/none").status().code(), absl::StatusCode::kNotFound);
  fs::remove_all(dir);
}

// A training run with every source of state: parameters, AdamW moments, the LR schedule, the
// RNG (mini-batch order is drawn from LibTorch's CPU generator) and a data cursor.
struct TrainingRun {
  explicit TrainingRun(SingleProcessCommunicator* comm) : model(21) {
    AdamWOptions options;
    optimizer = *ShardedAdamW::Create(model->parameters(), options, comm);
    LrScheduleOptions schedule_options;
    schedule_options.base_lr = 1e-2;
    schedule_options.warmup_steps = 2;
    schedule_options.total_steps = 6;
    schedule_options.kind = LrScheduleOptions::Kind::kCosine;
    schedule = std::make_unique<LrSchedule>(schedule_options);
  }
  void Step(const testing::ToyBatch& data) {
    const auto order = torch::randperm(data.features.size(0));
    const auto pick = order.narrow(0, 0, 4);
    model->zero_grad();
    auto logp = model->LogProbs(data.features.index_select(0, pick), data.actions.index_select(0, pick));
    AggregateLoss(-logp * data.advantages.index_select(0, pick), data.mask.index_select(0, pick),
                  LossAggregation::kTokenMean)
        .backward();
    ClipGradNorm(model->parameters(), 1.0);
    ASSERT_TRUE(optimizer->Step(schedule->LearningRate(optimizer->steps())).ok());
    ++cursor;
  }
  CheckpointData Snapshot() {
    CheckpointData data;
    data.step = optimizer->steps();
    data.trainer_state_json = "{\"cursor\": " + std::to_string(cursor) + "}";
    data.config_yaml = "name: test\n";
    for (const auto& item : model->named_parameters()) data.model[item.key()] = item.value();
    data.rank_state = optimizer->StateDict();
    data.rank_state["rng/cpu"] = CaptureCpuRngState();
    return data;
  }
  absl::Status Restore(const CheckpointData& data) {
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters()) item.value().copy_(data.model.at(item.key()));
    auto state = data.rank_state;
    const auto rng = state.at("rng/cpu");
    state.erase("rng/cpu");
    if (auto s = optimizer->LoadStateDict(state); !s.ok()) return s;
    cursor = std::stoi(data.trainer_state_json.substr(data.trainer_state_json.find(':') + 1));
    return RestoreCpuRngState(rng);
  }
  ToyPolicy model;
  std::unique_ptr<ShardedAdamW> optimizer;
  std::unique_ptr<LrSchedule> schedule;
  int cursor = 0;
};

TEST(CheckpointTest, ResumeEqualsUninterruptedBitwise) {
  const std::string dir = TempDir("memr1_ckpt_resume");
  const auto data = testing::MakeToyBatch(8, 5);
  SingleProcessCommunicator comm;
  torch::manual_seed(1234);
  TrainingRun straight(&comm);
  for (int i = 0; i < 6; ++i) straight.Step(data);

  torch::manual_seed(1234);
  {
    TrainingRun first(&comm);
    for (int i = 0; i < 3; ++i) first.Step(data);
    CheckpointManager manager(dir, &comm);
    ASSERT_TRUE(manager.Save(first.Snapshot()).ok());
    // The "crash": the run is dropped, and the RNG moves on in this process.
    torch::randn({100});
  }
  TrainingRun resumed(&comm);
  CheckpointManager manager(dir, &comm);
  auto loaded = manager.LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->step, 3);
  ASSERT_TRUE(resumed.Restore(*loaded).ok());
  EXPECT_EQ(resumed.cursor, 3);
  for (int i = 3; i < 6; ++i) resumed.Step(data);
  EXPECT_TRUE(torch::equal(Flatten(straight.model), Flatten(resumed.model)));
  fs::remove_all(dir);
}

TEST(CheckpointTest, HalfWrittenCheckpointIsNeverPickedUp) {
  const std::string dir = TempDir("memr1_ckpt_half");
  SingleProcessCommunicator comm;
  TrainingRun run(&comm);
  CheckpointManager manager(dir, &comm);
  ASSERT_TRUE(manager.Save(run.Snapshot()).ok());
  // A crash while writing step 5: its temporary directory exists, LATEST still names step 0.
  fs::create_directories(dir + "/step-00000005.tmp");
  std::ofstream(dir + "/step-00000005.tmp/rank-00000.memr1t") << "partial";
  auto loaded = manager.LoadLatest();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->step, 0);
  EXPECT_EQ(std::string(loaded->config_yaml), "name: test\n");
  fs::remove_all(dir);
}

TEST(CheckpointTest, CorruptCheckpointIsRejectedWithAClearError) {
  const std::string dir = TempDir("memr1_ckpt_corrupt");
  SingleProcessCommunicator comm;
  TrainingRun run(&comm);
  CheckpointManager manager(dir, &comm);
  auto saved = manager.Save(run.Snapshot());
  ASSERT_TRUE(saved.ok());
  const std::string model_file = *saved + "/model.memr1t";
  std::string bytes = *ReadFileToString(model_file);
  bytes[bytes.size() - 1] ^= 1;
  ASSERT_TRUE(WriteFileAtomically(model_file, bytes).ok());
  auto loaded = manager.LoadLatest();
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find("model.memr1t"), std::string::npos) << loaded.status();

  fs::remove(*saved + "/trainer_state.json");
  EXPECT_NE(manager.LoadLatest().status().message().find("missing trainer_state.json"),
            std::string::npos);
  ASSERT_TRUE(WriteFileAtomically(dir + "/LATEST", "../../etc\n").ok());
  EXPECT_EQ(manager.LoadLatest().status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(CheckpointManager(dir + "/empty", &comm).LoadLatest().status().code(),
            absl::StatusCode::kNotFound);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace memr1::learner
