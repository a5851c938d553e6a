#include "memstore/bank_index.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "memstore/tokenizer.h"

namespace memr1::memstore {
namespace {

double Norm(const google::protobuf::RepeatedField<float>& values) {
  double sum = 0;
  for (float v : values) sum += static_cast<double>(v) * v;
  return std::sqrt(sum);
}

}  // namespace

void BankIndex::Put(uint64_t number, v1::Memory memory) {
  Remove(number);
  Doc doc;
  std::unordered_map<std::string, uint32_t> counts;
  for (std::string& token : Tokenize(memory.text())) ++counts[std::move(token)];
  for (auto& [term, count] : counts) {
    postings_[term][number] = count;
    doc.length += count;
  }
  total_length_ += doc.length;
  doc.norm = Norm(memory.embedding());
  doc.memory = std::move(memory);
  docs_.emplace(number, std::move(doc));
}

void BankIndex::Remove(uint64_t number) {
  auto it = docs_.find(number);
  if (it == docs_.end()) return;
  std::unordered_set<std::string> terms;
  for (std::string& token : Tokenize(it->second.memory.text())) terms.insert(std::move(token));
  for (const std::string& term : terms) {
    auto posting = postings_.find(term);
    if (posting == postings_.end()) continue;
    posting->second.erase(number);
    if (posting->second.empty()) postings_.erase(posting);
  }
  total_length_ -= it->second.length;
  docs_.erase(it);
}

const v1::Memory* BankIndex::Find(uint64_t number) const {
  auto it = docs_.find(number);
  return it == docs_.end() ? nullptr : &it->second.memory;
}

std::vector<BankIndex::Ranked> BankIndex::RankBm25(const std::string& query) const {
  std::unordered_map<uint64_t, double> scores;
  const double n = static_cast<double>(docs_.size());
  const double average_length = n > 0 ? static_cast<double>(total_length_) / n : 0;
  std::unordered_set<std::string> seen;
  for (std::string& term : Tokenize(query)) {
    if (!seen.insert(term).second) continue;
    auto posting = postings_.find(term);
    if (posting == postings_.end()) continue;
    const double df = static_cast<double>(posting->second.size());
    const double idf = std::log(1.0 + (n - df + 0.5) / (df + 0.5));
    for (const auto& [number, tf] : posting->second) {
      const double length = docs_.at(number).length;
      const double norm =
          average_length > 0 ? 1.0 - kBm25B + kBm25B * length / average_length : 1.0;
      scores[number] += idf * tf * (kBm25K1 + 1.0) / (tf + kBm25K1 * norm);
    }
  }
  std::vector<Ranked> ranked;
  ranked.reserve(scores.size());
  for (const auto& [number, score] : scores) ranked.push_back({number, score});
  return ranked;
}

std::vector<BankIndex::Ranked> BankIndex::RankDense(const std::vector<float>& query) const {
  std::vector<Ranked> ranked;
  double query_norm = 0;
  for (float v : query) query_norm += static_cast<double>(v) * v;
  query_norm = std::sqrt(query_norm);
  if (query_norm == 0) return ranked;
  for (const auto& [number, doc] : docs_) {
    if (doc.norm == 0 || static_cast<size_t>(doc.memory.embedding_size()) != query.size()) {
      continue;
    }
    double dot = 0;
    const float* embedding = doc.memory.embedding().data();
    for (size_t i = 0; i < query.size(); ++i) dot += static_cast<double>(query[i]) * embedding[i];
    ranked.push_back({number, dot / (query_norm * doc.norm)});
  }
  return ranked;
}

absl::StatusOr<v1::SearchResponse> BankIndex::Search(const v1::SearchRequest& request,
                                                     uint32_t embedding_dim) const {
  if (request.k() < 0 || request.k() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("search k = ", request.k(), " is outside 0..1000 (0 means 10)"));
  }
  const size_t k = request.k() == 0 ? 10 : static_cast<size_t>(request.k());
  v1::SearchMode mode = request.mode();
  const bool has_embedding = request.query_embedding_size() > 0;
  if (mode == v1::SEARCH_MODE_AUTO) {
    if (has_embedding && embedding_dim > 0) {
      mode = request.query().empty() ? v1::DENSE : v1::HYBRID;
    } else {
      mode = v1::BM25;
    }
  }
  const bool use_bm25 = mode == v1::BM25 || mode == v1::HYBRID;
  const bool use_dense = mode == v1::DENSE || mode == v1::HYBRID;
  if (use_bm25 && request.query().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("search: query is empty (mode ", v1::SearchMode_Name(mode), ")"));
  }
  if (use_dense) {
    if (!has_embedding) {
      return absl::InvalidArgumentError(absl::StrCat(
          "search: mode ", v1::SearchMode_Name(mode), " needs a query_embedding"));
    }
    if (embedding_dim == 0) {
      return absl::InvalidArgumentError("search: the bank has no embeddings");
    }
    if (static_cast<uint32_t>(request.query_embedding_size()) != embedding_dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("search: query_embedding has dimension ", request.query_embedding_size(),
                       "; the bank's embeddings have ", embedding_dim));
    }
  }
  const std::unordered_set<std::string> speakers(request.speakers().begin(),
                                                 request.speakers().end());
  auto keep = [&](uint64_t number) {
    return speakers.empty() || speakers.count(docs_.at(number).memory.speaker()) > 0;
  };
  auto by_score = [](const Ranked& a, const Ranked& b) {
    return a.score != b.score ? a.score > b.score : a.number < b.number;
  };
  auto filter_and_sort = [&](std::vector<Ranked> ranked) {
    ranked.erase(std::remove_if(ranked.begin(), ranked.end(),
                                [&](const Ranked& r) { return !keep(r.number); }),
                 ranked.end());
    std::sort(ranked.begin(), ranked.end(), by_score);
    return ranked;
  };

  std::vector<Ranked> bm25;
  std::vector<Ranked> dense;
  if (use_bm25) bm25 = filter_and_sort(RankBm25(request.query()));
  if (use_dense) {
    dense = filter_and_sort(RankDense(std::vector<float>(request.query_embedding().begin(),
                                                         request.query_embedding().end())));
  }
  std::unordered_map<uint64_t, double> bm25_scores;
  std::unordered_map<uint64_t, double> dense_scores;
  for (const Ranked& r : bm25) bm25_scores[r.number] = r.score;
  for (const Ranked& r : dense) dense_scores[r.number] = r.score;

  std::vector<Ranked> final_ranking;
  if (mode == v1::BM25) {
    final_ranking = std::move(bm25);
  } else if (mode == v1::DENSE) {
    final_ranking = std::move(dense);
  } else {
    std::unordered_map<uint64_t, double> fused;
    for (size_t i = 0; i < bm25.size(); ++i) fused[bm25[i].number] += 1.0 / (kRrfK + i + 1);
    for (size_t i = 0; i < dense.size(); ++i) fused[dense[i].number] += 1.0 / (kRrfK + i + 1);
    for (const auto& [number, score] : fused) final_ranking.push_back({number, score});
    std::sort(final_ranking.begin(), final_ranking.end(), by_score);
  }

  v1::SearchResponse response;
  response.set_mode(mode);
  for (size_t i = 0; i < final_ranking.size() && i < k; ++i) {
    const uint64_t number = final_ranking[i].number;
    v1::SearchHit* hit = response.add_hits();
    *hit->mutable_memory() = docs_.at(number).memory;
    hit->set_score(final_ranking[i].score);
    if (auto it = bm25_scores.find(number); it != bm25_scores.end()) {
      hit->set_bm25_score(it->second);
    }
    if (auto it = dense_scores.find(number); it != dense_scores.end()) {
      hit->set_dense_score(it->second);
    }
  }
  return response;
}

}  // namespace memr1::memstore
