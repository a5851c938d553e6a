#include "job/actor_role.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "actor/bank_builder.h"
#include "actor/dataset.h"
#include "actor/episodes.h"
#include "actor/job_memstore.h"
#include "actor/local_policy.h"
#include "actor/policy_factory.h"
#include "actor/prompts.h"
#include "actor/rewards.h"
#include "actor/trajectory_sender.h"
#include "actor/turns.h"
#include "actor/weight_client.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/metrics_server.h"
#include "common/shutdown.h"
#include "common/status_macros.h"
#include "coordinator/client.h"
#include "eval/judge_client.h"
#include "learner/weight_broadcast.h"

namespace memr1::job {
namespace {

namespace fs = std::filesystem;

// The actors of a job share the train banks (one name per conversation and manager version):
// each builds its share, and they meet in the memstore. Concurrent builders of one bank are
// safe: a turn's Apply carries request_id "turn-<i>", so the first one applied wins and a
// second is a replay, and the first one of turn i retrieved at seq i (BankBuilder).
constexpr char kTrainBankTag[] = "train";

// This actor's share of the train banks: for an id ending in "-<k>" with k < num_actors (the
// launcher's and the Slurm script's names), conversation i in id order goes to actor
// i % num_actors. Other ids (a Deployment's pod names) or one actor: every bank.
std::optional<int> ShareIndex(const std::string& actor_id, int num_actors) {
  if (num_actors <= 1) return std::nullopt;
  const size_t dash = actor_id.rfind('-');
  int index = 0;
  if (dash == std::string::npos || !absl::SimpleAtoi(actor_id.substr(dash + 1), &index) ||
      index < 0 || index >= num_actors) {
    return std::nullopt;
  }
  return index;
}

class ActorRole {
 public:
  ActorRole(const ActorRoleOptions& options, ShutdownSignal* shutdown)
      : options_(options), shutdown_(shutdown) {}
  ~ActorRole() { Close(); }

  absl::Status Run();

 private:
  absl::Status Setup();
  absl::Status Register();
  bool Interrupted() const { return shutdown_ != nullptr && shutdown_->requested(); }
  void Sleep(absl::Duration d) {
    if (shutdown_ != nullptr) {
      shutdown_->WaitFor(d);
    } else {
      absl::SleepFor(d);
    }
  }
  // The learners' addresses (from the newest register/heartbeat answer).
  absl::StatusOr<std::vector<std::string>> LearnerAddresses();
  // Loads `wanted` (SYNC: exactly; ASYNC: the newest, at least `wanted`) from learner rank 0:
  // from the broadcast group when there is one, over gRPC otherwise.
  absl::Status EnsureVersion(int64_t wanted);
  // Joins the NCCL broadcast group once (learner.weight_sync = NCCL_BROADCAST).
  void JoinBroadcastGroup();
  // The wanted version from the broadcast group; NotFound when the group cannot give it.
  absl::StatusOr<actor::FetchedWeights> FromBroadcast(int64_t wanted);
  // Until these banks of the peers' shares are complete, or have not advanced for
  // actor.peer_bank_wait_seconds.
  absl::Status WaitForPeerBanks(const std::vector<const actor::Conversation*>& watched);
  absl::StatusOr<std::string> BankOf(const actor::Conversation& conversation);
  absl::StatusOr<actor::EpisodeResult> RunEpisode(const v1::WorkUnit& unit);
  absl::Status RunUnit(const v1::WorkUnit& unit);
  void Report();
  void Close();

  const ActorRoleOptions& options_;
  ShutdownSignal* const shutdown_;
  v1::JobConfig config_;
  bool async_ = false;
  actor::Dataset dataset_;
  std::map<std::string, const actor::Conversation*> conversations_;
  std::unique_ptr<actor::PromptTemplates> templates_;
  std::unique_ptr<eval::JudgeClient> judge_;
  std::unique_ptr<actor::RewardScorer> scorer_;
  std::unique_ptr<actor::PolicySet> policies_;
  std::unique_ptr<actor::TextPolicy> trained_owned_;
  actor::LocalPolicy* trained_ = nullptr;
  actor::TextPolicy* manager_ = nullptr;  // the trained or the frozen one, per the stage
  actor::TextPolicy* answer_ = nullptr;
  actor::JobMemstore memstore_;
  std::unique_ptr<actor::BankBuilder> builder_;
  std::unique_ptr<actor::EpisodeRunner> runner_;
  std::map<std::string, std::string> banks_;  // conversation id -> bank
  std::unique_ptr<MetricsServer> metrics_server_;

