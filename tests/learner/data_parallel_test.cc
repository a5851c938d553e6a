// Run under `mpirun -np 2`: data-parallel training equals single-process training over the
// whole batch, ZeRO-1 equals plain data parallel, and all ranks end with identical parameters.


#include <torch/torch.h>

#include "gtest/gtest.h"
#include "learner/adamw.h"
#include "learner/grad_sync.h"
#include "learner/losses.h"
#include "learner/mpi_communicator.h"
#include "tests/learner/toy_policy.h"
#if MEMR1_TEST_TRAINER
#include "common/config.h"
#include "learner/trainer.h"
#include "llm/model_config.h"
#include "llm/model_init.h"
#endif

namespace memr1::learner {
namespace {

using testing::MakeToyBatch;
using testing::ToyBatch;
using testing::ToyPolicy;

std::unique_ptr<MpiCommunicator> World() {
  auto comm = MpiCommunicator::Create();
  EXPECT_TRUE(comm.ok()) << comm.status();
  return *std::move(comm);
}

torch::Tensor Flatten(ToyPolicy& model) {
  std::vector<torch::Tensor> flat;
  for (const auto& p : model->parameters()) flat.push_back(p.detach().reshape(-1));
  return torch::cat(flat);
}

// Trains `model` for `steps` PPO steps on this rank's share of the global batch, in
// micro-batches of `micro` sequences, with token-mean losses over the global token count.
void Train(ToyPolicy& model, Communicator& comm, bool zero1, const ToyBatch& global, int steps,
           int64_t micro, int64_t bucket_bytes) {
  AdamWOptions options;
  options.shard_state = zero1;
  options.gather_chunk_elements = 7;  // many chunks, a ragged last one
  options.weight_decay = 0.1;
  auto optimizer = ShardedAdamW::Create(model->parameters(), options, &comm);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  const int64_t n = global.features.size(0);
  const int64_t per_rank = n / comm.world_size();
  const ToyBatch local = testing::Slice(global, comm.rank() * per_rank, per_rank);
  const double tokens = global.mask.sum().item<double>();
  torch::Tensor old_logp;
  {
    torch::NoGradGuard no_grad;
    old_logp = model->LogProbs(local.features, local.actions);
  }
  PolicyLossOptions loss_options;
  loss_options.denominator = tokens;
  for (int step = 0; step < steps; ++step) {
    model->zero_grad();
    for (int64_t begin = 0; begin < per_rank; begin += micro) {
      const ToyBatch mb = testing::Slice(local, begin, micro);
      auto logp = model->LogProbs(mb.features, mb.actions);
      auto result = ClippedSurrogateLoss(logp, old_logp.narrow(0, begin, micro), mb.advantages,
                                         mb.mask, loss_options);
      result.loss.backward();
    }
    auto synced = AllReduceGradients(model->parameters(), comm, bucket_bytes);
    ASSERT_TRUE(synced.ok()) << synced.status();
    ClipGradNorm(model->parameters(), 1.0);
    ASSERT_TRUE((*optimizer)->Step(1e-2).ok());
  }
}

TEST(MpiCommunicatorTest, CollectivesMatchTheirDefinitions) {
  auto comm = World();
  ASSERT_EQ(comm->world_size(), 2) << "run under mpirun -np 2";
  auto x = torch::full({3}, static_cast<double>(comm->rank() + 1), torch::kDouble);
  ASSERT_TRUE(comm->AllReduceSum(x).ok());
  EXPECT_TRUE(torch::equal(x, torch::full({3}, 3.0, torch::kDouble)));

  auto mine = torch::full({2}, static_cast<float>(comm->rank()), torch::kBFloat16);
  auto all = torch::empty({4}, torch::kBFloat16);
  ASSERT_TRUE(comm->AllGather(mine, all).ok());
  EXPECT_TRUE(torch::equal(all, torch::tensor({0.f, 0.f, 1.f, 1.f}).to(torch::kBFloat16)));

  auto b = torch::full({2}, static_cast<int64_t>(comm->rank() == 1 ? 7 : 0), torch::kLong);
  ASSERT_TRUE(comm->Broadcast(b, 1).ok());
  EXPECT_EQ(b[0].item<int64_t>(), 7);
  EXPECT_FALSE(comm->AllGather(mine, x).ok());  // wrong size and dtype
  EXPECT_TRUE(comm->Barrier().ok());
}

TEST(DataParallelTest, TwoRanksEqualOneRankWithTheWholeBatch) {
  auto comm = World();
  const ToyBatch global = MakeToyBatch(8, 11);
  ToyPolicy parallel(5);
  // Tiny buckets so that several collectives run.
  Train(parallel, *comm, /*zero1=*/false, global, 4, /*micro=*/2, /*bucket_bytes=*/256);
  SingleProcessCommunicator single;
  ToyPolicy reference(5);
  Train(reference, single, false, global, 4, /*micro=*/8, 1 << 20);
  EXPECT_TRUE(torch::allclose(Flatten(parallel), Flatten(reference), 1e-5, 1e-5))
      << (Flatten(parallel) - Flatten(reference)).abs().max();
  ToyPolicy initial(5);
  EXPECT_FALSE(torch::equal(Flatten(parallel), Flatten(initial)));  // it did train
}

TEST(DataParallelTest, ZeroOneEqualsPlainDataParallelAndRanksAgree) {
  auto comm = World();
  const ToyBatch global = MakeToyBatch(4, 3);
  ToyPolicy plain(9), sharded(9);
  Train(plain, *comm, false, global, 3, 1, 1 << 20);
  Train(sharded, *comm, true, global, 3, 1, 1 << 20);
  EXPECT_TRUE(torch::equal(Flatten(plain), Flatten(sharded)))
      << (Flatten(plain) - Flatten(sharded)).abs().max();
  // Every rank holds the same parameters.
  auto mine = Flatten(sharded).contiguous();
  auto all = torch::empty({mine.numel() * comm->world_size()});
  ASSERT_TRUE(comm->AllGather(mine, all).ok());
  for (int r = 1; r < comm->world_size(); ++r) {
    EXPECT_TRUE(torch::equal(all.narrow(0, 0, mine.numel()), all.narrow(0, r * mine.numel(), mine.numel())));
  }
}

TEST(DataParallelTest, ShardedStateCoversEachRanksSlice) {
  auto comm = World();
  ToyPolicy model(1);
  AdamWOptions options;
  options.shard_state = true;
  auto optimizer = ShardedAdamW::Create(model->parameters(), options, comm.get());
  ASSERT_TRUE(optimizer.ok());
  const int64_t total = (*optimizer)->total_elements();
  const int64_t length = (*optimizer)->shard_end() - (*optimizer)->shard_begin();
  EXPECT_EQ(length, comm->rank() == 0 ? (total + 1) / 2 : total - (total + 1) / 2);
  EXPECT_EQ((*optimizer)->StateDict().at("exp_avg").numel(), length);
}

#if MEMR1_TEST_TRAINER
// The full trainer on the llm decoder: 2 ranks x 4 trajectories == 1 rank x 8, and ZeRO-1 ==
// plain data parallel, with a reference model and KL loss, after two steps of two epochs.
// The learning rate is small because Adam divides by sqrt(v): for parameters whose gradient
// nearly cancels (|g| ~ 1e-10, dominated by summation-order noise) the update is ~lr x 1e-2
// either way, so parameter differences scale with lr (measured: 1e-4 at lr 1e-2, 1e-5 at
// 1e-3) while losses, KL and gradient norms agree to float precision.
TEST(DataParallelTrainerTest, TwoRanksEqualOneRankAndZeroOneEqualsPlain) {
  auto comm = World();
  auto model_config = llm::MakeModelConfig(
      llm::Architecture::kQwen2,
      R"({"vocab_size": 16, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2})",
      "dp-test");
  ASSERT_TRUE(model_config.ok()) << model_config.status();
  auto make_trainer = [&](Communicator* c, int micro, int zero) {
    auto job = LoadJobConfig(std::string(MEMR1_SOURCE_DIR) + "/configs/tiny-cpu.yaml",
                             {"learner.num_ranks=" + std::to_string(c->world_size()),
                              "learner.global_batch_size=8",
                              "learner.micro_batch_size=" + std::to_string(micro),
                              "actor.sampling.group_size=4", "learner.kl_coef=0.05",
                              "learner.actor_lr=0.0001", "learner.zero_stage=" + std::to_string(zero),
                              "learner.ppo_epochs=2"});
    EXPECT_TRUE(job.ok()) << job.status();
    TrainerModels models;
    models.policy = *llm::CausalLM::Create(*model_config, c10::Device("cpu"), at::kFloat);
    llm::InitOptions init;
    init.seed = 4;
    EXPECT_TRUE(llm::InitializeRandom(models.policy.get(), init).ok());
    models.reference = *CloneModel(*models.policy);
    auto trainer = Trainer::Create(*job, std::move(models), c);
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    return *std::move(trainer);
  };
  std::vector<v1::Trajectory> batch;
  for (int i = 0; i < 8; ++i) {
    v1::Trajectory t;
    t.set_id(std::to_string(i));
    for (int j = 0; j < 2 + i % 3; ++j) t.add_prompt_ids(1 + (i + j) % 15);
    for (int j = 0; j < 1 + i % 4; ++j) {
      t.add_response_ids(2 + (i * 3 + j) % 13);
      t.add_behaviour_logprobs(-2.5f - 0.1f * j);
    }
    t.set_reward(i % 3 == 0 ? 1.0 : 0.0);
    t.set_group_id("g" + std::to_string(i / 4));
    batch.push_back(t);
  }
  auto flatten = [](Trainer& t) {
    std::vector<torch::Tensor> flat;
    for (auto& [name, p] : t.policy().NamedParameters()) flat.push_back(p.detach().reshape(-1));
    return torch::cat(flat);
  };
  SingleProcessCommunicator single;
  auto reference = make_trainer(&single, 8, 0);
  auto plain = make_trainer(comm.get(), 2, 0);
  auto sharded = make_trainer(comm.get(), 2, 1);
  for (int step = 0; step < 2; ++step) {
    auto a = reference->Step(batch);
    auto b = plain->Step(batch);
    auto c = sharded->Step(batch);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok()) << a.status() << b.status() << c.status();
    EXPECT_NEAR(a->loss, b->loss, 1e-5);
    EXPECT_NEAR(a->kl, b->kl, 1e-6);
    EXPECT_NEAR(a->grad_norm, b->grad_norm, 1e-4);
  }
  EXPECT_TRUE(torch::allclose(flatten(*plain), flatten(*reference), 1e-5, 1e-5))
      << (flatten(*plain) - flatten(*reference)).abs().max();
  EXPECT_TRUE(torch::equal(flatten(*plain), flatten(*sharded)));
}
#endif

}  // namespace
}  // namespace memr1::learner
