// Weight sync by broadcast (learner/weight_broadcast.h): the wire format, the group's
// rendezvous through the real Weights service, and the broadcaster/receiver threads.
//
// NCCL needs a GPU per member, so here the group is an in-process communicator (threads of one
// process) implementing the same Communicator::Broadcast contract; the NCCL communicator runs
// the same code on GPUs (learner_nccl_test).

#include "learner/weight_broadcast.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>

#include "absl/synchronization/mutex.h"
#include "actor/weight_client.h"
#include "common/grpc_util.h"
#include "learner/communicator.h"
#if MEMR1_WITH_NCCL
#include "learner/nccl_communicator.h"
#endif
#include "learner/weight_publisher.h"

namespace memr1::learner {
namespace {

// A group of threads: Broadcast copies the root's tensor into every other member's, in order.
class Hub {
 public:
  explicit Hub(int world) : world_(world) {}

  absl::Status Broadcast(at::Tensor& tensor, int rank, int root, int64_t* seen) {
    absl::MutexLock lock(&mu_);
    if (rank == root) {
      mu_.Await(absl::Condition(
          +[](Hub* h) ABSL_EXCLUSIVE_LOCKS_REQUIRED(h->mu_) { return h->readers_left_ == 0; },
          this));
      data_ = tensor.clone();
      readers_left_ = world_ - 1;
      ++round_;
      *seen = round_;
      return absl::OkStatus();
    }
    const int64_t want = *seen + 1;
    auto ready = [this, want]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return round_ >= want; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(30))) {
      return absl::DeadlineExceededError("hub: no broadcast within 30 s");
    }
    *seen = want;
    --readers_left_;
    if (data_.numel() != tensor.numel()) {
      return absl::InvalidArgumentError("hub: broadcast of a different size");
    }
    tensor.copy_(data_);
    return absl::OkStatus();
  }

  // A joiner: the group forms once `world` members joined; a missing member ends the wait at
  // the deadline, as NCCL's non-blocking init does.
  GroupJoiner Joiner() {
    return [this](const std::string& id, int rank, int world,
                  absl::Time deadline) -> absl::StatusOr<std::unique_ptr<Communicator>> {
      if (world != world_) return absl::InvalidArgumentError("hub: wrong world size");
      absl::MutexLock lock(&mu_);
      ids_.push_back(id);
      ++joined_;
      auto all = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return joined_ >= world_; };
      if (!mu_.AwaitWithDeadline(absl::Condition(&all), deadline)) {
        return absl::DeadlineExceededError("hub: not every member joined");
      }
      return std::unique_ptr<Communicator>(new Member(this, rank));
    };
  }

  std::vector<std::string> ids() {
    absl::MutexLock lock(&mu_);
    return ids_;
  }

 private:
  class Member : public Communicator {
   public:
    Member(Hub* hub, int rank) : hub_(hub), rank_(rank) {}
    int rank() const override { return rank_; }
    int world_size() const override { return hub_->world_; }
    std::string name() const override { return "hub"; }
    absl::Status AllReduceSum(at::Tensor&) override { return absl::UnimplementedError("hub"); }
    absl::Status AllGather(const at::Tensor&, at::Tensor&) override {
      return absl::UnimplementedError("hub");
    }
    absl::Status Broadcast(at::Tensor& tensor, int root) override {
      return hub_->Broadcast(tensor, rank_, root, &seen_);
    }
    absl::Status Barrier() override { return absl::UnimplementedError("hub"); }

   private:
    Hub* hub_;
    int rank_;
    int64_t seen_ = 0;
  };

  const int world_;
  absl::Mutex mu_;
  at::Tensor data_ ABSL_GUARDED_BY(mu_);
  int64_t round_ ABSL_GUARDED_BY(mu_) = 0;
  int readers_left_ ABSL_GUARDED_BY(mu_) = 0;
  int joined_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
  return bytes;
}