  std::unique_ptr<coordinator::CoordinatorClient> client_;
  std::unique_ptr<coordinator::Heartbeater> heartbeater_;
  std::string lease_id_;
  std::vector<std::string> learners_;
  std::unique_ptr<actor::WeightClient> weights_;
  // learner.weight_sync = NCCL_BROADCAST: the group's receiving side; null until joined and
  // after it failed (then weights come over gRPC).
  std::unique_ptr<learner::WeightBroadcastReceiver> broadcast_;
  bool broadcast_joined_ = false;
  std::map<int, std::unique_ptr<actor::TrajectorySender>> senders_;
  int64_t loaded_version_ = -1;
  std::string loaded_hash_;
  absl::Time started_ = absl::Now();
  absl::Duration busy_ = absl::ZeroDuration();
  int64_t units_done_ = 0;
};

absl::Status ActorRole::Setup() {
  MEMR1_ASSIGN_OR_RETURN(config_, LoadJobConfig(options_.config_path, options_.overrides));
  SetLogContext(options_.id, -1);
  async_ = config_.coordinator().mode() == v1::CoordinatorConfig::ASYNC;
  if (config_.memstore().shards_size() == 0) {
    return absl::InvalidArgumentError(
        "memstore.shards is empty: an actor of a job needs the job's memstore shards "
        "(memr1 launch sets them; otherwise --set memstore.shards=HOST:PORT per shard)");
  }
  MEMR1_ASSIGN_OR_RETURN(dataset_, actor::LoadDataset(config_.data()));
  MEMR1_ASSIGN_OR_RETURN(const actor::DatasetSplits splits,
                         actor::SplitDataset(dataset_, actor::SplitSpecFrom(config_.data())));
  for (const actor::Conversation* conversation : splits.train) {
    conversations_[conversation->id] = conversation;
  }
  MEMR1_ASSIGN_OR_RETURN(actor::PromptTemplates templates,
                         actor::PromptTemplates::FromConfig(config_.actor()));
  templates_ = std::make_unique<actor::PromptTemplates>(std::move(templates));
  if (config_.actor().reward() == v1::ActorConfig::JUDGE) {
    MEMR1_ASSIGN_OR_RETURN(eval::JudgeOptions judge_options,
                           eval::JudgeOptions::FromConfig(config_.eval().judge()));
    MEMR1_ASSIGN_OR_RETURN(judge_, eval::JudgeClient::Create(std::move(judge_options)));
  }
  MEMR1_ASSIGN_OR_RETURN(actor::RewardScorer scorer,
                         actor::RewardScorer::Create(config_.actor().reward(),
                                                     config_.actor().format_reward(),
                                                     judge_.get()));
  scorer_ = std::make_unique<actor::RewardScorer>(std::move(scorer));

  // The frozen agents (and extraction, and the bank builder's manager) stay on the base model;
  // the trained agent gets its own instance, the one that receives published weights.
  MEMR1_ASSIGN_OR_RETURN(actor::PolicySet policies,
                         actor::PolicySet::FromJob(config_, /*base_model_only=*/false));
  policies_ = std::make_unique<actor::PolicySet>(std::move(policies));
  const bool train_manager = config_.actor().train_agent() != v1::ActorConfig::ANSWER_AGENT;
  const v1::PolicyConfig& trained_config = train_manager ? config_.actor().memory_manager().policy()
                                                         : config_.actor().answer_agent().policy();
  MEMR1_ASSIGN_OR_RETURN(trained_owned_, actor::MakePolicy(trained_config, config_));
  trained_ = dynamic_cast<actor::LocalPolicy*>(trained_owned_.get());
  if (trained_ == nullptr) {
    return absl::InvalidArgumentError(
        "the trained agent's policy must be LOCAL (weights are synced into it)");
  }
  manager_ = train_manager ? trained_ : policies_->manager();
  answer_ = train_manager ? policies_->answer() : trained_;

  MEMR1_ASSIGN_OR_RETURN(memstore_, actor::ConnectJobMemstore(config_, ""));
  MEMR1_ASSIGN_OR_RETURN(actor::EpisodeOptions episode_options,
                         actor::EpisodeOptions::FromConfig(config_));
  episode_options.actor_id = options_.id;
  actor::BankBuildOptions build;
  build.llm_extraction = episode_options.llm_extraction;
  build.manager_mode = actor::ManagerMode::kPolicy;
  build.retrieve_k = episode_options.retrieve_k;
  build.max_facts_per_turn = episode_options.max_facts_per_turn;
  build.sampling = episode_options.frozen_sampling;
  build.ttl_seconds = config_.memstore().bank_ttl_seconds();
  build.tag = kTrainBankTag;
  MEMR1_ASSIGN_OR_RETURN(builder_, actor::BankBuilder::Create(
                                       memstore_.router.get(), policies_->extraction(),
                                       policies_->manager(), templates_.get(), build));
  MEMR1_ASSIGN_OR_RETURN(runner_, actor::EpisodeRunner::Create(
                                      memstore_.router.get(), policies_->extraction(), manager_,
                                      answer_, templates_.get(), scorer_.get(), episode_options));
  if (!config_.observability().metrics_listen().empty()) {
    MEMR1_ASSIGN_OR_RETURN(metrics_server_,
                           MetricsServer::Start(config_.observability().metrics_listen(),
                                                &MetricsRegistry::Default()));
    MEMR1_LOG(INFO) << options_.id << ": Prometheus metrics on http://"
                    << metrics_server_->address() << "/metrics";
  }
  coordinator::ClientOptions client_options;
  client_options.address = options_.coordinator;
  client_options.job_token = config_.job_token();
  client_options.wait_for_ready = true;  // a restarted coordinator is a pause
  MEMR1_ASSIGN_OR_RETURN(client_, coordinator::CoordinatorClient::Connect(client_options));
  return Register();
}

absl::Status ActorRole::Register() {
  v1::RegisterRequest request;
  request.set_role(v1::ROLE_KIND_ACTOR);
  request.set_role_id(options_.id);
  MEMR1_ASSIGN_OR_RETURN(const v1::RegisterResponse response, client_->Register(request));
  if (heartbeater_ != nullptr) heartbeater_->Close();
  lease_id_ = response.lease_id();
  if (response.learner_addresses_size() > 0) {
    learners_.assign(response.learner_addresses().begin(), response.learner_addresses().end());
  }
  heartbeater_ = std::make_unique<coordinator::Heartbeater>(
      client_.get(), lease_id_,
      absl::Milliseconds(std::max<int64_t>(100, response.heartbeat_interval_ms())));
  Report();
  MEMR1_LOG(INFO) << options_.id << ": registered (lease " << lease_id_ << ")";
  return absl::OkStatus();
}

void ActorRole::Report() {
  if (heartbeater_ == nullptr) return;
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - started_);
  const double busy = absl::ToDoubleSeconds(busy_);
  heartbeater_->Report(loaded_version_, loaded_hash_,
                       {{"idle_fraction", elapsed > 0 ? std::max(0.0, 1.0 - busy / elapsed) : 1.0},
                        {"units_done", static_cast<double>(units_done_)}});
}

absl::StatusOr<std::vector<std::string>> ActorRole::LearnerAddresses() {
  const absl::Time deadline = absl::Now() + options_.learner_timeout;
  absl::Time asked = absl::InfinitePast();
  while (learners_.empty() ||
         static_cast<int>(learners_.size()) < config_.learner().num_ranks()) {
    auto latest = heartbeater_->latest();
    if (latest.has_value() && latest->learner_addresses_size() > 0) {
      learners_.assign(latest->learner_addresses().begin(), latest->learner_addresses().end());
      continue;
    }
    if (Interrupted()) return absl::CancelledError("shutdown requested");
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("the learners did not register in time");
    }
    // Ask again each second rather than once per heartbeat interval (5 s by default): the
    // first unit waits on this.
    if (absl::Now() - asked >= absl::Seconds(1)) {
      heartbeater_->SendNow();
      asked = absl::Now();
    }
    Sleep(absl::Milliseconds(200));
  }
  return learners_;
}

