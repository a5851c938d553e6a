#pragma once

// Helpers shared by the actor suites: temp directories, a real memstore server on 127.0.0.1
// with a ShardRouter over it, and small hand-made conversations.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "actor/dataset.h"
#include "memstore/server.h"
#include "memstore/shard_router.h"
#include "tests/testing/files.h"

namespace memr1::actor::testing {

using ::memr1::testing::TempDir;

constexpr char kTestJob[] = "actor-test";
constexpr char kTestToken[] = "actor-test-token";

// `shards` memstore servers on 127.0.0.1 (ports the OS picks), data under `dir`, and a router
// over them for job kTestJob.
struct TestMemstore {
  std::vector<std::unique_ptr<memstore::MemstoreServer>> servers;
  std::unique_ptr<memstore::ShardRouter> router;
};

inline absl::StatusOr<TestMemstore> StartTestMemstore(const std::string& dir, int shards = 1) {
  TestMemstore memstore;
  std::vector<std::string> addresses;
  for (int i = 0; i < shards; ++i) {
    memstore::ServerOptions options;
    options.store.data_dir = dir + "/shard" + std::to_string(i);
    options.store.bank_ttl_seconds = 0;
    options.job_tokens[kTestJob] = kTestToken;
    absl::StatusOr<std::unique_ptr<memstore::MemstoreServer>> server =
        memstore::MemstoreServer::Start(options);
    if (!server.ok()) return server.status();
    addresses.push_back((*server)->address());
    memstore.servers.push_back(*std::move(server));
  }
  memstore::ClientOptions client;
  client.job = kTestJob;
  client.job_token = kTestToken;
  absl::StatusOr<std::unique_ptr<memstore::ShardRouter>> router =
      memstore::ShardRouter::Connect(addresses, client);
  if (!router.ok()) return router.status();
  memstore.router = *std::move(router);
  return memstore;
}

// A two-speaker conversation: Maya lives in Porto, then moves to Lisbon; Sam has a dog.
//   session 1 ("8 May, 2023"):  D1:1 Maya "I live in Porto."   D1:2 Sam "Nice city!"
//                               D1:3 Sam "I have a dog named Rex."
//   session 2 ("9 June, 2023"): D2:1 Maya "I moved to Lisbon." D2:2 Sam "How is Lisbon?"
// Questions: qa0 "Where does Maya live?" -> "Lisbon" (evidence D1:1, D2:1, category 4);
//            qa1 "What is the name of Sam's dog?" -> "Rex" (evidence D1:3, category 4);
//            qa2 "Where did Maya live before Lisbon?" -> "Porto" (evidence D1:1, D2:1, cat 1).
inline Conversation SmallConversation(const std::string& id = "conv-test") {
  Conversation c;
  c.id = id;
  c.speaker_a = "Maya";
  c.speaker_b = "Sam";
  Session s1;
  s1.number = 1;
  s1.date_time = "8 May, 2023";
  s1.turns = {{"Maya", "D1:1", "I live in Porto.", "", false},
              {"Sam", "D1:2", "Nice city!", "", false},
              {"Sam", "D1:3", "I have a dog named Rex.", "", false}};
  Session s2;
  s2.number = 2;
  s2.date_time = "9 June, 2023";
  s2.turns = {{"Maya", "D2:1", "I moved to Lisbon.", "", false},
              {"Sam", "D2:2", "How is Lisbon?", "", false}};
  c.sessions = {s1, s2};
  QaItem q0;
  q0.id = id + "/qa0";
  q0.question = "Where does Maya live?";
  q0.answer = "Lisbon";
  q0.category = 4;
  q0.evidence = {"D1:1", "D2:1"};
  QaItem q1;
  q1.id = id + "/qa1";
  q1.question = "What is the name of Sam's dog?";
  q1.answer = "Rex";
  q1.category = 4;
  q1.evidence = {"D1:3"};
  QaItem q2;
  q2.id = id + "/qa2";
  q2.question = "Where did Maya live before Lisbon?";
  q2.answer = "Porto";
  q2.category = 1;
  q2.evidence = {"D1:1", "D2:1"};
  c.qa = {q0, q1, q2};
  return c;
}

}  // namespace memr1::actor::testing
