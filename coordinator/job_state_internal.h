#pragma once

// Helpers shared by job_state.cc and job_state_calls.cc (not part of the coordinator's API).

#include "memr1/v1/coordinator.pb.h"

namespace memr1::coordinator::internal {

// DONE and FAILED are final: no call changes a job in them.
inline bool Terminal(v1::JobPhase phase) {
  return phase == v1::JOB_PHASE_DONE || phase == v1::JOB_PHASE_FAILED;
}

}  // namespace memr1::coordinator::internal