void ActorRole::JoinBroadcastGroup() {
  broadcast_joined_ = true;
  absl::StatusOr<int> device = learner::BroadcastDeviceIndex(config_.model().device());
  absl::StatusOr<v1::BroadcastGroup> group =
      device.ok() ? weights_->JoinBroadcastGroup(options_.id) : device.status();
  if (!group.ok()) {
    MEMR1_LOG(WARNING) << options_.id << ": no weight broadcast group (" << group.status().message()
                       << "); fetching weights over gRPC";
    return;
  }
  MEMR1_LOG(INFO) << options_.id << ": joining the weight broadcast group as rank "
                  << group->rank() << " of " << group->world_size();
  broadcast_ = std::make_unique<learner::WeightBroadcastReceiver>(
      learner::NcclGroupJoiner(*device), *std::move(group), options_.broadcast_join_timeout);
}

absl::StatusOr<actor::FetchedWeights> ActorRole::FromBroadcast(int64_t wanted) {
  if (broadcast_ == nullptr) return absl::NotFoundError("no broadcast group");
  absl::StatusOr<std::shared_ptr<const learner::WeightPublisher::Version>> received =
      broadcast_->WaitFor(wanted, options_.broadcast_wait);
  if (!received.ok() || (!async_ && (*received)->manifest.version() != wanted)) {
    MEMR1_LOG(WARNING) << options_.id << ": version " << wanted << " not from the broadcast group ("
                       << (received.ok() ? absl::StrCat("it sent version ",
                                                        (*received)->manifest.version())
                                         : std::string(received.status().message()))
                       << "); fetching it over gRPC";
    if (!received.ok() && absl::IsUnavailable(received.status())) broadcast_.reset();
    return absl::NotFoundError("not broadcast");
  }
  return actor::FetchedWeights{(*received)->manifest, (*received)->bytes};
}

