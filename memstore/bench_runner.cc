#include "memstore/bench_runner.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "memr1/v1/echo.grpc.pb.h"
#include "memstore/bank_index.h"
#include "memstore/names.h"

namespace memr1::memstore {
namespace {

// Synthetic text: a vocabulary of pronounceable words drawn with Zipf(1) frequencies.
class TextGenerator {
 public:
  explicit TextGenerator(uint64_t seed) : engine_(seed) {
    const char* consonants = "bcdfghjklmnprstvz";
    const char* vowels = "aeiou";
    std::mt19937_64 words(seed ^ 0x5eed);
    std::set<std::string> seen;
    while (vocabulary_.size() < 5000) {
      std::string word;
      const int syllables = 2 + static_cast<int>(words() % 3);
      for (int s = 0; s < syllables; ++s) {
        word.push_back(consonants[words() % 17]);
        word.push_back(vowels[words() % 5]);
      }
      if (seen.insert(word).second) vocabulary_.push_back(word);
    }
    double total = 0;
    for (size_t i = 0; i < vocabulary_.size(); ++i) {
      total += 1.0 / (i + 1);
      cdf_.push_back(total);
    }
    for (double& c : cdf_) c /= total;
  }

  std::string Words(int count) {
    std::vector<std::string> out;
    for (int i = 0; i < count; ++i) out.push_back(Word());
    return absl::StrJoin(out, " ");
  }

 private:
  const std::string& Word() {
    const double u = std::uniform_real_distribution<double>(0, 1)(engine_);
    const size_t index = std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return vocabulary_[std::min(index, vocabulary_.size() - 1)];
  }

