// Crash safety of a real shard process: `memr1 memstore serve` runs as a child, a bounded
// concurrent Apply load runs against it, the child is killed with SIGKILL mid-load and
// restarted on the same data directory. Every acknowledged request must be there whole, and
// no request may be there in part.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "memstore/client.h"
#include "tests/memstore/test_util.h"

extern char** environ;

namespace memr1::memstore {
namespace {

using ::memr1::memstore::testing::Add;
using ::memr1::memstore::testing::Request;
using ::memr1::memstore::testing::TempDir;

constexpr char kToken[] = "crash-token";

// A `memr1 memstore serve` child process.
class ShardProcess {
 public:
  ShardProcess(const std::string& data_dir, const std::string& work_dir, int generation) {
    address_file_ = absl::StrCat(work_dir, "/address-", generation);
    const std::string log = absl::StrCat(work_dir, "/serve-", generation, ".log");
    std::vector<std::string> args = {std::string(MEMR1_BINARY_DIR "/cli/memr1"), "memstore", "serve",
                                     "--data-dir", data_dir, "--listen", "127.0.0.1:0",
                                     "--address-file", address_file_, "--job", "crashjob",
                                     "--job-token", kToken};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~ShardProcess() { Kill(SIGKILL); }

  // The bound address, once the child wrote it (empty after 30 s or if the child died).
  std::string WaitForAddress() {
    for (int i = 0; i < 300 && pid_ > 0; ++i) {
      std::ifstream in(address_file_);
      std::string address;
      if (in && std::getline(in, address) && !address.empty()) return address;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "";
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return "";
  }

  // Sends `signal` and reaps the child; returns its wait status.
  int Kill(int signal) {
    if (pid_ <= 0) return 0;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  std::string address_file_;
};

std::unique_ptr<MemstoreClient> Connect(const std::string& address) {
  ClientOptions options;
  options.job = "crashjob";
  options.job_token = kToken;
  options.timeout = absl::Seconds(3);
  options.channel.max_attempts = 1;
  return std::move(*MemstoreClient::Connect(address, options));
}

TEST(MemstoreCrashTest, AcknowledgedAppliesSurviveKillAndNoRequestIsPartial) {
  TempDir work;
  const std::string data_dir = work.path() + "/data";
  constexpr int kThreads = 4;
  constexpr int kMaxRequests = 400;  // per thread: the load is bounded even if the kill is late
  constexpr int kOpsPerRequest = 3;

  struct Acked {
    std::string request_id;
    std::vector<std::string> ids;
  };
  std::vector<std::vector<Acked>> acked(kThreads);
  std::vector<int> attempted(kThreads, 0);
  {
    ShardProcess shard(data_dir, work.path(), 0);
    const std::string address = shard.WaitForAddress();
    ASSERT_FALSE(address.empty()) << "memstore serve did not start";
    auto setup = Connect(address);
    for (int t = 0; t < kThreads; ++t) {
      v1::CreateBankRequest create;
      create.set_bank(absl::StrCat("crash-", t % 2));  // two threads per bank
      const auto created = setup->CreateBank(create);
      ASSERT_TRUE(created.ok() || absl::IsAlreadyExists(created.status())) << created.status();
    }
    std::atomic<int> total_acked{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t]() {
        auto client = Connect(address);
        for (int r = 0; r < kMaxRequests; ++r) {
          std::vector<v1::Operation> ops;
          for (int o = 0; o < kOpsPerRequest; ++o) ops.push_back(Add(absl::StrCat("t", t, "-r", r, "-o", o)));
          const std::string request_id = absl::StrCat("t", t, "-r", r);
          attempted[t] = r + 1;
          auto response = client->Apply(Request(absl::StrCat("crash-", t % 2), ops, request_id));
          if (!response.ok()) return;  // the server is gone
          Acked entry{request_id, {}};
          for (const v1::OpResult& result : response->results()) entry.ids.push_back(result.memory_id());
          acked[t].push_back(std::move(entry));
          ++total_acked;
        }
      });
    }
    // Kill mid-load: once some requests are acknowledged, while the threads still send.
    for (int i = 0; i < 600 && total_acked.load() < 150; ++i) absl::SleepFor(absl::Milliseconds(10));
    const int status = shard.Kill(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (std::thread& thread : threads) thread.join();
    ASSERT_GT(total_acked.load(), 0);
  }

  ShardProcess restarted(data_dir, work.path(), 1);
  const std::string address = restarted.WaitForAddress();
  ASSERT_FALSE(address.empty()) << "memstore serve did not restart";
  auto client = Connect(address);
  std::map<std::string, std::string> text_to_id;
  for (int b = 0; b < 2; ++b) {
    v1::ListRequest list;
    list.set_bank(absl::StrCat("crash-", b));
    while (true) {
      auto page = client->List(list);
      ASSERT_TRUE(page.ok()) << page.status();
      for (const v1::Memory& memory : page->memories()) text_to_id[memory.text()] = memory.id();
      if (page->next_page_token().empty()) break;
      list.set_page_token(page->next_page_token());
      list.set_as_of_seq(page->seq());
    }
  }
  int acked_count = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (const Acked& entry : acked[t]) {
      ++acked_count;
      for (int o = 0; o < kOpsPerRequest; ++o) {
        const auto it = text_to_id.find(absl::StrCat(entry.request_id, "-o", o));
        ASSERT_NE(it, text_to_id.end()) << "acknowledged " << entry.request_id << " lost";
        EXPECT_EQ(it->second, entry.ids[o]);
      }
      // A retry after the restart is recognised, not applied again.
      std::vector<v1::Operation> ops = {Add("retry")};
      auto retry = client->Apply(Request(absl::StrCat("crash-", t % 2), ops, entry.request_id));
      ASSERT_TRUE(retry.ok());
      EXPECT_TRUE(retry->replayed());
    }
    // Every attempted request is there whole or not at all.
    for (int r = 0; r < attempted[t]; ++r) {
      int present = 0;
      for (int o = 0; o < kOpsPerRequest; ++o) {
        present += text_to_id.count(absl::StrCat("t", t, "-r", r, "-o", o));
      }
      EXPECT_TRUE(present == 0 || present == kOpsPerRequest)
          << "request t" << t << "-r" << r << " is partial: " << present << " of "
          << kOpsPerRequest;
    }
  }
  EXPECT_EQ(text_to_id.count("retry"), 0u);
  EXPECT_GT(acked_count, 0);
  const int status = restarted.Kill(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

}  // namespace
}  // namespace memr1::memstore