absl::Status ActorRole::EnsureVersion(int64_t wanted) {
  if (async_ ? loaded_version_ >= wanted : loaded_version_ == wanted) return absl::OkStatus();
  MEMR1_ASSIGN_OR_RETURN(const std::vector<std::string> learners, LearnerAddresses());
  if (weights_ == nullptr) {
    actor::WeightClientOptions options;
    options.address = learners[0];
    options.job_token = config_.job_token();
    MEMR1_ASSIGN_OR_RETURN(weights_, actor::WeightClient::Create(options));
  }
  if (config_.learner().weight_sync() == v1::LearnerConfig::NCCL_BROADCAST && !broadcast_joined_) {
    JoinBroadcastGroup();
  }
  absl::StatusOr<actor::FetchedWeights> fetched = FromBroadcast(wanted);
  // SYNC: exactly the unit's version; ASYNC: the newest (at least the unit's).
  if (!fetched.ok()) fetched = weights_->Fetch(async_ ? 0 : wanted);
  MEMR1_RETURN_IF_ERROR(fetched.status());
  if (fetched->manifest.version() < wanted) {
    return absl::UnavailableError(absl::StrCat("learner rank 0 serves version ",
                                               fetched->manifest.version(), ", the unit needs ",
                                               wanted));
  }
  MEMR1_RETURN_IF_ERROR(weights_->Apply(*fetched, trained_));
  loaded_version_ = fetched->manifest.version();
  loaded_hash_ = fetched->manifest.content_hash();
  MEMR1_LOG(INFO) << options_.id << ": loaded policy version " << loaded_version_ << " (sha256 "
                  << loaded_hash_ << ")";
  Report();
  return absl::OkStatus();
}

