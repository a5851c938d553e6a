// Run under `mpirun -np 2`: data-parallel training equals single-process training over the
// whole batch, ZeRO-1 equals plain data parallel, and all ranks end with identical parameters.

#include <mpi.h>

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "learner/adamw.h"
#include "learner/grad_sync.h"
#include "learner/losses.h"
#include "learner/mpi_communicator.h"
#include "tests/learner/toy_policy.h"

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

}  // namespace
}  // namespace memr1::learner

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!memr1::learner::EnsureMpiInitialized().ok()) return 1;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  // Only rank 0 prints, but every rank's failures count.
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return failed;
}
