// The gRPC service with real servers on 127.0.0.1:0: tokens and tenants, every call through
// the client, routing over 3 shards, shard-list mismatch, TLS, concurrent clients.

#include "memstore/service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/grpc_util.h"
#include "memstore/client.h"
#include "memstore/names.h"
#include "memstore/server.h"
#include "memstore/shard_router.h"
#include "tests/memstore/test_util.h"

namespace memr1::memstore {
namespace {

using ::memr1::memstore::testing::Add;
using ::memr1::memstore::testing::Request;
using ::memr1::memstore::testing::TempDir;
using ::memr1::memstore::testing::Update;
using ::testing::HasSubstr;

std::unique_ptr<MemstoreServer> StartShard(const std::string& dir, v1::TlsConfig tls = {}) {
  ServerOptions options;
  options.store.data_dir = dir;
  options.job_tokens = {{"job1", "secret1"}, {"job2", "secret2"}};
  options.tls = tls;
  auto server = MemstoreServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

std::unique_ptr<MemstoreClient> Connect(const std::string& address, const std::string& job,
                                        const std::string& token) {
  ClientOptions options;
  options.job = job;
  options.job_token = token;
  options.timeout = absl::Seconds(10);
  auto client = MemstoreClient::Connect(address, options);
  EXPECT_TRUE(client.ok());
  return std::move(*client);
}

v1::CreateBankRequest NewBank(const std::string& bank) {
  v1::CreateBankRequest request;
  request.set_bank(bank);
  return request;
}

TEST(MemstoreServiceTest, TokenAndJobAreRequired) {
  TempDir dir;
  auto server = StartShard(dir.path());
  ASSERT_NE(server, nullptr);
  for (const auto& [job, token] : std::vector<std::pair<std::string, std::string>>{
           {"job1", ""}, {"job1", "secret2"}, {"", "secret1"}, {"job3", "secret1"}}) {
    auto client = Connect(server->address(), job, token);
    EXPECT_EQ(client->CreateBank(NewBank("b")).status().code(),
              absl::StatusCode::kUnauthenticated)
        << job << "/" << token;
  }
  auto good = Connect(server->address(), "job1", "secret1");
  EXPECT_TRUE(good->CreateBank(NewBank("b")).ok());
}

TEST(MemstoreServiceTest, JobsAreIsolated) {
  TempDir dir;
  auto server = StartShard(dir.path());
  auto one = Connect(server->address(), "job1", "secret1");
  auto two = Connect(server->address(), "job2", "secret2");
  ASSERT_TRUE(one->CreateBank(NewBank("b")).ok());
  ASSERT_TRUE(one->Apply(Request("b", {Add("private")})).ok());
  EXPECT_EQ(two->GetBank("b").status().code(), absl::StatusCode::kNotFound);
  v1::SearchRequest search;
  search.set_bank("b");
  search.set_query("private");
  EXPECT_EQ(two->Search(search).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(two->Export("b").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(two->ListBanks({})->banks_size(), 0);
  EXPECT_EQ(one->ListBanks({})->banks_size(), 1);
}

TEST(MemstoreServiceTest, EveryCallThroughTheClient) {
  TempDir dir;
  auto server = StartShard(dir.path());
  auto client = Connect(server->address(), "job1", "secret1");
  ASSERT_TRUE(client->CreateBank(NewBank("ep")).ok());
  EXPECT_EQ(client->CreateBank(NewBank("ep")).status().code(), absl::StatusCode::kAlreadyExists);
  auto applied = client->Apply(Request("ep", {Add("Ann adopted a cat", "Ann"),
                                              Add("Bob plays chess", "Bob")},
                                       "r1"));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_TRUE(client->Apply(Request("ep", {Add("other")}, "r1"))->replayed());
  // Auto request ids: two Applies without one are two requests.
  ASSERT_TRUE(client->Apply(Request("ep", {Update("m1", "Ann adopted two cats")})).ok());
  EXPECT_EQ(client->GetBank("ep")->seq(), 2u);
  EXPECT_EQ(client->Apply(Request("ep", {Update("m9", "x")})).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client->Apply(Request("ep", {Add("")})).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::GetRequest get;
  get.set_bank("ep");
  get.set_memory_id("m1");
  EXPECT_EQ(client->Get(get)->text(), "Ann adopted two cats");
  get.set_as_of_seq(1);
  EXPECT_EQ(client->Get(get)->text(), "Ann adopted a cat");
  v1::HistoryRequest history;
  history.set_bank("ep");
  history.set_memory_id("m1");
  EXPECT_EQ(client->History(history)->versions_size(), 2);
  v1::SearchRequest search;
  search.set_bank("ep");
  search.set_query("cats chess");
  search.add_speakers("Bob");
  auto hits = client->Search(search);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits->hits_size(), 1);
  EXPECT_EQ(hits->hits(0).memory().id(), "m2");

  v1::ForkRequest fork;
  fork.set_source_bank("ep");
  fork.set_bank("ep/g0");
  fork.set_at_seq(1);
  ASSERT_TRUE(client->Fork(fork).ok());
  v1::ListRequest list;
  list.set_bank("ep/g0");
  EXPECT_EQ(client->List(list)->memories(0).text(), "Ann adopted a cat");

  auto records = client->Export("ep");
  ASSERT_TRUE(records.ok());
  ASSERT_TRUE(client->Import("ep-copy", *records).ok());
  list.set_bank("ep-copy");
  EXPECT_EQ(client->List(list)->memories(0).text(), "Ann adopted two cats");
  EXPECT_EQ(client->Import("ep-copy", *records).status().code(),
            absl::StatusCode::kAlreadyExists);

  ASSERT_TRUE(client->Drop("ep").ok());
  EXPECT_EQ(client->Drop("ep").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->List(list)->memories_size(), 2);
}

TEST(MemstoreServiceTest, LargeExportsStreamInChunks) {
  TempDir dir;
  auto server = StartShard(dir.path());
  auto client = Connect(server->address(), "job1", "secret1");
  ASSERT_TRUE(client->CreateBank(NewBank("big")).ok());
  // About 3 MiB of text: more than one 1 MiB chunk each way.
  for (int r = 0; r < 4; ++r) {
    std::vector<v1::Operation> ops;
    for (int i = 0; i < 50; ++i) ops.push_back(Add(std::string(15000, 'a' + (i % 26))));
    ASSERT_TRUE(client->Apply(Request("big", ops)).ok());
  }
  auto records = client->Export("big");
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ(records->size(), 1u + 200u + 4u);
  auto imported = client->Import("big2", *records);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->memory_count(), 200u);
}

TEST(MemstoreServiceTest, RoutesAcrossThreeShardsAndRefusesAnotherShardList) {
  TempDir dirs[3];
  std::unique_ptr<MemstoreServer> servers[3];
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    servers[i] = StartShard(dirs[i].path());
    addresses.push_back(servers[i]->address());
  }
  ClientOptions options;
  options.job = "job1";
  options.job_token = "secret1";
  auto router = ShardRouter::Connect(addresses, options);
  ASSERT_TRUE(router.ok()) << router.status();
  for (int b = 0; b < 30; ++b) {
    const std::string bank = absl::StrCat("episode-", b);
    ASSERT_TRUE((*router)->CreateBank(NewBank(bank)).ok());
    ASSERT_TRUE((*router)->Apply(Request(bank, {Add(absl::StrCat("fact ", b))})).ok());
  }
  int total = 0;
  for (int s = 0; s < 3; ++s) {
    const int count = (*router)->shard(s).ListBanks({})->banks_size();
    EXPECT_GT(count, 0) << "shard " << s;
    total += count;
  }
  EXPECT_EQ(total, 30);
  for (int b = 0; b < 30; ++b) {
    const std::string bank = absl::StrCat("episode-", b);
    const int home = (*router)->ring().ShardFor(bank);
    for (int s = 0; s < 3; ++s) {
      EXPECT_EQ((*router)->shard(s).GetBank(bank).ok(), s == home) << bank << " on " << s;
    }
  }
  // Forks named <bank>/... stay on their source's shard; others are copied across.
  v1::ForkRequest fork;
  fork.set_source_bank("episode-0");
  fork.set_bank("episode-0/g1");
  auto info = (*router)->Fork(fork);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->parent_bank(), "episode-0");
  std::string far = "elsewhere-0";
  for (int i = 1; (*router)->ring().ShardFor(far) == (*router)->ring().ShardFor("episode-0"); ++i) {
    far = absl::StrCat("elsewhere-", i);
  }
  fork.set_bank(far);
  ASSERT_TRUE((*router)->Fork(fork).ok());
  v1::ListRequest list;
  list.set_bank(far);
  EXPECT_EQ((*router)->List(list)->memories(0).text(), "fact 0");

  // A client with another shard list (reordered, or missing a shard) fails clearly.
  for (const std::vector<std::string>& other :
       {std::vector<std::string>{addresses[1], addresses[0], addresses[2]},
        std::vector<std::string>{addresses[0], addresses[1]}}) {
    auto wrong = ShardRouter::Connect(other, options);
    ASSERT_TRUE(wrong.ok());
    bool refused = false;
    for (int b = 0; b < 30 && !refused; ++b) {
      const absl::Status status =
          (*wrong)->Apply(Request(absl::StrCat("episode-", b), {Add("x")})).status();
      if (status.ok()) continue;
      EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
      EXPECT_THAT(std::string(status.message()), HasSubstr((*router)->ring().fingerprint()));
      EXPECT_THAT(std::string(status.message()), HasSubstr((*wrong)->ring().fingerprint()));
      refused = true;
    }
    EXPECT_TRUE(refused);
  }
  // The refused calls changed nothing.
  for (int b = 0; b < 30; ++b) {
    EXPECT_EQ((*router)->ForBank(absl::StrCat("episode-", b)).GetBank(absl::StrCat("episode-", b))
                  ->seq(),
              1u);
  }
}

TEST(MemstoreServiceTest, ConcurrentClientsOnSameAndDifferentBanks) {
  TempDir dir;
  auto server = StartShard(dir.path());
  auto setup = Connect(server->address(), "job1", "secret1");
  ASSERT_TRUE(setup->CreateBank(NewBank("shared")).ok());
  constexpr int kThreads = 6;
  constexpr int kRequests = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t]() {
      auto client = Connect(server->address(), "job1", "secret1");
      const std::string own = absl::StrCat("own-", t);
      if (!client->CreateBank(NewBank(own)).ok()) ++failures;
      for (int i = 0; i < kRequests; ++i) {
        if (!client->Apply(Request("shared", {Add(absl::StrCat("t", t, " r", i)), Add("pair")}))
                 .ok()) {
          ++failures;
        }
        if (!client->Apply(Request(own, {Add("mine")})).ok()) ++failures;
        v1::SearchRequest search;
        search.set_bank("shared");
        search.set_query("pair");
        if (!client->Search(search).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  const auto shared = setup->GetBank("shared");
  EXPECT_EQ(shared->seq(), uint64_t{kThreads * kRequests});
  EXPECT_EQ(shared->memory_count(), uint64_t{2 * kThreads * kRequests});
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(setup->GetBank(absl::StrCat("own-", t))->memory_count(), uint64_t{kRequests});
  }
}

TEST(MemstoreServiceTest, TlsWhenConfigured) {
  TempDir dir;
  const std::string key = dir.path() + "/key.pem";
  const std::string cert = dir.path() + "/cert.pem";
  const std::string command =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
      "subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " + key + " -out " + cert +
      " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) GTEST_SKIP() << "openssl cannot make a certificate";
  v1::TlsConfig tls;
  tls.set_enabled(true);
  tls.set_cert_file(cert);
  tls.set_key_file(key);
  auto server = StartShard(dir.path() + "/db", tls);
  ASSERT_NE(server, nullptr);
  ClientOptions options;
  options.job = "job1";
  options.job_token = "secret1";
  options.timeout = absl::Seconds(5);
  options.channel.tls.set_enabled(true);
  options.channel.tls.set_ca_file(cert);
  auto secure = MemstoreClient::Connect(server->address(), options);
  ASSERT_TRUE(secure.ok());
  EXPECT_TRUE((*secure)->CreateBank(NewBank("b")).ok());
  options.channel.tls.set_enabled(false);
  options.channel.max_attempts = 1;
  auto plain = MemstoreClient::Connect(server->address(), options);
  EXPECT_FALSE((*plain)->GetBank("b").ok());
}

}  // namespace
}  // namespace memr1::memstore