absl::StatusOr<std::string> ActorRole::BankOf(const actor::Conversation& conversation) {
  auto it = banks_.find(conversation.id);
  if (it != banks_.end()) return it->second;
  // Every train conversation's bank at once, on the first unit: the builder runs them in
  // lockstep, one batched manager call per turn for all of them, instead of one conversation
  // at a time (work units come from every conversation anyway). This actor's share first; then
  // it waits for the peers' shares while they make progress, and builds what is left (Build
  // reuses a complete bank and continues a partial one). A peer builds its share in lockstep,
  // so its longest conversation's bank is the last to complete: the wait watches that one bank
  // per peer, not every bank.
  const int num_actors = config_.actor().num_actors();
  const std::optional<int> share = ShareIndex(options_.id, num_actors);
  std::vector<const actor::Conversation*> list, mine, others;
  std::map<int, std::pair<size_t, const actor::Conversation*>> longest;  // peer -> (turns, it)
  for (const auto& [id, train] : conversations_) {
    if (banks_.count(id) != 0) continue;
    const int owner = static_cast<int>(list.size() % num_actors);
    list.push_back(train);
    if (!share || owner == *share) {
      mine.push_back(train);
      continue;
    }
    others.push_back(train);
    const size_t turns = actor::FlattenTurns(*train).size();
    auto [peer, added] = longest.emplace(owner, std::make_pair(turns, train));
    if (!added && turns > peer->second.first) peer->second = {turns, train};
  }
  std::vector<const actor::Conversation*> last_of_each_peer;
  for (const auto& [owner, entry] : longest) last_of_each_peer.push_back(entry.second);
  const absl::Time start = absl::Now();
  MEMR1_ASSIGN_OR_RETURN(const std::vector<actor::BuiltBank> own, builder_->Build(mine));
  int64_t built_here = 0;
  for (const actor::BuiltBank& bank : own) built_here += bank.reused ? 0 : 1;
  MEMR1_RETURN_IF_ERROR(WaitForPeerBanks(last_of_each_peer));
  MEMR1_ASSIGN_OR_RETURN(const std::vector<actor::BuiltBank> rest, builder_->Build(others));
  int64_t taken_over = 0;
  for (const actor::BuiltBank& bank : rest) taken_over += bank.reused ? 0 : 1;
  for (const auto* part : {&own, &rest}) {
    for (const actor::BuiltBank& bank : *part) banks_[bank.conversation_id] = bank.bank;
  }
  MEMR1_LOG(INFO) << options_.id << ": banks of " << list.size() << " train conversations ready in "
                  << absl::FormatDuration(absl::Now() - start) << " (" << built_here
                  << " built here, " << others.size() - taken_over << " by peers"
                  << (taken_over > 0 ? absl::StrCat(", ", taken_over, " finished for a peer") : "")
                  << ")";
  return banks_.at(conversation.id);
}

absl::Status ActorRole::WaitForPeerBanks(const std::vector<const actor::Conversation*>& watched) {
  if (watched.empty()) return absl::OkStatus();
  const absl::Duration patience = absl::Seconds(config_.actor().peer_bank_wait_seconds());
  int64_t last_left = -1;
  absl::Time last_progress = absl::Now();
  while (true) {
    if (Interrupted()) return absl::CancelledError(absl::StrCat(options_.id, ": shutdown requested"));
    MEMR1_ASSIGN_OR_RETURN(const int64_t left, builder_->TurnsLeft(watched));
    if (left == 0) return absl::OkStatus();
    if (left != last_left) {
      last_left = left;
      last_progress = absl::Now();
    } else if (absl::Now() - last_progress >= patience) {
      MEMR1_LOG(WARNING) << options_.id << ": no progress on the peers' train banks for "
                         << absl::FormatDuration(patience) << " (" << left
                         << " turns left of their last banks); building the rest here";
      return absl::OkStatus();
    }
    Sleep(absl::Milliseconds(200));
  }
}

