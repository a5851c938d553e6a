// Weight sync on 127.0.0.1: WeightPublisher + Weights service (learner rank 0) -> WeightClient
// (actor) -> LocalPolicy. Byte-exact round trips, resumed fetches, corrupted bytes, the versions
// kept, and a policy that behaves exactly like one loaded from the published weights.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "actor/local_policy.h"
#include "actor/weight_client.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "learner/weight_publisher.h"
#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/safetensors_buffer.h"
#include "tests/actor/actor_testing.h"
#include "tests/actor/tiny_model.h"

namespace memr1::learner {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "weights-token";

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A Weights service in front of a real publisher that misbehaves on cue: breaks the first
// fetch after `break_after_chunks` chunks (UNAVAILABLE), or flips one byte of chunk
// `corrupt_chunk`. Records the offsets clients asked for.
class FaultyWeightsService final : public v1::Weights::Service {
 public:
  explicit FaultyWeightsService(const WeightPublisher* publisher)
      : publisher_(publisher), real_(publisher, kToken) {}
  grpc::Status GetManifest(grpc::ServerContext* context, const v1::WeightManifestRequest* request,
                           v1::WeightManifest* reply) override {
    return real_.GetManifest(context, request, reply);
  }
  grpc::Status FetchWeights(grpc::ServerContext*, const v1::FetchWeightsRequest* request,
                            grpc::ServerWriter<v1::WeightChunk>* writer) override {
    int calls = 0;
    {
      absl::MutexLock lock(&mu_);
      offsets_.push_back(request->offset());
      calls = static_cast<int>(offsets_.size());
    }
    auto held = publisher_->Get(request->version());
    if (!held.ok()) return ToGrpcStatus(held.status());
    const std::string& bytes = (*held)->bytes;
    const int64_t chunk = (*held)->manifest.chunk_bytes();
    int sent = 0;
    for (int64_t offset = request->offset(); offset < static_cast<int64_t>(bytes.size());
         offset += chunk) {
      if (calls == 1 && sent == break_after_chunks) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset (test)");
      }
      v1::WeightChunk message;
      message.set_offset(offset);
      message.set_data(bytes.substr(offset, chunk));
      if (sent == corrupt_chunk) (*message.mutable_data())[0] ^= 0x01;
      if (!writer->Write(message)) return grpc::Status::CANCELLED;
      ++sent;
    }
    return grpc::Status::OK;
  }
  std::vector<int64_t> offsets() {
    absl::MutexLock lock(&mu_);
    return offsets_;
  }

  int break_after_chunks = -1;
  int corrupt_chunk = -1;

 private:
  const WeightPublisher* publisher_;
  WeightsService real_;
  absl::Mutex mu_;
  std::vector<int64_t> offsets_;
};

class WeightSyncTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new actor::testing::TempDir();
    const std::vector<std::string> corpus = {"Where does Maya live?", "I moved to Lisbon.",
                                             "**Answer:** Lisbon", "I have a dog named Rex."};
    ASSERT_TRUE(actor::testing::WriteTinyModel(BaseDir(), corpus, /*seed=*/1).ok());
    ASSERT_TRUE(actor::testing::WriteTinyModel(OtherDir(), corpus, /*seed=*/2).ok());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string BaseDir() { return dir_->Sub("base"); }
  static std::string OtherDir() { return dir_->Sub("other"); }

  void SetUp() override {
    WeightPublisherOptions options;
    options.chunk_bytes = 1000;
    ASSERT_TRUE(options.Validate().ok());
    publisher_ = std::make_unique<WeightPublisher>(options);
    service_ = std::make_unique<WeightsService>(publisher_.get(), kToken);
    faulty_ = std::make_unique<FaultyWeightsService>(publisher_.get());
    server_ = Serve(service_.get());
    faulty_server_ = Serve(faulty_.get());
  }
  void TearDown() override {
    for (StartedGrpcServer* server : {&server_, &faulty_server_}) {
      if (server->server != nullptr) {
        server->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
      }
    }
  }
  static StartedGrpcServer Serve(grpc::Service* service) {
    GrpcServerOptions options;
    options.services = {service};
    absl::StatusOr<StartedGrpcServer> server = StartGrpcServer(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : StartedGrpcServer();
  }
  std::unique_ptr<actor::WeightClient> Client(const std::string& address,
                                              const std::string& token = kToken) {
    actor::WeightClientOptions options;
    options.address = address;
    options.job_token = token;
    options.retry_backoff = absl::Milliseconds(1);
    options.call_timeout = absl::Seconds(60);
    options.scratch_dir = dir_->path();
    absl::StatusOr<std::unique_ptr<actor::WeightClient>> client =
        actor::WeightClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }
  static std::unique_ptr<actor::LocalPolicy> Policy(const std::string& dir) {
    actor::LocalPolicyOptions options;
    options.model_dir = dir;
    options.max_batch_size = 2;
    options.max_prompt_tokens = 128;
    options.max_response_tokens = 16;
    absl::StatusOr<std::unique_ptr<actor::LocalPolicy>> policy =
        actor::LocalPolicy::Create(options);
    EXPECT_TRUE(policy.ok()) << policy.status();
    return policy.ok() ? *std::move(policy) : nullptr;
  }
  static std::vector<std::vector<int32_t>> Greedy(actor::LocalPolicy* policy) {
    std::vector<actor::PolicyRequest> requests(2);
    requests[0].messages = {{"user", "Where does Maya live?"}};
    requests[1].messages = {{"user", "I have a dog named Rex."}};
    for (auto& request : requests) {
      request.sampling.temperature = 0;
      request.sampling.max_tokens = 12;
    }
    absl::StatusOr<std::vector<actor::Completion>> completions = policy->Complete(requests);
    EXPECT_TRUE(completions.ok()) << completions.status();
    std::vector<std::vector<int32_t>> out;
    if (completions.ok()) {
      for (const auto& completion : *completions) out.push_back(completion.response_ids);
    }
    return out;
  }

  static actor::testing::TempDir* dir_;
  std::unique_ptr<WeightPublisher> publisher_;
  std::unique_ptr<WeightsService> service_;
  std::unique_ptr<FaultyWeightsService> faulty_;
  StartedGrpcServer server_;
  StartedGrpcServer faulty_server_;
};

