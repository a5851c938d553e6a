#pragma once

// The synthetic world's language as the scripted teacher (actor/teacher.h) reads and writes it.
//
// The world (actor/synthetic_world.h) says five things about a person: where they live, their
// job, a vehicle, a pet and a favourite hobby. A sentence about one of them is a Statement:
// a state ("Maya lives in Lisbon.", "I still have my bike."), or a dated event: a change
// ("I moved to Lisbon.", "Maya moved from Porto to Lisbon on 8 May 2023."), an acquisition
// ("I bought a bike.") or a release ("Maya sold the bike on 1 June 2023."). Three spellings are
// read: the world's first-person turns, the facts the teacher extracts and the memories it
// writes (both third person); a leading "Maya: " (the identity extractor's facts, transcript
// lines) names the speaker of first-person sentences.
//
// A SlotHistory is everything known about one (person, slot): its current state and its
// dated events, oldest first. RenderMemory writes it as the teacher's memory text, which
// ParseStatements reads back to the same history:
//
//   "Maya lives in Paris. Maya moved from Porto to Lisbon on 8 May 2023. Maya moved from
//    Lisbon to Paris on 3 June 2023."
//   "Maya owns no vehicle. Maya bought a bike on 8 May 2023. Maya sold the bike on 1 June 2023."
//
// so one memory per (person, slot) answers every question kind of the world: the current
// value, "when" (the event dates), "before" (the value an event replaced) and, through the
// city, the country and language.
//
// Thread safety: pure functions and plain values.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace memr1::actor::teacher {

enum class Slot { kCity, kJob, kVehicle, kPet, kHobby };

// "city", "job", "vehicle", "pet", "hobby".
const char* SlotName(Slot slot);

struct Statement {
  enum class Kind {
    kState,    // the current value (possessions: "" = none)
    kChange,   // city / job / hobby changed to `value` (from `old_value` when said)
    kAcquire,  // bought / adopted `value`
    kRelease,  // sold / gave away `value`
  };
  std::string person;
  Slot slot = Slot::kCity;
  Kind kind = Kind::kState;
  std::string value;
  std::string old_value;
  std::string date;    // "8 May 2023" when the sentence says it
  bool still = false;  // a repetition ("I still live in Lisbon.")

  bool operator==(const Statement& other) const;
};

// Statements of `text`: its sentences (split after '.', '!' or '?' followed by a space or the
// end) that the world's grammar reads; other sentences (small talk, anything else) are skipped.
// A leading "Name: " makes Name the speaker; otherwise first-person sentences are `speaker`'s
// (skipped when `speaker` is empty).
std::vector<Statement> ParseStatements(std::string_view text, std::string_view speaker);

// The fact the teacher extracts for `statement` (third person; events carry their date):
// "Maya moved to Lisbon on 8 May 2023.", "Maya still lives in Lisbon.".
std::string RenderFact(const Statement& statement);

// What is known about one person's slot.
struct SlotHistory {
  std::string person;
  Slot slot = Slot::kCity;
  bool state_known = false;
  std::string state;            // possessions: "" = none
  std::vector<Statement> events;  // kChange / kAcquire / kRelease, oldest first

  // Folds `statement` (same person and slot) in as the newest thing said: a state sets the
  // state; an event is appended (unless the same event is already there; a change without
  // old_value gets the current state as its old value) and sets the state.
  void Apply(Statement statement);
};

// The teacher's memory text of `history`: the state sentence, then one sentence per event.
std::string RenderMemory(const SlotHistory& history);

// A question of the world's question generator, understood.
struct Question {
  enum class Kind {
    kCurrent,     // "Where does Maya live?" -> the current value ("none" for a possession)
    kWhen,        // "When did Maya move to Lisbon?" -> the date of the event
    kBefore,      // "Where did Maya live before moving to Lisbon?" -> the value it replaced
    kBothCities,  // "Where do Maya and Sam live?" -> "Lisbon, Paris"
    kJobAndCity,  // "What is Maya's job and in which city does Maya live?" -> "chef, Lisbon"
    kCountry,     // "Which country does Maya live in?"
    kLanguage,    // "What language do people speak where Maya lives?"
  };
  Kind kind = Kind::kCurrent;
  std::string person;
  std::string other_person;  // kBothCities
  Slot slot = Slot::kCity;   // kCurrent, kWhen, kBefore
  Statement::Kind event = Statement::Kind::kChange;  // kWhen, kBefore
  std::string value;                                 // kWhen, kBefore: the event's value
};

// nullopt when `text` is not one of the world's questions.
std::optional<Question> ParseQuestion(std::string_view text);

// "8 May 2023" from a session time ("3:15 pm on 8 May, 2023", "8 May, 2023"): the text after
// the last " on ", without commas, whitespace trimmed.
std::string DayOf(std::string_view session_time);

// Days since 1970-01-01 of "8 May 2023" (English month names); nullopt when it is not a date.
std::optional<long> DayNumber(std::string_view day);

// "a bike", "an engineer".
std::string WithArticle(std::string_view word);

}  // namespace memr1::actor::teacher