absl::StatusOr<actor::EpisodeResult> ActorRole::RunEpisode(const v1::WorkUnit& unit) {
  auto conversation_it = conversations_.find(unit.conversation_id());
  if (conversation_it == conversations_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unit ", unit.id(), ": conversation ",
                                                   unit.conversation_id(),
                                                   " is not in this actor's train split"));
  }
  const actor::Conversation& conversation = *conversation_it->second;
  MEMR1_ASSIGN_OR_RETURN(const std::string bank, BankOf(conversation));
  const std::string episode_id = absl::StrCat(unit.id(), "#", unit.attempt());
  if (unit.agent() == v1::AGENT_KIND_ANSWER_AGENT) {
    const actor::QaItem* question = nullptr;
    for (const actor::QaItem& qa : conversation.qa) {
      if (qa.id == unit.question_id()) question = &qa;
    }
    if (question == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unit ", unit.id(), ": question ",
                                                     unit.question_id(), " not in ",
                                                     conversation.id));
    }
    actor::AnswerEpisodeSpec spec;
    spec.conversation = &conversation;
    spec.bank = bank;
    spec.question = question;
    spec.episode_id = episode_id;
    spec.seed = unit.seed();
    spec.work_unit_id = unit.id();
    return runner_->RunAnswerEpisode(spec);
  }
  actor::ManagerEpisodeSpec spec;
  spec.conversation = &conversation;
  spec.base_bank = bank;
  spec.turn = unit.turn();
  spec.episode_id = episode_id;
  spec.seed = unit.seed();
  spec.work_unit_id = unit.id();
  return runner_->RunManagerEpisode(spec);
}

absl::Status ActorRole::RunUnit(const v1::WorkUnit& unit) {
  const absl::Time begun = absl::Now();
  MEMR1_RETURN_IF_ERROR(
      Annotate(EnsureVersion(unit.policy_version()), "loading the unit's policy version"));
  std::vector<v1::Trajectory> trajectories;
  double reward_sum = 0;
  // Every episode yields a whole group (a turn without facts included, actor/episodes.h), so an
  // error here is a real failure: the unit is handed back and re-leased, never completed empty.
  absl::StatusOr<actor::EpisodeResult> result = RunEpisode(unit);
  if (!result.ok()) return Annotate(result.status(), absl::StrCat("episode of unit ", unit.id()));
  trajectories = std::move(result->trajectories);
  for (const actor::MemberOutcome& member : result->members) reward_sum += member.reward;
  MEMR1_ASSIGN_OR_RETURN(const std::vector<std::string> learners, LearnerAddresses());
  const int rank = unit.learner_rank();
  if (rank < 0 || rank >= static_cast<int>(learners.size())) {
    return absl::InvalidArgumentError(absl::StrCat("unit ", unit.id(), " names learner rank ",
                                                   rank, " of ", learners.size()));
  }
  absl::StatusOr<actor::UnitReceipt> receipt;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto& sender = senders_[rank];
    if (sender == nullptr) {
      actor::TrajectorySenderOptions sender_options;
      sender_options.address = learners[rank];
      sender_options.job_token = config_.job_token();
      sender_options.actor_id = options_.id;
      MEMR1_ASSIGN_OR_RETURN(sender, actor::TrajectorySender::Create(sender_options));
    }
    receipt = sender->SendUnit(unit.id(), unit.attempt(), unit.step(), trajectories);
    if (receipt.ok() || receipt.status().code() != absl::StatusCode::kUnavailable) break;
    Sleep(absl::Milliseconds(500));
  }
  if (!receipt.ok()) {
    return Annotate(receipt.status(),
                    absl::StrCat("sending unit ", unit.id(), " to learner rank ", rank));
  }
  v1::CompleteWorkRequest complete;
  complete.set_lease_id(lease_id_);
  complete.set_unit_id(unit.id());
  complete.set_attempt(unit.attempt());
  complete.set_trajectories(static_cast<int32_t>(trajectories.size()));
  complete.set_reward_sum(reward_sum);
  complete.set_policy_version(trained_->version());
  MEMR1_ASSIGN_OR_RETURN(const v1::CompleteWorkResponse response, client_->CompleteWork(complete));
  if (!response.accepted()) {
    MEMR1_LOG(WARNING) << options_.id << ": completion of unit " << unit.id() << " attempt "
                       << unit.attempt() << " refused: " << response.reason();
  } else {
    ++units_done_;
  }
  busy_ += absl::Now() - begun;
  Report();
  return absl::OkStatus();
}