actor::testing::TempDir* WeightSyncTest::dir_ = nullptr;

TEST(Sha256Test, MatchesTheStandardVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(WeightSyncTest, PublishAndFetchRoundTripIsByteExact) {
  const std::string bytes = RandomBytes(10'123, 7);
  ASSERT_TRUE(publisher_->Publish(1, bytes, "raw").ok());
  auto client = Client(server_.address);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<actor::FetchedWeights> fetched = client->Fetch(0);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->bytes, bytes);
  EXPECT_EQ(fetched->manifest.version(), 1);
  EXPECT_EQ(fetched->manifest.total_bytes(), 10'123);
  EXPECT_EQ(fetched->manifest.chunk_bytes(), 1000);
  EXPECT_EQ(fetched->manifest.format(), "raw");
  EXPECT_EQ(fetched->manifest.content_hash(), Sha256Hex(bytes));
  // Raw bytes cannot be applied to a policy.
  auto policy = Policy(BaseDir());
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(client->Apply(*fetched, policy.get()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(policy->version(), 0);
}

TEST_F(WeightSyncTest, FetchStartsAtTheRequestedOffsetAndResumesAfterABreak) {
  const std::string bytes = RandomBytes(9'500, 11);
  ASSERT_TRUE(publisher_->Publish(3, bytes).ok());
  // The service itself: a fetch from an offset returns exactly the rest, in bounded chunks.
  auto channel = MakeChannel(server_.address, ChannelOptions());
  ASSERT_TRUE(channel.ok());
  auto stub = v1::Weights::NewStub(*channel);
  {
    grpc::ClientContext context;
    AttachJobToken(&context, kToken);
    v1::FetchWeightsRequest request;
    request.set_version(3);
    request.set_offset(4321);
    auto reader = stub->FetchWeights(&context, request);
    v1::WeightChunk chunk;
    std::string rest;
    int64_t expected_offset = 4321;
    while (reader->Read(&chunk)) {
      EXPECT_EQ(chunk.offset(), expected_offset);
      EXPECT_LE(chunk.data().size(), 1000u);
      expected_offset += static_cast<int64_t>(chunk.data().size());
      rest += chunk.data();
    }
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(rest, bytes.substr(4321));
  }
  {
    grpc::ClientContext context;
    AttachJobToken(&context, kToken);
    v1::FetchWeightsRequest request;
    request.set_version(3);
    request.set_offset(9'501);
    auto reader = stub->FetchWeights(&context, request);
    v1::WeightChunk chunk;
    while (reader->Read(&chunk)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  // The client resumes a broken fetch where it stopped.
  faulty_->break_after_chunks = 3;
  auto client = Client(faulty_server_.address);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<actor::FetchedWeights> fetched = client->Fetch(3);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->bytes, bytes);
  EXPECT_THAT(faulty_->offsets(), ::testing::ElementsAre(0, 3000));
  // And from a prefix it already has.
  absl::StatusOr<actor::FetchedWeights> from =
      client->FetchFrom(fetched->manifest, bytes.substr(0, 9000));
  ASSERT_TRUE(from.ok()) << from.status();
  EXPECT_EQ(from->bytes, bytes);
  EXPECT_EQ(faulty_->offsets().back(), 9000);
}

TEST_F(WeightSyncTest, CorruptedByteIsDataLossAndThePolicyIsUnchanged) {
  auto donor = llm::LoadCausalLM(OtherDir(), c10::Device("cpu"), c10::kFloat);
  ASSERT_TRUE(donor.ok()) << donor.status();
  ASSERT_TRUE(publisher_->PublishModel(2, **donor).ok());
  faulty_->corrupt_chunk = 5;
  auto client = Client(faulty_server_.address);
  ASSERT_NE(client, nullptr);
  auto policy = Policy(BaseDir());
  ASSERT_NE(policy, nullptr);
  const auto before = Greedy(policy.get());
  absl::StatusOr<int64_t> synced = client->Sync(policy.get());
  ASSERT_EQ(synced.status().code(), absl::StatusCode::kDataLoss) << synced.status();
  const std::string message(synced.status().message());
  const std::string published_hash = publisher_->GetManifest(2)->content_hash();
  EXPECT_THAT(message, HasSubstr(published_hash));
  EXPECT_THAT(message, HasSubstr("received bytes hash "));
  EXPECT_EQ(policy->version(), 0);
  EXPECT_EQ(Greedy(policy.get()), before);
}

TEST_F(WeightSyncTest, PublisherKeepsTheNewestTwoVersions) {
  auto client = Client(server_.address);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetManifest(0).status().code(), absl::StatusCode::kNotFound);
  for (int64_t version : {1, 2, 3}) {
    ASSERT_TRUE(publisher_->Publish(version, RandomBytes(100 * version, version)).ok());
  }
  EXPECT_EQ(publisher_->Publish(3, "again").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(publisher_->Publish(2, "older").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->GetManifest(1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->Fetch(1).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<v1::WeightManifest> two = client->GetManifest(2);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->total_bytes(), 200);
  absl::StatusOr<actor::FetchedWeights> newest = client->Fetch(0);
  ASSERT_TRUE(newest.ok()) << newest.status();
  EXPECT_EQ(newest->manifest.version(), 3);
  EXPECT_EQ(newest->bytes, RandomBytes(300, 3));
  EXPECT_EQ(publisher_->newest_version(), 3);
}

TEST_F(WeightSyncTest, CallsWithoutTheJobTokenAreUnauthenticated) {
  ASSERT_TRUE(publisher_->Publish(1, "bytes").ok());
  auto client = Client(server_.address, "wrong");
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetManifest(0).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(client->FetchFrom(*publisher_->GetManifest(1), "").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(WeightSyncTest, AppliedWeightsMakeThePolicyBehaveLikeOneLoadedFromThem) {
  auto donor = llm::LoadCausalLM(OtherDir(), c10::Device("cpu"), c10::kFloat);
  ASSERT_TRUE(donor.ok()) << donor.status();
  // In memory, the same bytes SaveCausalLM wrote to disk.
  absl::StatusOr<std::string> serialized = llm::SerializeCausalLMWeights(**donor);
  ASSERT_TRUE(serialized.ok()) << serialized.status();
  EXPECT_EQ(*serialized, ReadFile(OtherDir() + "/model.safetensors"));
  ASSERT_TRUE(publisher_->PublishModel(5, **donor).ok());

  auto policy = Policy(BaseDir());
  ASSERT_NE(policy, nullptr);
  const auto before = Greedy(policy.get());
  auto client = Client(server_.address);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<int64_t> synced = client->Sync(policy.get());
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_EQ(*synced, 5);
  EXPECT_EQ(policy->version(), 5);
  auto reference = Policy(OtherDir());
  ASSERT_NE(reference, nullptr);
  const auto after = Greedy(policy.get());
  EXPECT_EQ(after, Greedy(reference.get()));
  EXPECT_NE(after, before);
  // Nothing newer: Sync is a no-op.
  synced = client->Sync(policy.get());
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_EQ(*synced, 5);
  // The scratch copy is gone.
  int leftovers = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_->path())) {
    leftovers += entry.path().filename().string().rfind("memr1-weights-", 0) == 0;
  }
  EXPECT_EQ(leftovers, 0);
}

}  // namespace
}  // namespace memr1::learner
