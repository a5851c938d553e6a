#include "coordinator/resume.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "coordinator/job_state.h"
#include "coordinator/state_store.h"

namespace memr1::coordinator {

absl::StatusOr<LatestCheckpoint> ReadLatestCheckpoint(const std::string& checkpoints_dir) {
  const std::filesystem::path latest = std::filesystem::path(checkpoints_dir) / "LATEST";
  std::ifstream in(latest);
  if (!in) return LatestCheckpoint{};
  std::string line;
  std::getline(in, line);
  absl::string_view name = line;
  int64_t step = -1;
  if (!absl::ConsumePrefix(&name, "step-") || !absl::SimpleAtoi(name, &step) || step < 0) {
    return absl::DataLossError(
        absl::StrCat(latest.string(), " holds '", name, "', not step-<N>"));
  }
  return LatestCheckpoint{step, (std::filesystem::path(checkpoints_dir) / line).string()};
}

absl::StatusOr<ResumeOutcome> RollBackToCheckpoint(ServerOptions options,
                                                   const std::string& checkpoints_dir) {
  MEMR1_ASSIGN_OR_RETURN(const LatestCheckpoint latest, ReadLatestCheckpoint(checkpoints_dir));
  const int64_t step = latest.step;
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, StateStore::Open(options.state_dir));
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<JobState> state,
                         JobState::Open(options.job, std::move(options.episodes),
                                        std::move(store), absl::Now()));
  ResumeOutcome outcome;
  if (state->phase() == v1::JOB_PHASE_DONE) {
    outcome.already_done = true;
    outcome.message = absl::StrCat("resume: the job in ", options.state_dir,
                                   " is already done (version ", state->newest_version(),
                                   "); nothing to run");
    return outcome;
  }
  const std::string before = v1::JobPhase_Name(state->phase());
  MEMR1_RETURN_IF_ERROR(Annotate(state->ResumeFromCheckpoint(step, latest.dir, absl::Now()),
                                 absl::StrCat("resuming the job in ", options.state_dir)));
  outcome.message = absl::StrCat(
      "resume: the job was ", before, "; continuing from ",
      step < 0 ? std::string("the initial weights (no checkpoint)")
               : absl::StrCat("the checkpoint of step ", step),
      " with ", state->CountUnits(UnitState::kDone), " unit(s) done");
  return outcome;
}

}  // namespace memr1::coordinator