void ActorRole::Close() {
  for (auto& [rank, sender] : senders_) sender->Close();
  if (heartbeater_ != nullptr) heartbeater_->Close();
  if (metrics_server_ != nullptr) metrics_server_->Close();
}

absl::Status ActorRole::Run() {
  MEMR1_RETURN_IF_ERROR(Setup());
  // The idle fraction counts from here: loading the models is start-up, not waiting for work.
  started_ = absl::Now();
  int failures = 0;
  while (true) {
    if (Interrupted()) return absl::CancelledError(absl::StrCat(options_.id, ": shutdown requested"));
    if (heartbeater_->stop()) {
      MEMR1_LOG(INFO) << options_.id << ": the coordinator says stop; " << units_done_
                      << " unit(s) done";
      return absl::OkStatus();
    }
    if (heartbeater_->lease_lost()) MEMR1_RETURN_IF_ERROR(Register());
    v1::LeaseWorkRequest lease;
    lease.set_lease_id(lease_id_);
    lease.set_max_units(1);
    lease.set_policy_version(loaded_version_);
    absl::StatusOr<v1::LeaseWorkResponse> work = client_->LeaseWork(lease);
    if (!work.ok()) {
      if (work.status().code() == absl::StatusCode::kNotFound) {
        MEMR1_RETURN_IF_ERROR(Register());
        continue;
      }
      if (work.status().code() != absl::StatusCode::kUnavailable &&
          work.status().code() != absl::StatusCode::kDeadlineExceeded) {
        return work.status();
      }
      if (++failures > options_.max_consecutive_failures) return work.status();
      Sleep(absl::Seconds(1));
      continue;
    }
    if (work->done()) {
      MEMR1_LOG(INFO) << options_.id << ": the job is done; " << units_done_ << " unit(s) done";
      return absl::OkStatus();
    }
    if (work->units().empty()) {
      // ASYNC: the staleness bound counts from the version this actor samples with, so an
      // actor that stays on an old version gets no units of later steps: it catches up with
      // the newest published version instead of waiting for work that cannot come.
      const std::optional<v1::HeartbeatResponse> latest = heartbeater_->latest();
      if (async_ && latest.has_value() && latest->policy_version() > loaded_version_) {
        const absl::Status loaded = EnsureVersion(latest->policy_version());
        if (loaded.ok()) continue;
        MEMR1_LOG(WARNING) << options_.id << ": loading version " << latest->policy_version()
                           << " failed (retrying): " << loaded.message();
      }
      Sleep(absl::Milliseconds(std::clamp<int64_t>(work->retry_after_ms(), 50, 5000)));
      continue;
    }
    for (const v1::WorkUnit& unit : work->units()) {
      const absl::Status status = RunUnit(unit);
      if (status.ok()) {
        failures = 0;
        continue;
      }
      if (Interrupted()) return absl::CancelledError(absl::StrCat(options_.id, ": shutdown requested"));
      MEMR1_LOG(ERROR) << options_.id << ": unit " << unit.id() << " attempt " << unit.attempt()
                       << " failed: " << status.message();
      if (++failures > options_.max_consecutive_failures) return status;
      // Registering again gives the unit back at once (re-leased with attempt + 1).
      senders_.clear();
      Sleep(absl::Seconds(1));
      MEMR1_RETURN_IF_ERROR(Register());
      break;
    }
  }
}

}  // namespace

absl::Status RunActorRole(const ActorRoleOptions& options, ShutdownSignal* shutdown) {
  ActorRole role(options, shutdown);
  return role.Run();
}

}  // namespace memr1::job
