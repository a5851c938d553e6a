#pragma once

// A seeded synthetic memory world in LoCoMo's shape: the quickstart's training data and the
// tests' conversations. Two speakers talk over dated sessions; facts about where they live,
// their job, a vehicle, a pet and a favourite hobby are introduced ("I live in Porto."),
// changed ("I moved to Lisbon."), retracted ("I sold the bike.") and repeated ("I still live in
// Lisbon."), between small-talk turns. Questions have short gold answers that depend on the
// *latest* state, so a memory that only ever ADDs answers them wrong:
//
//   4 single-hop   "Where does Maya live?" -> "Lisbon"; "What vehicle does Maya own?" -> "none"
//   2 temporal     "When did Maya move to Lisbon?" -> "8 May 2023" (the session's date)
//   1 multi-hop    "Where did Maya live before moving to Lisbon?" -> "Porto";
//                  "Where do Maya and Sam live?" -> "Lisbon, Paris" (comma-separated parts)
//   3 open-domain  "Which country does Maya live in?" -> "Portugal" (city -> country knowledge)
//
// The vocabulary is small and closed (templates, 12 cities, 10 jobs, ...) so a tiny model can
// learn it. Questions prefer facts that changed; every question has evidence dia_ids.
//
// Determinism: the generator uses its own PRNG (SplitMix64) and no std distributions, so the
// same options give a byte-identical LocomoToJson() text on every platform.
//
// Thread safety: pure functions.

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "actor/dataset.h"
#include "memr1/v1/config.pb.h"

namespace memr1::actor {

struct SyntheticWorldOptions {
  uint64_t seed = 0;
  int conversations = 10;
  int sessions_per_conversation = 8;
  int turns_per_session = 12;
  // At most this many questions per conversation (fewer when a short world has fewer facts).
  int questions_per_conversation = 40;
  // Probability that a turn is about a fact rather than small talk.
  double fact_probability = 0.5;

  // InvalidArgument naming the field when a size is out of range.
  absl::Status Validate() const;
  static SyntheticWorldOptions FromConfig(const v1::SyntheticWorldConfig& config);
};

// Generates the world. InvalidArgument when the options are invalid.
absl::StatusOr<Dataset> GenerateSyntheticWorld(const SyntheticWorldOptions& options);

// The world's cities with the country and language its open-domain questions ask about (the
// scripted teacher, actor/teacher.h, answers them from this table).
struct WorldCity {
  const char* name;
  const char* country;
  const char* language;
};
absl::Span<const WorldCity> SyntheticWorldCities();

}  // namespace memr1::actor