std::shared_ptr<const WeightPublisher::Version> MakeVersion(int64_t version, size_t n) {
  auto v = std::make_shared<WeightPublisher::Version>();
  v->bytes = RandomBytes(n, static_cast<uint32_t>(version) + 7);
  v->manifest.set_version(version);
  v->manifest.set_total_bytes(static_cast<int64_t>(n));
  v->manifest.set_content_hash(Sha256Hex(v->bytes));
  v->manifest.set_format("safetensors");
  return v;
}

// Rank 0 sends `versions` then closes; ranks 1..world-1 receive in threads.
struct Exchange {
  std::vector<std::vector<absl::StatusOr<WeightPublisher::Version>>> received;
};

Exchange RunExchange(int world, const std::vector<WeightPublisher::Version>& versions,
                     std::vector<absl::Status>* send_status) {
  Hub hub(world);
  GroupJoiner join = hub.Joiner();
  Exchange exchange;
  exchange.received.resize(world);
  std::vector<std::thread> receivers;
  for (int rank = 1; rank < world; ++rank) {
    receivers.emplace_back([&, rank] {
      auto comm = join("id", rank, world, absl::Now() + absl::Seconds(30));
      ASSERT_TRUE(comm.ok()) << comm.status();
      while (true) {
        absl::StatusOr<WeightPublisher::Version> got = ReceiveWeights(**comm);
        const bool stop = !got.ok();
        exchange.received[rank].push_back(std::move(got));
        if (stop) break;
      }
    });
  }
  auto root = join("id", 0, world, absl::Now() + absl::Seconds(30));
  EXPECT_TRUE(root.ok()) << root.status();
  for (const auto& version : versions) send_status->push_back(SendWeights(**root, version));
  send_status->push_back(SendGroupClose(**root));
  for (auto& t : receivers) t.join();
  return exchange;
}

TEST(WeightBroadcastTest, EveryMemberReceivesEachVersionVerifiedThenTheClose) {
  std::vector<WeightPublisher::Version> versions = {*MakeVersion(1, 1 << 20), *MakeVersion(2, 0),
                                                    *MakeVersion(5, 333)};
  std::vector<absl::Status> sent;
  Exchange exchange = RunExchange(3, versions, &sent);
  for (const absl::Status& s : sent) EXPECT_TRUE(s.ok()) << s;
  for (int rank = 1; rank < 3; ++rank) {
    const auto& got = exchange.received[rank];
    ASSERT_EQ(got.size(), 4u) << "rank " << rank;
    for (size_t i = 0; i < versions.size(); ++i) {
      ASSERT_TRUE(got[i].ok()) << got[i].status();
      EXPECT_EQ(got[i]->manifest.version(), versions[i].manifest.version());
      EXPECT_EQ(got[i]->manifest.content_hash(), versions[i].manifest.content_hash());
      EXPECT_EQ(got[i]->manifest.format(), "safetensors");
      EXPECT_EQ(got[i]->bytes, versions[i].bytes);
    }
    EXPECT_TRUE(absl::IsOutOfRange(got[3].status())) << got[3].status();
  }
}

TEST(WeightBroadcastTest, BytesThatDoNotMatchTheAnnouncedHashAreDataLoss) {
  WeightPublisher::Version tampered = *MakeVersion(4, 4096);
  tampered.bytes[100] ^= 1;  // the bytes sent are not the ones hashed
  std::vector<absl::Status> sent;
  Exchange exchange = RunExchange(2, {tampered}, &sent);
  ASSERT_FALSE(exchange.received[1].empty());
  const absl::Status status = exchange.received[1][0].status();
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_NE(status.message().find(tampered.manifest.content_hash()), std::string::npos) << status;
  EXPECT_NE(status.message().find(Sha256Hex(tampered.bytes)), std::string::npos) << status;
}

