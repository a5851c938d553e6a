// BankStore on a real RocksDB in a temp directory: every operation and error, atomicity,
// idempotent retries, history and point-in-time reads, forks, export/import, tenants, TTL,
// restart, concurrency.

#include "memstore/bank_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <thread>

#include "google/protobuf/util/message_differencer.h"
#include "tests/memstore/test_util.h"

namespace memr1::memstore {
namespace {

using ::memr1::memstore::testing::Add;
using ::memr1::memstore::testing::Delete;
using ::memr1::memstore::testing::Noop;
using ::memr1::memstore::testing::Request;
using ::memr1::memstore::testing::TempDir;
using ::memr1::memstore::testing::Update;
using ::testing::HasSubstr;

constexpr char kJob[] = "job1";

class BankStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(int max_fork_depth = 8) {
    store_.reset();
    StoreOptions options;
    options.data_dir = dir_.path() + "/db";
    options.max_text_bytes = 64;
    options.max_ops_per_request = 8;
    options.max_fork_depth = max_fork_depth;
    auto store = BankStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  void Create(const std::string& bank, const std::string& job = kJob) {
    v1::CreateBankRequest request;
    request.set_bank(bank);
    ASSERT_TRUE(store_->CreateBank(job, request).ok());
  }

  v1::ApplyResponse MustApply(const v1::ApplyRequest& request, const std::string& job = kJob) {
    auto response = store_->Apply(job, request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::ApplyResponse();
  }

  // Texts of the live memories (id order) as of `seq` (0: latest).
  std::vector<std::string> Texts(const std::string& bank, uint64_t seq = 0,
                                 const std::string& job = kJob) {
    v1::ListRequest request;
    request.set_bank(bank);
    request.set_as_of_seq(seq);
    auto response = store_->List(job, request);
    EXPECT_TRUE(response.ok()) << response.status();
    std::vector<std::string> texts;
    if (response.ok()) {
      for (const v1::Memory& memory : response->memories()) texts.push_back(memory.text());
    }
    return texts;
  }

  std::vector<std::string> SearchIds(const std::string& bank, const std::string& query,
                                     uint64_t seq = 0) {
    v1::SearchRequest request;
    request.set_bank(bank);
    request.set_query(query);
    request.set_as_of_seq(seq);
    auto response = store_->Search(kJob, request);
    EXPECT_TRUE(response.ok()) << response.status();
    std::vector<std::string> ids;
    if (response.ok()) {
      for (const v1::SearchHit& hit : response->hits()) ids.push_back(hit.memory().id());
    }
    return ids;
  }

  uint64_t Seq(const std::string& bank) { return store_->GetBank(kJob, bank)->seq(); }

  TempDir dir_;
  std::unique_ptr<BankStore> store_;
};

TEST_F(BankStoreTest, CreateGetAndListBanks) {
  Create("b1");
  Create("b2");
  v1::CreateBankRequest again;
  again.set_bank("b1");
  EXPECT_EQ(store_->CreateBank(kJob, again).status().code(), absl::StatusCode::kAlreadyExists);
  again.set_bank("bad name");
  EXPECT_EQ(store_->CreateBank(kJob, again).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetBank(kJob, "nope").status().code(), absl::StatusCode::kNotFound);
  v1::ListBanksRequest list;
  list.set_page_size(1);
  auto page = store_->ListBanks(kJob, list);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->banks_size(), 1);
  EXPECT_EQ(page->banks(0).bank(), "b1");
  list.set_page_token(page->next_page_token());
  page = store_->ListBanks(kJob, list);
  ASSERT_EQ(page->banks_size(), 1);
  EXPECT_EQ(page->banks(0).bank(), "b2");
  EXPECT_TRUE(page->next_page_token().empty());
}

TEST_F(BankStoreTest, AddUpdateDeleteNoopAndHistory) {
  Create("b");
  v1::ApplyResponse added = MustApply(Request("b", {Add("likes tea", "Ann"), Add("has a dog")}));
  EXPECT_EQ(added.seq(), 1u);
  ASSERT_EQ(added.results_size(), 2);
  EXPECT_EQ(added.results(0).memory_id(), "m1");
  EXPECT_EQ(added.results(1).memory_id(), "m2");

  v1::ApplyResponse changed = MustApply(Request("b", {Update("m1", "likes green tea"),
                                                      Delete("m2"), Noop("m1"), Noop()}));
  EXPECT_EQ(changed.seq(), 2u);

  v1::GetRequest get;
  get.set_bank("b");
  get.set_memory_id("m1");
  auto memory = store_->Get(kJob, get);
  ASSERT_TRUE(memory.ok());
  EXPECT_EQ(memory->text(), "likes green tea");
  EXPECT_EQ(memory->speaker(), "Ann");  // UPDATE keeps what it does not replace
  EXPECT_EQ(memory->version(), 2);
  get.set_memory_id("m2");
  EXPECT_THAT(store_->Get(kJob, get).status().message(), HasSubstr("deleted at seq 2"));
  EXPECT_EQ(Texts("b"), std::vector<std::string>{"likes green tea"});
  EXPECT_EQ(store_->GetBank(kJob, "b")->memory_count(), 1u);

  v1::HistoryRequest history;
  history.set_bank("b");
  history.set_memory_id("m1");
  auto versions = store_->History(kJob, history);
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->versions_size(), 3);
  EXPECT_EQ(versions->versions(0).event(), v1::ADD);
  EXPECT_EQ(versions->versions(1).event(), v1::UPDATE);
  EXPECT_EQ(versions->versions(1).old_text(), "likes tea");
  EXPECT_EQ(versions->versions(1).new_text(), "likes green tea");
  EXPECT_EQ(versions->versions(2).event(), v1::NOOP);
  history.set_memory_id("m2");
  versions = store_->History(kJob, history);
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->versions_size(), 2);
  EXPECT_TRUE(versions->versions(1).deleted());
  EXPECT_EQ(versions->versions(1).old_text(), "has a dog");
  history.set_memory_id("m9");
  EXPECT_EQ(store_->History(kJob, history).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(BankStoreTest, EveryBadRequestLeavesTheBankUnchanged) {
  Create("b");
  MustApply(Request("b", {Add("first", "", {1, 0})}));
  const std::vector<std::string> before = Texts("b");
  struct Case {
    v1::ApplyRequest request;
    absl::StatusCode code;
    std::string message;
  };
  v1::Operation unspecified;
  unspecified.set_text("x");
  v1::Operation nan_embedding = Add("x", "", {NAN, 1});
  const std::vector<Case> cases = {
      {Request("nope", {Add("x")}), absl::StatusCode::kNotFound, "bank 'nope' not found"},
      {Request("b", {Add("ok"), Update("m7", "x")}), absl::StatusCode::kNotFound, "op 1"},
      {Request("b", {Add("ok"), Delete("m1"), Delete("m1")}), absl::StatusCode::kNotFound,
       "op 2"},
      {Request("b", {Add("ok"), Add("")}), absl::StatusCode::kInvalidArgument, "text is empty"},
      {Request("b", {Add(std::string(65, 'x'))}), absl::StatusCode::kInvalidArgument,
       "65 bytes; at most 64"},
      {Request("b", std::vector<v1::Operation>(9, Add("x"))), absl::StatusCode::kInvalidArgument,
       "9 ops"},
      {Request("b", {Add("ok"), Update("x1", "y")}), absl::StatusCode::kInvalidArgument,
       "malformed"},
      {Request("b", {Delete("m01")}), absl::StatusCode::kInvalidArgument, "malformed"},
      {Request("b", {Add("ok"), Add("x", "", {1, 2, 3})}), absl::StatusCode::kInvalidArgument,
       "dimension 3"},
      {Request("b", {nan_embedding}), absl::StatusCode::kInvalidArgument, "NaN"},
      {Request("b", {unspecified}), absl::StatusCode::kInvalidArgument, "event"},
      {Request("b", {Add("x")}, std::string(300, 'r')), absl::StatusCode::kInvalidArgument,
       "request_id"},
  };
  for (const Case& c : cases) {
    const absl::Status status = store_->Apply(kJob, c.request).status();
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message));
    EXPECT_EQ(Seq("b"), 1u);
    EXPECT_EQ(Texts("b"), before);
  }
  // The failed requests used no memory ids either.
  EXPECT_EQ(MustApply(Request("b", {Add("second")})).results(0).memory_id(), "m2");
}