  std::mt19937_64 engine_;
  std::vector<std::string> vocabulary_;
  std::vector<double> cdf_;
};

LatencyStats Summarize(std::vector<double> micros, int errors, double wall_seconds) {
  LatencyStats stats;
  stats.count = static_cast<int>(micros.size());
  stats.errors = errors;
  if (micros.empty()) return stats;
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) {
    return micros[std::min(micros.size() - 1, static_cast<size_t>(q * micros.size()))];
  };
  stats.p50_us = at(0.50);
  stats.p99_us = at(0.99);
  stats.ops_per_second = wall_seconds > 0 ? micros.size() / wall_seconds : 0;
  return stats;
}

// Runs `call(client, i)` per_client times on each of `clients` threads.
template <typename Call>
LatencyStats RunLoad(int clients, int per_client, Call call) {
  std::vector<std::vector<double>> micros(clients);
  std::vector<int> errors(clients, 0);
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c]() {
      for (int i = 0; i < per_client; ++i) {
        const absl::Time t0 = absl::Now();
        const bool ok = call(c, i);
        const double us = absl::ToDoubleMicroseconds(absl::Now() - t0);
        if (ok) {
          micros[c].push_back(us);
        } else {
          ++errors[c];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  std::vector<double> all;
  int error_count = 0;
  for (int c = 0; c < clients; ++c) {
    all.insert(all.end(), micros[c].begin(), micros[c].end());
    error_count += errors[c];
  }
  return Summarize(std::move(all), error_count, wall);
}

absl::Status FillBank(MemstoreClient& client, const std::string& bank,
                      const std::vector<std::string>& texts) {
  v1::CreateBankRequest create;
  create.set_bank(bank);
  create.set_ttl_seconds(3600);
  MEMR1_RETURN_IF_ERROR(client.CreateBank(create).status());
  for (size_t begin = 0; begin < texts.size(); begin += 500) {
    v1::ApplyRequest apply;
    apply.set_bank(bank);
    for (size_t i = begin; i < texts.size() && i < begin + 500; ++i) {
      v1::Operation* op = apply.add_ops();
      op->set_event(v1::ADD);
      op->set_text(texts[i]);
      op->set_speaker(i % 2 == 0 ? "Ann" : "Bob");
    }
    MEMR1_RETURN_IF_ERROR(client.Apply(apply).status());
  }
  return absl::OkStatus();
}

// SQLite FTS5 over `texts` (rowid = memory number); per-query latency and top-k rowids.
class Fts5Index {
 public:
  static absl::StatusOr<std::unique_ptr<Fts5Index>> Build(const std::vector<std::string>& texts) {
    auto index = std::unique_ptr<Fts5Index>(new Fts5Index());
    if (sqlite3_open(":memory:", &index->db_) != SQLITE_OK) {
      return absl::InternalError("sqlite: cannot open an in-memory database");
    }
    MEMR1_RETURN_IF_ERROR(index->Exec("CREATE VIRTUAL TABLE m USING fts5(text)"));
    MEMR1_RETURN_IF_ERROR(index->Exec("BEGIN"));
    sqlite3_stmt* insert = nullptr;
    sqlite3_prepare_v2(index->db_, "INSERT INTO m(rowid, text) VALUES(?, ?)", -1, &insert,
                       nullptr);
    for (size_t i = 0; i < texts.size(); ++i) {
      sqlite3_bind_int64(insert, 1, static_cast<int64_t>(i + 1));
      sqlite3_bind_text(insert, 2, texts[i].data(), static_cast<int>(texts[i].size()),
                        SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) {
        sqlite3_finalize(insert);
        return absl::InternalError(absl::StrCat("sqlite insert: ", sqlite3_errmsg(index->db_)));
      }
      sqlite3_reset(insert);
    }
    sqlite3_finalize(insert);
    MEMR1_RETURN_IF_ERROR(index->Exec("COMMIT"));
    if (sqlite3_prepare_v2(index->db_,
                           "SELECT rowid FROM m WHERE m MATCH ? ORDER BY bm25(m) LIMIT ?", -1,
                           &index->query_, nullptr) != SQLITE_OK) {
      return absl::InternalError(absl::StrCat("sqlite: ", sqlite3_errmsg(index->db_)));
    }
    return index;
  }
  ~Fts5Index() {
    if (query_ != nullptr) sqlite3_finalize(query_);
    if (db_ != nullptr) sqlite3_close(db_);
  }

  // Top-k rowids for the words of `query` OR-ed together (BM25 semantics: any word matches).
  std::vector<int64_t> Search(const std::string& query, int k) {
    std::vector<std::string> terms;
    for (absl::string_view word : absl::StrSplit(query, ' ', absl::SkipEmpty())) {
      terms.push_back(absl::StrCat("\"", word, "\""));
    }
    const std::string match = absl::StrJoin(terms, " OR ");
    sqlite3_bind_text(query_, 1, match.data(), static_cast<int>(match.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int(query_, 2, k);
    std::vector<int64_t> rows;
    while (sqlite3_step(query_) == SQLITE_ROW) rows.push_back(sqlite3_column_int64(query_, 0));
    sqlite3_reset(query_);
    return rows;
  }

 private:
  Fts5Index() = default;
  absl::Status Exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error != nullptr ? error : "unknown error";
      sqlite3_free(error);
      return absl::InternalError(absl::StrCat("sqlite: ", sql, ": ", message));
    }
    return absl::OkStatus();
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* query_ = nullptr;
};

std::string Ratio(double a, double b) {
  return b > 0 ? absl::StrFormat("%.2f", a / b) : "-";
}

}  // namespace

absl::StatusOr<BenchReport> RunBench(const BenchOptions& options) {
  if (options.clients.empty() || options.requests_per_client < 1 || options.k < 1 ||
      options.search_memories < 1 || options.forks_per_size < 1) {
    return absl::InvalidArgumentError("memstore bench: counts must be positive");
  }
  const int max_clients = *std::max_element(options.clients.begin(), options.clients.end());
  if (max_clients < 1 || max_clients > 256) {
    return absl::InvalidArgumentError("memstore bench: clients must be in 1..256");
  }
  std::vector<std::unique_ptr<MemstoreClient>> clients;
  std::vector<std::unique_ptr<v1::Echo::Stub>> echoes;
  for (int c = 0; c < max_clients; ++c) {
    MEMR1_ASSIGN_OR_RETURN(auto client, MemstoreClient::Connect(options.target, options.client));
    clients.push_back(std::move(client));
    MEMR1_ASSIGN_OR_RETURN(auto channel, MakeChannel(options.target, options.client.channel));
    echoes.push_back(v1::Echo::NewStub(channel));
  }
  TextGenerator generator(options.seed);
  BenchReport report;
  const std::string prefix = options.bank_prefix;
  std::vector<std::string> created;  // banks to drop at the end

  // Echo first: it also proves the target is reachable and the token accepted.
  {
    grpc::ClientContext context;
    SetDeadline(&context, options.client.timeout);
    AttachJobToken(&context, options.client.job_token);
    v1::EchoRequest request;
    v1::EchoReply reply;
    MEMR1_RETURN_IF_ERROR(Annotate(FromGrpcStatus(echoes[0]->Echo(&context, request, &reply)),
                                   absl::StrCat("memstore bench: echo to ", options.target)));
  }
  const std::string payload(64, 'x');
  // Warm-up (untimed): every client's connection is set up before the first timed call.
  RunLoad(max_clients, 20, [&](int c, int) {
    grpc::ClientContext context;
    SetDeadline(&context, options.client.timeout);
    AttachJobToken(&context, options.client.job_token);
    v1::EchoRequest request;
    v1::EchoReply reply;
    return echoes[c]->Echo(&context, request, &reply).ok() &&
           clients[c]->GetBank("warm-up").status().code() == absl::StatusCode::kNotFound;
  });
  for (int n : options.clients) {
    report.load.push_back({"echo", n, RunLoad(n, options.requests_per_client, [&](int c, int) {
                             grpc::ClientContext context;
                             SetDeadline(&context, options.client.timeout);
                             AttachJobToken(&context, options.client.job_token);
                             v1::EchoRequest request;
                             request.set_payload(payload);
                             v1::EchoReply reply;
                             return echoes[c]->Echo(&context, request, &reply).ok();
                           })});
  }

  // Apply: one bank per client.
  for (int n : options.clients) {
    std::vector<std::string> banks;
    for (int c = 0; c < n; ++c) {
      banks.push_back(absl::StrCat(prefix, "-apply-", n, "-", c));
      v1::CreateBankRequest create;
      create.set_bank(banks.back());
      create.set_ttl_seconds(3600);
      MEMR1_RETURN_IF_ERROR(clients[c]->CreateBank(create).status());
      created.push_back(banks.back());
    }
    std::vector<std::vector<v1::ApplyRequest>> requests(n);
    for (int c = 0; c < n; ++c) {
      for (int i = 0; i < options.requests_per_client; ++i) {
        v1::ApplyRequest request;
        request.set_bank(banks[c]);
        request.set_request_id(absl::StrCat("bench-", n, "-", c, "-", i));
        for (int o = 0; o < options.ops_per_apply; ++o) {
          v1::Operation* op = request.add_ops();
          op->set_event(v1::ADD);
          op->set_text(generator.Words(12));
          op->set_speaker(c % 2 == 0 ? "Ann" : "Bob");
        }
        requests[c].push_back(std::move(request));
      }
    }
    report.load.push_back({"apply", n, RunLoad(n, options.requests_per_client, [&](int c, int i) {
                             return clients[c]->Apply(requests[c][i]).ok();
                           })});
  }

  // Search over one shared bank, and the in-process BM25 comparison on the same data.
  std::vector<std::string> texts;
  for (int i = 0; i < options.search_memories; ++i) texts.push_back(generator.Words(12));
  std::vector<std::string> queries;
  for (int i = 0; i < 200; ++i) queries.push_back(generator.Words(4));
  const std::string search_bank = absl::StrCat(prefix, "-search");
  MEMR1_RETURN_IF_ERROR(FillBank(*clients[0], search_bank, texts));
  created.push_back(search_bank);
  for (int n : options.clients) {
    report.load.push_back(
        {"search", n, RunLoad(n, options.requests_per_client, [&](int c, int i) {
           v1::SearchRequest request;
           request.set_bank(search_bank);
           request.set_query(queries[(c * options.requests_per_client + i) % queries.size()]);
           request.set_k(options.k);
           return clients[c]->Search(request).ok();
         })});
  }
  {
    BankIndex index;
    for (size_t i = 0; i < texts.size(); ++i) {
      v1::Memory memory;
      memory.set_id(MemoryIdFromNumber(i + 1));
      memory.set_text(texts[i]);
      index.Put(i + 1, std::move(memory));
    }
    MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<Fts5Index> fts, Fts5Index::Build(texts));
    std::vector<double> ours;
    std::vector<double> theirs;
    double overlap = 0;
    const absl::Time start = absl::Now();
    for (int round = 0; round < 5; ++round) {
      for (const std::string& query : queries) {
        v1::SearchRequest request;
        request.set_query(query);
        request.set_k(options.k);
        const absl::Time t0 = absl::Now();
        auto response = index.Search(request, 0);
        const absl::Time t1 = absl::Now();
        const std::vector<int64_t> rows = fts->Search(query, options.k);
        const absl::Time t2 = absl::Now();
        MEMR1_RETURN_IF_ERROR(response.status());
        ours.push_back(absl::ToDoubleMicroseconds(t1 - t0));
        theirs.push_back(absl::ToDoubleMicroseconds(t2 - t1));
        if (round == 0) {
          std::set<std::string> a;
          for (const v1::SearchHit& hit : response->hits()) a.insert(hit.memory().id());
          int common = 0;
          for (int64_t row : rows) common += a.count(MemoryIdFromNumber(row));
          overlap += static_cast<double>(common) / options.k;
        }
      }
    }
    const double wall = absl::ToDoubleSeconds(absl::Now() - start);
    double ours_total = 0;
    double theirs_total = 0;
    for (double v : ours) ours_total += v;
    for (double v : theirs) theirs_total += v;
    report.bankindex_query = Summarize(ours, 0, wall * ours_total / (ours_total + theirs_total));
    report.fts5_query = Summarize(theirs, 0, wall * theirs_total / (ours_total + theirs_total));
    report.top_k_overlap = overlap / queries.size();
  }

  // Forks of banks of each size.
  for (int size : options.fork_sizes) {
    std::vector<std::string> fork_texts;
    for (int i = 0; i < size; ++i) fork_texts.push_back(generator.Words(12));
    const std::string bank = absl::StrCat(prefix, "-fork-", size);
    MEMR1_RETURN_IF_ERROR(FillBank(*clients[0], bank, fork_texts));
    created.push_back(bank);
    {
      // As in an episode, the source has been searched (its index is warm) before forking.
      v1::SearchRequest warm;
      warm.set_bank(bank);
      warm.set_query(queries[0]);
      MEMR1_RETURN_IF_ERROR(clients[0]->Search(warm).status());
    }
    BenchReport::ForkRow row;
    row.memories = size;
    std::vector<std::string> forks;
    row.fork = RunLoad(1, options.forks_per_size, [&](int, int i) {
      v1::ForkRequest request;
      request.set_source_bank(bank);
      request.set_bank(absl::StrCat(bank, "/g", i));
      request.set_ttl_seconds(3600);
      const bool ok = clients[0]->Fork(request).ok();
      if (ok) forks.push_back(request.bank());
      return ok;
    });
    row.first_search = RunLoad(1, static_cast<int>(forks.size()), [&](int, int i) {
      v1::SearchRequest request;
      request.set_bank(forks[i]);
      request.set_query(queries[i % queries.size()]);
      request.set_k(options.k);
      return clients[0]->Search(request).ok();
    });
    const absl::Time t0 = absl::Now();
    MEMR1_ASSIGN_OR_RETURN(std::vector<v1::ExportRecord> records, clients[0]->Export(bank));
    const std::string copy = absl::StrCat(bank, "-copy");
    MEMR1_RETURN_IF_ERROR(clients[0]->Import(copy, records).status());
    row.copy_us = absl::ToDoubleMicroseconds(absl::Now() - t0);
    created.push_back(copy);
    for (const std::string& fork : forks) created.push_back(fork);
    report.forks.push_back(row);
  }

  // Drop what the run created (forks before their sources is not required, any order works).
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    clients[0]->Drop(*it).IgnoreError();
  }
  return report;
}

std::string BenchReport::ToMarkdown() const {
  std::string out;
  auto echo_for = [&](int clients) -> const LatencyStats* {
    for (const LoadRow& row : load) {
      if (row.what == "echo" && row.clients == clients) return &row.stats;
    }
    return nullptr;
  };
  absl::StrAppend(&out,
                  "| call | clients | p50 µs | p99 µs | calls/s | errors | p50 / echo p50 | "
                  "calls/s / echo calls/s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const LoadRow& row : load) {
    const LatencyStats* echo = echo_for(row.clients);
    absl::StrAppendFormat(&out, "| %s | %d | %.0f | %.0f | %.0f | %d | %s | %s |\n", row.what,
                          row.clients, row.stats.p50_us, row.stats.p99_us,
                          row.stats.ops_per_second, row.stats.errors,
                          echo ? Ratio(row.stats.p50_us, echo->p50_us) : "-",
                          echo ? Ratio(row.stats.ops_per_second, echo->ops_per_second) : "-");
  }
  absl::StrAppend(&out,
                  "\n| BM25 top-k, in process | p50 µs | p99 µs | queries/s | p50 / FTS5 p50 |\n"
                  "|---|---:|---:|---:|---:|\n");
  absl::StrAppendFormat(&out, "| memstore BankIndex | %.1f | %.1f | %.0f | %s |\n",
                        bankindex_query.p50_us, bankindex_query.p99_us,
                        bankindex_query.ops_per_second,
                        Ratio(bankindex_query.p50_us, fts5_query.p50_us));
  absl::StrAppendFormat(&out, "| SQLite FTS5 bm25() | %.1f | %.1f | %.0f | 1.00 |\n",
                        fts5_query.p50_us, fts5_query.p99_us, fts5_query.ops_per_second);
  absl::StrAppendFormat(&out, "\nTop-k overlap memstore vs FTS5: %.3f\n", top_k_overlap);
  const LatencyStats* echo1 = echo_for(1);
  absl::StrAppend(&out,
                  "\n| memories | fork p50 µs | fork p99 µs | fork p50 / echo p50 | first search "
                  "p50 µs | full copy µs | full copy / fork p50 |\n"
                  "|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const ForkRow& row : forks) {
    absl::StrAppendFormat(&out, "| %d | %.0f | %.0f | %s | %.0f | %.0f | %s |\n", row.memories,
                          row.fork.p50_us, row.fork.p99_us,
                          echo1 ? Ratio(row.fork.p50_us, echo1->p50_us) : "-",
                          row.first_search.p50_us, row.copy_us,
                          Ratio(row.copy_us, row.fork.p50_us));
  }
  return out;
}

}  // namespace memr1::memstore