TEST(WeightBroadcastTest, SenderRejectsAManifestThatDoesNotDescribeTheBytes) {
  Hub hub(1);
  auto root = hub.Joiner()("id", 0, 1, absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(root.ok());
  WeightPublisher::Version version = *MakeVersion(1, 10);
  version.manifest.set_total_bytes(11);
  EXPECT_TRUE(absl::IsInvalidArgument(SendWeights(**root, version)));
  version = *MakeVersion(1, 10);
  version.manifest.set_content_hash("abc");
  EXPECT_TRUE(absl::IsInvalidArgument(SendWeights(**root, version)));
  EXPECT_TRUE(absl::IsFailedPrecondition(ReceiveWeights(**root).status()));
}

TEST(BroadcastGroupRegistryTest, ActorsKeepTheirRankAndExtraActorsAreTurnedAway) {
  BroadcastGroupRegistry registry("the-id", 2);
  auto a = registry.Join("actor-a");
  auto b = registry.Join("actor-b");
  auto a_again = registry.Join("actor-a");
  ASSERT_TRUE(a.ok() && b.ok() && a_again.ok());
  EXPECT_EQ(a->rank(), 1);
  EXPECT_EQ(b->rank(), 2);
  EXPECT_EQ(a_again->rank(), 1);
  EXPECT_EQ(a->world_size(), 3);
  EXPECT_EQ(a->unique_id(), "the-id");
  EXPECT_TRUE(absl::IsResourceExhausted(registry.Join("actor-c").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(registry.Join("").status()));
}

TEST(BroadcastDeviceIndexTest, OnlyCudaDevices) {
  EXPECT_EQ(*BroadcastDeviceIndex("cuda"), 0);
  EXPECT_EQ(*BroadcastDeviceIndex("cuda:3"), 3);
  for (const char* device : {"cpu", "cuda:", "cuda:x", "cuda:-1", "mps"}) {
    const absl::Status status = BroadcastDeviceIndex(device).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(status)) << device;
    EXPECT_NE(status.message().find("GRPC_FETCH"), std::string::npos) << status;
  }
}

// The rendezvous over the real Weights service on 127.0.0.1.
class RendezvousTest : public ::testing::Test {
 protected:
  void Start(BroadcastGroupRegistry* registry) {
    service_ = std::make_unique<WeightsService>(&publisher_, "token");
    if (registry != nullptr) service_->set_broadcast_group(registry);
    GrpcServerOptions options;
    options.address = "127.0.0.1:0";
    options.services = {service_.get()};
    absl::StatusOr<StartedGrpcServer> server = StartGrpcServer(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  std::unique_ptr<actor::WeightClient> Client(const std::string& token) {
    actor::WeightClientOptions options;
    options.address = server_.address;
    options.job_token = token;
    options.call_timeout = absl::Seconds(10);
    return *actor::WeightClient::Create(options);
  }
  void TearDown() override {
    if (server_.server) server_.server->Shutdown();
  }

  WeightPublisher publisher_;
  std::unique_ptr<WeightsService> service_;
  StartedGrpcServer server_;
};

TEST_F(RendezvousTest, ActorsGetTheGroupFromRankZero) {
  BroadcastGroupRegistry registry(std::string(128, 'x'), 2);
  Start(&registry);
  auto group = Client("token")->JoinBroadcastGroup("actor-1");
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_EQ(group->unique_id(), std::string(128, 'x'));
  EXPECT_EQ(group->rank(), 1);
  EXPECT_EQ(group->world_size(), 3);
  EXPECT_TRUE(absl::IsUnauthenticated(Client("wrong")->JoinBroadcastGroup("actor-2").status()));
  EXPECT_EQ(Client("token")->JoinBroadcastGroup("actor-2")->rank(), 2);
  EXPECT_TRUE(
      absl::IsResourceExhausted(Client("token")->JoinBroadcastGroup("actor-3").status()));
}

TEST_F(RendezvousTest, AGrpcOnlyJobSaysSo) {
  Start(nullptr);
  const absl::Status status = Client("token")->JoinBroadcastGroup("actor-1").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_NE(status.message().find("GRPC_FETCH"), std::string::npos) << status;
}

v1::BroadcastGroup GroupOf(int rank, int world) {
  v1::BroadcastGroup group;
  group.set_unique_id("id");
  group.set_rank(rank);
  group.set_world_size(world);
  return group;
}

TEST(WeightBroadcasterTest, ReceiversGetTheNewestOfferedVersionAndEndWhenTheGroupCloses) {
  Hub hub(3);
  auto r1 = std::make_unique<WeightBroadcastReceiver>(hub.Joiner(), GroupOf(1, 3), absl::Seconds(30));
  auto r2 = std::make_unique<WeightBroadcastReceiver>(hub.Joiner(), GroupOf(2, 3), absl::Seconds(30));
  auto broadcaster =
      std::make_unique<WeightBroadcaster>(hub.Joiner(), "id", 3, absl::Seconds(30));
  const auto v1 = MakeVersion(1, 50000);
  broadcaster->Offer(v1);
  for (auto* r : {r1.get(), r2.get()}) {
    auto got = r->WaitFor(1, absl::Seconds(30));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)->bytes, v1->bytes);
    EXPECT_EQ((*got)->manifest.content_hash(), v1->manifest.content_hash());
  }
  EXPECT_TRUE(broadcaster->WaitSent(1, absl::Seconds(30)).ok());
  // Versions offered while a send runs coalesce; the newest always arrives.
  for (int64_t v = 2; v <= 4; ++v) broadcaster->Offer(MakeVersion(v, 1000 * v));
  for (auto* r : {r1.get(), r2.get()}) {
    auto got = r->WaitFor(4, absl::Seconds(30));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ((*got)->manifest.version(), 4);
    EXPECT_EQ((*got)->bytes, MakeVersion(4, 4000)->bytes);
  }
  EXPECT_TRUE(broadcaster->WaitSent(4, absl::Seconds(30)).ok());
  EXPECT_EQ(broadcaster->sent_version(), 4);
  EXPECT_TRUE(absl::IsDeadlineExceeded(r1->WaitFor(5, absl::Milliseconds(50)).status()));
  broadcaster.reset();  // closes the group
  for (auto* r : {r1.get(), r2.get()}) {
    const absl::Status status = r->WaitFor(5, absl::Seconds(30)).status();
    EXPECT_TRUE(absl::IsUnavailable(status)) << status;
    EXPECT_NE(status.message().find("closed"), std::string::npos) << status;
  }
  // Every member was handed the same group id.
  for (const std::string& id : hub.ids()) EXPECT_EQ(id, "id");
}

TEST(WeightBroadcasterTest, AGroupThatNeverFormsFailsBothSidesWithinTheDeadline) {
  Hub hub(3);  // the second actor never comes
  WeightBroadcastReceiver receiver(hub.Joiner(), GroupOf(1, 3), absl::Milliseconds(200));
  WeightBroadcaster broadcaster(hub.Joiner(), "id", 3, absl::Milliseconds(200));
  broadcaster.Offer(MakeVersion(1, 10));
  const absl::Status waited = receiver.WaitFor(1, absl::Seconds(30)).status();
  EXPECT_TRUE(absl::IsUnavailable(waited)) << waited;
  EXPECT_TRUE(absl::IsUnavailable(broadcaster.WaitSent(1, absl::Seconds(30))));
  EXPECT_NE(broadcaster.status().message().find("did not form"), std::string::npos)
      << broadcaster.status();
}

TEST(WeightBroadcasterTest, TheNcclJoinerSaysWhyItCannotJoin) {
#if MEMR1_WITH_NCCL
  if (CudaDeviceCount() > 0) {
    GTEST_SKIP() << "a GPU is visible: learner_nccl_test forms real NCCL groups";
  }
  const absl::Status status = NcclGroupJoiner(0)(std::string(128, '\0'), 0, 1, absl::Now()).status();
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_NE(status.message().find("no CUDA device"), std::string::npos) << status;
#else
  EXPECT_TRUE(absl::IsUnimplemented(NewNcclGroupId().status()));
  EXPECT_TRUE(absl::IsUnimplemented(NcclGroupJoiner(0)("id", 0, 1, absl::Now()).status()));
#endif
}

}  // namespace
}  // namespace memr1::learner