TEST_F(BankStoreTest, RepeatedRequestIdReturnsTheFirstResult) {
  Create("b");
  const v1::ApplyResponse first = MustApply(Request("b", {Add("x"), Add("y")}, "req-1"));
  const v1::ApplyResponse again = MustApply(Request("b", {Add("x"), Add("y")}, "req-1"));
  EXPECT_FALSE(first.replayed());
  EXPECT_TRUE(again.replayed());
  EXPECT_EQ(again.seq(), first.seq());
  EXPECT_EQ(again.results(1).memory_id(), first.results(1).memory_id());
  EXPECT_EQ(Texts("b").size(), 2u);
  EXPECT_EQ(Seq("b"), 1u);
  // Survives a restart.
  Reopen();
  EXPECT_TRUE(MustApply(Request("b", {Add("x"), Add("y")}, "req-1")).replayed());
  EXPECT_EQ(Texts("b").size(), 2u);
}

TEST_F(BankStoreTest, PointInTimeReads) {
  Create("b");
  MustApply(Request("b", {Add("alpha one")}));            // seq 1
  MustApply(Request("b", {Add("beta two")}));             // seq 2
  MustApply(Request("b", {Update("m1", "gamma three")}));  // seq 3
  MustApply(Request("b", {Delete("m2")}));                 // seq 4
  EXPECT_EQ(Texts("b", 1), std::vector<std::string>{"alpha one"});
  EXPECT_EQ(Texts("b", 2), (std::vector<std::string>{"alpha one", "beta two"}));
  EXPECT_EQ(Texts("b", 3), (std::vector<std::string>{"gamma three", "beta two"}));
  EXPECT_EQ(Texts("b"), std::vector<std::string>{"gamma three"});
  EXPECT_EQ(SearchIds("b", "alpha", 2), std::vector<std::string>{"m1"});
  EXPECT_TRUE(SearchIds("b", "alpha").empty());
  EXPECT_EQ(SearchIds("b", "beta", 3), std::vector<std::string>{"m2"});
  v1::GetRequest get;
  get.set_bank("b");
  get.set_memory_id("m1");
  get.set_as_of_seq(2);
  EXPECT_EQ(store_->Get(kJob, get)->text(), "alpha one");
  get.set_as_of_seq(9);
  EXPECT_EQ(store_->Get(kJob, get).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BankStoreTest, ForksAreIndependentOfTheirSource) {
  Create("ep");
  MustApply(Request("ep", {Add("one"), Add("two")}));  // seq 1
  MustApply(Request("ep", {Add("three")}));            // seq 2
  v1::ForkRequest fork;
  fork.set_source_bank("ep");
  fork.set_bank("ep/g0");
  auto info = store_->Fork(kJob, fork);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->seq(), 2u);
  EXPECT_EQ(info->memory_count(), 3u);
  EXPECT_EQ(info->parent_bank(), "ep");
  fork.set_bank("ep/g1");
  fork.set_at_seq(1);
  info = store_->Fork(kJob, fork);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->memory_count(), 2u);
  EXPECT_EQ(Texts("ep/g1"), (std::vector<std::string>{"one", "two"}));

  MustApply(Request("ep/g0", {Update("m1", "one changed"), Delete("m3"), Add("four")}));
  MustApply(Request("ep", {Update("m2", "two changed")}));
  EXPECT_EQ(Texts("ep"), (std::vector<std::string>{"one", "two changed", "three"}));
  EXPECT_EQ(Texts("ep/g0"), (std::vector<std::string>{"one changed", "two", "four"}));
  EXPECT_EQ(Texts("ep/g1"), (std::vector<std::string>{"one", "two"}));
  // The fork's history includes the inherited versions; its past is its source's past.
  v1::HistoryRequest history;
  history.set_bank("ep/g0");
  history.set_memory_id("m1");
  EXPECT_EQ(store_->History(kJob, history)->versions_size(), 2);
  EXPECT_EQ(Texts("ep/g0", 1), (std::vector<std::string>{"one", "two"}));
  // Fork ids never collide with the source's.
  EXPECT_EQ(MustApply(Request("ep/g1", {Add("x")})).results(0).memory_id(), "m4");

  fork.set_at_seq(99);
  fork.set_bank("ep/g2");
  EXPECT_EQ(store_->Fork(kJob, fork).status().code(), absl::StatusCode::kInvalidArgument);
  fork.set_at_seq(0);
  fork.set_bank("ep/g0");
  EXPECT_EQ(store_->Fork(kJob, fork).status().code(), absl::StatusCode::kAlreadyExists);
  fork.set_source_bank("nope");
  fork.set_bank("z");
  EXPECT_EQ(store_->Fork(kJob, fork).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(BankStoreTest, ForkSearchesReadTheSameWithAndWithoutTheSourceIndexCached) {
  Create("src");
  MustApply(Request("src", {Add("red apple"), Add("green pear"), Add("blue plum")}));
  EXPECT_EQ(SearchIds("src", "apple pear"), (std::vector<std::string>{"m1", "m2"}));  // cached
  for (int i = 0; i < 3; ++i) {
    v1::ForkRequest fork;
    fork.set_source_bank("src");
    fork.set_bank(absl::StrCat("src/g", i));
    ASSERT_TRUE(store_->Fork(kJob, fork).ok());
  }
  MustApply(Request("src/g0", {Update("m1", "yellow banana"), Delete("m2"), Add("apple pie")}));
  MustApply(Request("src/g1", {Add("pear tart")}));
  const std::vector<std::string> g0 = SearchIds("src/g0", "apple pear banana");
  const std::vector<std::string> g1 = SearchIds("src/g1", "apple pear");
  EXPECT_EQ(g0, (std::vector<std::string>{"m1", "m4"}));  // equal scores: id order
  EXPECT_EQ(g1.size(), 3u);
  EXPECT_EQ(SearchIds("src/g2", "apple pear"), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(SearchIds("src", "apple pear banana"), (std::vector<std::string>{"m1", "m2"}));
  Reopen();  // nothing cached: built from storage
  EXPECT_EQ(SearchIds("src/g0", "apple pear banana"), g0);
  EXPECT_EQ(SearchIds("src/g1", "apple pear"), g1);
}

TEST_F(BankStoreTest, DroppingASourceKeepsItsForksWorking) {
  Create("ep");
  MustApply(Request("ep", {Add("one"), Add("two")}));
  v1::ForkRequest fork;
  fork.set_source_bank("ep");
  fork.set_bank("ep/a");
  ASSERT_TRUE(store_->Fork(kJob, fork).ok());
  fork.set_source_bank("ep/a");
  fork.set_bank("ep/a/b");
  ASSERT_TRUE(store_->Fork(kJob, fork).ok());
  ASSERT_TRUE(store_->Drop(kJob, "ep").ok());
  ASSERT_TRUE(store_->Drop(kJob, "ep/a").ok());
  EXPECT_EQ(store_->Drop(kJob, "ep").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetBank(kJob, "ep").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Texts("ep/a/b"), (std::vector<std::string>{"one", "two"}));
  // The name can be reused without mixing data.
  Create("ep");
  EXPECT_TRUE(Texts("ep").empty());
  ASSERT_TRUE(store_->Drop(kJob, "ep/a/b").ok());
  EXPECT_EQ(store_->ListBanks(kJob, {})->banks_size(), 1);
}

TEST_F(BankStoreTest, DeepForkChainsAreCopiedAndReadTheSame) {
  Reopen(/*max_fork_depth=*/2);
  Create("r");
  MustApply(Request("r", {Add("zero")}));
  std::string source = "r";
  for (int i = 0; i < 5; ++i) {
    v1::ForkRequest fork;
    fork.set_source_bank(source);
    fork.set_bank(absl::StrCat("r/", i));
    ASSERT_TRUE(store_->Fork(kJob, fork).ok());
    source = fork.bank();
    MustApply(Request(source, {Add(absl::StrCat("item ", i)), Update("m1", absl::StrCat("v", i))}));
  }
  EXPECT_EQ(Texts(source), (std::vector<std::string>{"v4", "item 0", "item 1", "item 2",
                                                     "item 3", "item 4"}));
  v1::HistoryRequest history;
  history.set_bank(source);
  history.set_memory_id("m1");
  EXPECT_EQ(store_->History(kJob, history)->versions_size(), 6);
  EXPECT_EQ(Texts(source, 1), std::vector<std::string>{"zero"});
}

TEST_F(BankStoreTest, ExportImportRoundTripIsLossless) {
  Create("src");
  MustApply(Request("src", {Add("apple pie", "Ann", {1, 0, 0}), Add("banana", "Bob")}, "r1"));
  MustApply(Request("src", {Update("m1", "apple tart"), Noop()}, "r2"));
  MustApply(Request("src", {Delete("m2"), Add("cherry", "Ann", {0, 1, 0})}));
  std::vector<v1::ExportRecord> records;
  ASSERT_TRUE(store_
                  ->Export(kJob, "src",
                           [&](v1::ExportRecord record) {
                             records.push_back(std::move(record));
                             return absl::OkStatus();
                           })
                  .ok());
  ASSERT_GE(records.size(), 7u);
  auto imported = store_->Import(kJob, "copy", records);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->seq(), 3u);
  EXPECT_EQ(imported->embedding_dim(), 3u);
  EXPECT_EQ(imported->memory_count(), 2u);

  std::vector<v1::ExportRecord> again;
  ASSERT_TRUE(store_
                  ->Export(kJob, "copy",
                           [&](v1::ExportRecord record) {
                             again.push_back(std::move(record));
                             return absl::OkStatus();
                           })
                  .ok());
  ASSERT_EQ(again.size(), records.size());
  for (size_t i = 1; i < records.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(records[i], again[i]))
        << records[i].DebugString() << " vs " << again[i].DebugString();
  }
  for (uint64_t seq = 1; seq <= 3; ++seq) EXPECT_EQ(Texts("src", seq), Texts("copy", seq));
  // Idempotency keys travel too.
  EXPECT_TRUE(MustApply(Request("copy", {Add("x")}, "r1")).replayed());
  // A broken export is refused whole.
  std::vector<v1::ExportRecord> broken = records;
  broken.back().mutable_version()->set_event(v1::UPDATE);
  broken.back().mutable_version()->set_memory_id("m2");  // deleted earlier
  EXPECT_EQ(store_->Import(kJob, "broken", broken).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetBank(kJob, "broken").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Import(kJob, "copy", records).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(BankStoreTest, JobsNeverSeeEachOthersBanks) {
  Create("shared-name", "alpha");
  MustApply(Request("shared-name", {Add("secret of alpha")}), "alpha");
  EXPECT_EQ(store_->GetBank("beta", "shared-name").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Apply("beta", Request("shared-name", {Add("x")})).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListBanks("beta", {})->banks_size(), 0);
  v1::ForkRequest fork;
  fork.set_source_bank("shared-name");
  fork.set_bank("stolen");
  EXPECT_EQ(store_->Fork("beta", fork).status().code(), absl::StatusCode::kNotFound);
  Create("shared-name", "beta");
  EXPECT_TRUE(Texts("shared-name", 0, "beta").empty());
  EXPECT_EQ(Texts("shared-name", 0, "alpha"), std::vector<std::string>{"secret of alpha"});
  EXPECT_EQ(store_->GetBank("bad job", "x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(BankStoreTest, ExpiredBanksAreDropped) {
  v1::CreateBankRequest request;
  request.set_bank("short");
  request.set_ttl_seconds(60);
  ASSERT_TRUE(store_->CreateBank(kJob, request).ok());
  request.set_bank("forever");
  request.set_ttl_seconds(0);
  ASSERT_TRUE(store_->CreateBank(kJob, request).ok());
  request.set_bank("default");
  request.clear_ttl_seconds();  // the store default: 3600 s
  ASSERT_TRUE(store_->CreateBank(kJob, request).ok());
  EXPECT_EQ(*store_->ExpireBanks(absl::Now()), 0);
  EXPECT_EQ(*store_->ExpireBanks(absl::Now() + absl::Seconds(120)), 1);
  EXPECT_EQ(store_->GetBank(kJob, "short").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*store_->ExpireBanks(absl::Now() + absl::Hours(2)), 1);
  EXPECT_TRUE(store_->GetBank(kJob, "forever").ok());
  request.set_ttl_seconds(-1);
  EXPECT_EQ(store_->CreateBank(kJob, request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(BankStoreTest, DataSurvivesReopen) {
  Create("b");
  MustApply(Request("b", {Add("kept")}));
  v1::ForkRequest fork;
  fork.set_source_bank("b");
  fork.set_bank("b/f");
  ASSERT_TRUE(store_->Fork(kJob, fork).ok());
  Reopen();
  EXPECT_EQ(Texts("b"), std::vector<std::string>{"kept"});
  EXPECT_EQ(Texts("b/f"), std::vector<std::string>{"kept"});
  EXPECT_EQ(MustApply(Request("b", {Add("next")})).seq(), 2u);
  Create("c");  // the uid counter survived too: c's data is not b's
  EXPECT_TRUE(Texts("c").empty());
}

TEST_F(BankStoreTest, SearchModesAndFilters) {
  Create("s");
  MustApply(Request("s", {Add("apple banana", "Ann", {1, 0}), Add("apple apple cherry", "Bob", {0, 1}),
                          Add("banana", "Ann", {1, 1})}));
  v1::SearchRequest request;
  request.set_bank("s");
  request.set_query("Apple!");
  auto response = store_->Search(kJob, request);
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->mode(), v1::BM25);
  ASSERT_EQ(response->hits_size(), 2);
  const double idf = std::log(1.0 + (3 - 2 + 0.5) / (2 + 0.5));
  // m1: tf 1, length 2 = average; m2: tf 2, length 3 (average 2).
  EXPECT_NEAR(response->hits(1).score(), idf, 1e-9);
  EXPECT_NEAR(response->hits(0).score(), idf * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 1.5)), 1e-9);
  EXPECT_EQ(response->hits(0).memory().id(), "m2");

  request.add_speakers("Ann");
  response = store_->Search(kJob, request);
  ASSERT_EQ(response->hits_size(), 1);
  EXPECT_EQ(response->hits(0).memory().id(), "m1");

  request.clear_speakers();
  request.set_mode(v1::DENSE);
  request.add_query_embedding(0.1f);
  request.add_query_embedding(1.0f);
  response = store_->Search(kJob, request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->hits_size(), 3);
  EXPECT_EQ(response->hits(0).memory().id(), "m2");
  EXPECT_EQ(response->hits(1).memory().id(), "m3");

  request.set_mode(v1::SEARCH_MODE_AUTO);
  response = store_->Search(kJob, request);
  EXPECT_EQ(response->mode(), v1::HYBRID);
  ASSERT_EQ(response->hits_size(), 3);
  EXPECT_EQ(response->hits(0).memory().id(), "m2");  // first in both rankings
  EXPECT_NEAR(response->hits(0).score(), 2.0 / 61, 1e-12);

  request.add_query_embedding(0);
  EXPECT_EQ(store_->Search(kJob, request).status().code(), absl::StatusCode::kInvalidArgument);
  request.clear_query_embedding();
  request.set_query("");
  request.set_mode(v1::BM25);
  EXPECT_EQ(store_->Search(kJob, request).status().code(), absl::StatusCode::kInvalidArgument);
  request.set_query("zzz");
  request.set_k(3);
  EXPECT_EQ(store_->Search(kJob, request)->hits_size(), 0);
}

TEST_F(BankStoreTest, ConcurrentAppliesOnOneBankAndOnManyBanks) {
  Create("same");
  for (int t = 0; t < 4; ++t) Create(absl::StrCat("own", t));
  constexpr int kRequests = 50;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> seqs(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t]() {
      for (int i = 0; i < kRequests; ++i) {
        auto same = store_->Apply(kJob, Request("same", {Add(absl::StrCat("t", t, " i", i))}));
        if (same.ok()) seqs[t].push_back(same->seq());
        auto own = store_->Apply(kJob, Request(absl::StrCat("own", t), {Add("x")}));
        EXPECT_TRUE(own.ok());
        v1::SearchRequest search;
        search.set_bank("same");
        search.set_query(absl::StrCat("t", t));
        EXPECT_TRUE(store_->Search(kJob, search).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<uint64_t> all;
  for (const auto& s : seqs) all.insert(s.begin(), s.end());
  EXPECT_EQ(all.size(), 4u * kRequests);
  EXPECT_EQ(*all.rbegin(), 4u * kRequests);
  EXPECT_EQ(store_->GetBank(kJob, "same")->memory_count(), 4u * kRequests);
  for (int t = 0; t < 4; ++t) EXPECT_EQ(Seq(absl::StrCat("own", t)), uint64_t{kRequests});
}

TEST_F(BankStoreTest, ShardIdentityIsRecordedAtFirstUse) {
  v1::ShardIdentity first;
  first.set_fingerprint("aaaa");
  first.set_index(1);
  first.set_count(3);
  ASSERT_TRUE(store_->CheckShardIdentity(first).ok());
  ASSERT_TRUE(store_->CheckShardIdentity(first).ok());
  v1::ShardIdentity other = first;
  other.set_fingerprint("bbbb");
  const absl::Status status = store_->CheckShardIdentity(other);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("aaaa"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("bbbb"));
  Reopen();
  EXPECT_EQ(store_->CheckShardIdentity(other).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace memr1::memstore
