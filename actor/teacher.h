#pragma once

// The scripted teacher of the synthetic world (policy backend TEACHER): a rule-based expert
// that answers the agents' prompts the way a perfect Memory-R1 pipeline would. Its completions
// are the demonstrations of the supervised warm start (the paper's Memory-SFT baseline at small
// scale, where the paper used GPT-4o-mini outputs) and, through `memr1 eval`, an upper
// reference for the pipelines on the world.
//
// The teacher reads the *rendered prompt*, never the turn or bank behind it: it matches the
// last user message against the job's three templates (PromptTemplates: extraction, manager,
// answer; the defaults or the configured ones) and takes the placeholder values back out. A
// prompt that matches none of them is an error naming, for each template, the first text it
// could not find; nothing is guessed. It reads and writes the world's language as
// actor/teacher_grammar.h describes. Its completions, in the formats the agents parse:
//
//  - Fact extraction ({{speaker}}, {{date}}, {{turn}}): one third-person fact per world
//    sentence of the turn, events with the session's day, as {"facts": [...]}:
//      "I moved to Lisbon." -> {"facts":["Maya moved to Lisbon on 8 May 2023."]}
//    Small talk (no world sentence) -> {"facts":[]}.
//  - Memory Manager ({{facts}}, {{memories}}, {{date}}): one memory per (person, slot), holding
//    the current state and every dated event (RenderMemory), so every question kind of the
//    world is answerable from it. For each fact (first-person facts are the prompt's
//    {{speaker}}'s; identity facts "Maya: I ..." name theirs; events without a date get the
//    prompt's day):
//      no shown memory of the (person, slot)            -> ADD the new memory text
//      the memory already says it (repeats, re-intros)  -> NONE with its id
//      otherwise (a change, a retraction, a new value)  -> UPDATE it with the merged text
//    A retraction is an UPDATE, not a DELETE: "Maya owns no vehicle. Maya bought a bike on
//    8 May 2023. Maya sold the bike on 1 June 2023." answers "What vehicle does Maya own?" ->
//    "none" *and* "When did Maya sell the bike?"; a DELETE would lose the second. DELETE
//    removes further shown memories of the same (person, slot) (duplicates), after their
//    events were merged into the one kept. A shown memory counts for a (person, slot) when
//    every world sentence in it is about that (person, slot); others are left alone. Facts
//    outside the world's grammar change nothing; a turn without world facts gets
//    {"memory":[]}. ADD ids are the next unused numbers (the parser ignores them).
//  - Answer Agent ({{question}}, {{memories}}): the world's questions are answered by reading
//    the shown memories (their statements ordered by date: an event's own date, otherwise the
//    memory's session day; "If memories disagree, trust the most recent one"): the selected
//    memories are those about the asked (person, slot), copied as shown, then the marker and
//    the answer. A question whose evidence is not among the shown memories is answered
//    "unknown" — the teacher does NOT fall back on the gold answer for world questions:
//    demonstrations must teach answering *from memory* (an Answer Agent that learned to answer
//    without evidence would give the Memory Manager's RL no signal), and evaluating the teacher
//    with another manager's banks then measures those banks. With the teacher's own banks the
//    reading equals the gold answer (tests/actor/teacher_test.cc measures it).
//    Questions outside the world's grammar (LoCoMo's) are answered with the gold answer of the
//    Dataset, found by question text within the conversation whose speakers the prompt names;
//    when several conversations (or one conversation twice) ask it with different answers, the
//    session days of the shown memories pick the conversation; if that still leaves different
//    answers, the call fails naming the question. Memories containing the gold answer are
//    selected.
//
// Thread safety: a Teacher is immutable (Respond is const and thread safe).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "actor/chat_encoding.h"
#include "actor/dataset.h"
#include "actor/prompts.h"
#include "actor/text_policy.h"
#include "llm/chat_template.h"
#include "memr1/v1/config.pb.h"

namespace memr1::actor {

class Teacher {
 public:
  // Changes whenever the teacher's outputs change, so cached banks built by an older teacher
  // are not reused (it is part of TeacherPolicy::Describe, which bank names fingerprint).
  static constexpr int kRevision = 1;

  // `dataset` gives the gold answers of questions outside the world's grammar (copied).
  Teacher(PromptTemplates templates, const Dataset& dataset);

  // The completion for the last user message of `messages`. InvalidArgument when there is no
  // user message, when it matches none of the templates (naming what each could not find),
  // when a placeholder the teacher needs is missing from the matched template, or when a
  // question outside the world's grammar has no unambiguous gold answer.
  absl::StatusOr<std::string> Respond(absl::Span<const llm::ChatMessage> messages) const;

 private:
  struct GoldEntry {
    std::string speaker_a;
    std::string speaker_b;
    std::string answer;
    std::string conversation_id;
    std::vector<std::string> days;  // the conversation's session days ("8 May 2023")
  };

  absl::StatusOr<std::string> Extract(const std::map<std::string, std::string>& values) const;
  absl::StatusOr<std::string> Manage(const std::map<std::string, std::string>& values) const;
  absl::StatusOr<std::string> Answer(const std::map<std::string, std::string>& values) const;

  PromptTemplates templates_;
  std::multimap<std::string, GoldEntry> gold_;  // by question text
};

// A TextPolicy over a Teacher. With a tokenizer, completions carry token ids in the model's
// vocabulary (prompt ids from the chat template, response ids of the text followed by the
// first stop id) and log-probs 0, so `memr1 rollout` writes demonstration trajectories; without
// one, has_tokens() is false (texts only: evaluation works, training episodes refuse it).
// Unlike ScriptedPolicy it keeps no record of the requests (long rollouts stay small).
//
// Thread safety: not thread safe (one thread at a time, like every TextPolicy).
class TeacherPolicy : public TextPolicy {
 public:
  ~TeacherPolicy() override;

  absl::StatusOr<std::vector<Completion>> Complete(
      absl::Span<const PolicyRequest> requests) override;
  absl::StatusOr<int64_t> CountPromptTokens(
      absl::Span<const llm::ChatMessage> messages) const override;
  int64_t max_prompt_tokens() const override { return max_prompt_tokens_; }
  bool has_tokens() const override { return encoder_ != nullptr; }
  int64_t version() const override { return 0; }
  // "teacher:r<revision> (v0)".
  std::string Describe() const override;

  const Teacher& teacher() const { return *teacher_; }

 private:
  friend absl::StatusOr<std::unique_ptr<TextPolicy>> MakeTeacherPolicy(
      const v1::PolicyConfig& policy, const v1::JobConfig& job);
  struct Owned;  // the tokenizer and the chat encoder
  TeacherPolicy() = default;

  std::unique_ptr<Teacher> teacher_;
  std::unique_ptr<Owned> owned_;
  const ChatEncoder* encoder_ = nullptr;  // in owned_, or null without a tokenizer
  int64_t max_prompt_tokens_ = 0;
};

// The TEACHER backend (actor/policy_factory.h): the dataset of job.data(), the templates of
// job.actor(), and the tokenizer of job.tokenizer().path(), else policy.model_path(), else
// job.model().path() (none: texts only). With a tokenizer, max_prompt_tokens is
// job.actor().sampling().max_prompt_tokens(), so the Answer Agent's prompts are budgeted as
// the local model's would be. Errors name the dataset or tokenizer that failed to load.
absl::StatusOr<std::unique_ptr<TextPolicy>> MakeTeacherPolicy(const v1::PolicyConfig& policy,
                                                              const v1::JobConfig& job);

}  // namespace memr1::actor
