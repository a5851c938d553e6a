#include "actor/synthetic_world.h"

#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/status_macros.h"

namespace memr1::actor {
namespace {

// SplitMix64: tiny, fast and fully specified, so worlds are identical everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0, without modulo bias.
  uint64_t Uniform(uint64_t n) {
    const uint64_t limit = ~uint64_t{0} - (~uint64_t{0} % n);
    uint64_t value;
    do {
      value = Next();
    } while (value >= limit);
    return value % n;
  }
  bool Bernoulli(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }
  template <typename T>
  void Shuffle(std::vector<T>* items) {
    for (size_t i = items->size(); i > 1; --i) std::swap((*items)[i - 1], (*items)[Uniform(i)]);
  }

 private:
  uint64_t state_;
};

using City = WorldCity;

constexpr City kCities[] = {
    {"Lisbon", "Portugal", "Portuguese"}, {"Porto", "Portugal", "Portuguese"},
    {"Paris", "France", "French"},        {"Lyon", "France", "French"},
    {"Berlin", "Germany", "German"},      {"Munich", "Germany", "German"},
    {"Madrid", "Spain", "Spanish"},       {"Seville", "Spain", "Spanish"},
    {"Rome", "Italy", "Italian"},         {"Milan", "Italy", "Italian"},
    {"Tokyo", "Japan", "Japanese"},       {"Osaka", "Japan", "Japanese"},
};
constexpr const char* kNames[] = {"Alice", "Ben",  "Chloe", "David",  "Emma", "Felix", "Grace",
                                  "Henry", "Iris", "Jack",  "Kate",   "Liam", "Maya",  "Noah",
                                  "Olivia", "Paul", "Rosa", "Sam",    "Tara", "Victor"};
constexpr const char* kJobs[] = {"teacher", "nurse",  "chef",   "pilot",    "lawyer",
                                 "baker",   "farmer", "dentist", "engineer", "architect"};
constexpr const char* kVehicles[] = {"bike", "car", "scooter", "boat", "motorcycle", "van"};
constexpr const char* kPets[] = {"dog", "cat", "parrot", "rabbit", "hamster", "turtle"};
constexpr const char* kHobbies[] = {"tennis",   "chess",    "swimming", "running",
                                    "painting", "cooking",  "hiking",   "yoga"};
constexpr const char* kSmallTalk[] = {
    "How was your week?",
    "Pretty busy, but good.",
    "That sounds great!",
    "I have been reading a lot lately.",
    "The weather has been lovely.",
    "Tell me more about it.",
    "I am glad to hear that.",
    "Let us catch up again soon.",
    "I had a quiet weekend at home.",
    "Work has been keeping me busy.",
};
constexpr const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                   "July",    "August",   "September", "October", "November",
                                   "December"};

enum Slot { kCity = 0, kJob, kVehicle, kPet, kHobby, kSlotCount };
enum class Kind { kIntro, kChange, kRetract, kRepeat };

bool IsPossession(int slot) { return slot == kVehicle || slot == kPet; }

std::vector<std::string> Values(int slot) {
  std::vector<std::string> values;
  switch (slot) {
    case kCity:
      for (const City& city : kCities) values.emplace_back(city.name);
      break;
    case kJob:
      values.assign(std::begin(kJobs), std::end(kJobs));
      break;
    case kVehicle:
      values.assign(std::begin(kVehicles), std::end(kVehicles));
      break;
    case kPet:
      values.assign(std::begin(kPets), std::end(kPets));
      break;
    default:
      values.assign(std::begin(kHobbies), std::end(kHobbies));
      break;
  }
  return values;
}

const City& CityNamed(const std::string& name) {
  for (const City& city : kCities) {
    if (name == city.name) return city;
  }
  return kCities[0];  // unreachable: values come from kCities
}

std::string Article(const std::string& word) {
  const char first = word.empty() ? 'x' : word[0];
  const bool vowel = first == 'a' || first == 'e' || first == 'i' || first == 'o' || first == 'u';
  return absl::StrCat(vowel ? "an " : "a ", word);
}

// The sentence a speaker says for an event.
std::string Sentence(int slot, Kind kind, const std::string& value) {
  switch (slot) {
    case kCity:
      if (kind == Kind::kChange) return absl::StrCat("I moved to ", value, ".");
      if (kind == Kind::kRepeat) return absl::StrCat("I still live in ", value, ".");
      return absl::StrCat("I live in ", value, ".");
    case kJob:
      if (kind == Kind::kChange) return absl::StrCat("I started a new job as ", Article(value), ".");
      if (kind == Kind::kRepeat) return absl::StrCat("I still work as ", Article(value), ".");
      return absl::StrCat("I work as ", Article(value), ".");
    case kVehicle:
      if (kind == Kind::kRetract) return absl::StrCat("I sold the ", value, ".");
      if (kind == Kind::kRepeat) return absl::StrCat("I still have my ", value, ".");
      return absl::StrCat("I bought ", Article(value), ".");
    case kPet:
      if (kind == Kind::kRetract) return absl::StrCat("I gave my ", value, " away.");
      if (kind == Kind::kRepeat) return absl::StrCat("My ", value, " is doing well.");
      return absl::StrCat("I adopted ", Article(value), ".");
    default:
      if (kind == Kind::kChange) {
        return absl::StrCat("These days my favorite hobby is ", value, ".");
      }
      if (kind == Kind::kRepeat) return absl::StrCat("I still love ", value, ".");
      return absl::StrCat("My favorite hobby is ", value, ".");
  }
}

struct Event {
  int speaker = 0;
  int slot = 0;
  Kind kind = Kind::kIntro;
  std::string value;
  std::string old_value;
  std::string dia_id;
  std::string date;  // "8 May 2023"
};

struct SlotState {
  bool known = false;
  std::string value;  // empty: a possession that was given up
  bool changed = false;
  std::string dia_id;  // the latest event that set the state (repeats excluded)
};

struct Candidate {
  QaItem item;
  bool priority = false;  // the answer differs from what the first statement said
};

class ConversationBuilder {
 public:
  ConversationBuilder(const SyntheticWorldOptions& options, Rng* rng, int index)
      : options_(options), rng_(*rng), index_(index) {}

  Conversation Build() {
    Conversation conversation;
    conversation.id = absl::StrCat("synth-", index_);
    const uint64_t a = rng_.Uniform(std::size(kNames));
    uint64_t b = rng_.Uniform(std::size(kNames) - 1);
    if (b >= a) ++b;
    names_ = {kNames[a], kNames[b]};
    conversation.speaker_a = names_[0];
    conversation.speaker_b = names_[1];
    absl::CivilDay day = absl::CivilDay(2023, 1, 1) + static_cast<int>(rng_.Uniform(365));
    for (int s = 1; s <= options_.sessions_per_conversation; ++s) {
      if (s > 1) day += 1 + static_cast<int>(rng_.Uniform(21));
      conversation.sessions.push_back(BuildSession(s, day));
    }
    conversation.qa = PickQuestions(conversation.id);
    return conversation;
  }

 private:
  Session BuildSession(int number, absl::CivilDay day) {
    Session session;
    session.number = number;
    const int hour = 1 + static_cast<int>(rng_.Uniform(12));
    const int minute = static_cast<int>(rng_.Uniform(60));
    const bool pm = rng_.Bernoulli(0.5);
    const std::string date =
        absl::StrCat(day.day(), " ", kMonths[day.month() - 1], " ", day.year());
    session.date_time = absl::StrCat(hour, ":", minute < 10 ? "0" : "", minute, pm ? " pm" : " am",
                                     " on ", day.day(), " ", kMonths[day.month() - 1], ", ",
                                     day.year());
    for (int t = 0; t < options_.turns_per_session; ++t) {
      const int speaker = (t + number + 1) % 2;  // odd sessions open with speaker A
      Turn turn;
      turn.speaker = names_[speaker];
      turn.dia_id = absl::StrCat("D", number, ":", t + 1);
      if (rng_.Bernoulli(options_.fact_probability)) {
        turn.text = FactTurn(speaker, turn.dia_id, date);
      } else {
        turn.text = kSmallTalk[rng_.Uniform(std::size(kSmallTalk))];
      }
      session.turns.push_back(std::move(turn));
    }
    return session;
  }

  std::string PickOther(int slot, const std::string& current) {
    const std::vector<std::string> values = Values(slot);
    while (true) {
      const std::string& value = values[rng_.Uniform(values.size())];
      if (value != current) return value;
    }
  }

  std::string FactTurn(int speaker, const std::string& dia_id, const std::string& date) {
    const int slot = static_cast<int>(rng_.Uniform(kSlotCount));
    SlotState& state = states_[speaker][slot];
    Event event;
    event.speaker = speaker;
    event.slot = slot;
    event.dia_id = dia_id;
    event.date = date;
    event.old_value = state.value;
    if (!state.known || (IsPossession(slot) && state.value.empty())) {
      event.kind = Kind::kIntro;
      event.value = PickOther(slot, "");
    } else if (IsPossession(slot)) {
      event.kind = rng_.Bernoulli(0.6) ? Kind::kRetract : Kind::kRepeat;
      event.value = state.value;
    } else {
      event.kind = rng_.Bernoulli(0.65) ? Kind::kChange : Kind::kRepeat;
      event.value = event.kind == Kind::kChange ? PickOther(slot, state.value) : state.value;
    }
    if (event.kind != Kind::kRepeat) {
      if (state.known) state.changed = true;
      state.known = true;
      state.value = event.kind == Kind::kRetract ? "" : event.value;
      state.dia_id = dia_id;
    }
    events_.push_back(event);
    return Sentence(slot, event.kind, event.value);
  }

  static QaItem Question(std::string question, std::string answer, int category,
                         std::vector<std::string> evidence) {
    QaItem item;
    item.question = std::move(question);
    item.answer = std::move(answer);
    item.category = category;
    item.evidence = std::move(evidence);
    return item;
  }

  std::vector<Candidate> SingleHop() const {
    std::vector<Candidate> out;
    for (int speaker = 0; speaker < 2; ++speaker) {
      const std::string& name = names_[speaker];
      for (int slot = 0; slot < kSlotCount; ++slot) {
        const SlotState& state = states_[speaker][slot];
        if (!state.known) continue;
        const std::string answer = state.value.empty() ? "none" : state.value;
        std::string question;
        switch (slot) {
          case kCity:
            question = absl::StrCat("Where does ", name, " live?");
            break;
          case kJob:
            question = absl::StrCat("What is ", name, "'s job?");
            break;
          case kVehicle:
            question = absl::StrCat("What vehicle does ", name, " own?");
            break;
          case kPet:
            question = absl::StrCat("What pet does ", name, " have?");
            break;
          default:
            question = absl::StrCat("What is ", name, "'s favorite hobby?");
            break;
        }
        out.push_back({Question(question, answer, 4, {state.dia_id}), state.changed});
      }
    }
    return out;
  }

  std::vector<Candidate> Temporal() const {
    // Only events whose question identifies them uniquely.
    std::vector<Candidate> out;
    std::vector<std::string> questions;
    std::vector<const Event*> sources;
    for (const Event& event : events_) {
      const std::string& name = names_[event.speaker];
      std::string question;
      if (event.slot == kCity && event.kind == Kind::kChange) {
        question = absl::StrCat("When did ", name, " move to ", event.value, "?");
      } else if (event.slot == kJob && event.kind == Kind::kChange) {
        question = absl::StrCat("When did ", name, " start working as ", Article(event.value), "?");
      } else if (event.slot == kVehicle && event.kind == Kind::kIntro) {
        question = absl::StrCat("When did ", name, " buy ", Article(event.value), "?");
      } else if (event.slot == kVehicle && event.kind == Kind::kRetract) {
        question = absl::StrCat("When did ", name, " sell the ", event.value, "?");
      } else if (event.slot == kPet && event.kind == Kind::kIntro) {
        question = absl::StrCat("When did ", name, " adopt ", Article(event.value), "?");
      } else if (event.slot == kPet && event.kind == Kind::kRetract) {
        question = absl::StrCat("When did ", name, " give away the ", event.value, "?");
      } else {
        continue;
      }
      questions.push_back(question);
      sources.push_back(&event);
    }
    for (size_t i = 0; i < questions.size(); ++i) {
      if (std::count(questions.begin(), questions.end(), questions[i]) != 1) continue;
      out.push_back({Question(questions[i], sources[i]->date, 2, {sources[i]->dia_id}), true});
    }
    return out;
  }

  std::vector<Candidate> MultiHop() const {
    std::vector<Candidate> out;
    std::vector<std::pair<std::string, const Event*>> befores;
    for (const Event& event : events_) {
      if (event.kind != Kind::kChange || (event.slot != kCity && event.slot != kJob)) continue;
      const std::string& name = names_[event.speaker];
      const std::string question =
          event.slot == kCity
              ? absl::StrCat("Where did ", name, " live before moving to ", event.value, "?")
              : absl::StrCat("What was ", name, "'s job before becoming ", Article(event.value),
                             "?");
      befores.emplace_back(question, &event);
    }
    for (const auto& [question, event] : befores) {
      const auto same = [&question = question](const auto& other) {
        return other.first == question;
      };
      if (std::count_if(befores.begin(), befores.end(), same) != 1) continue;
      out.push_back({Question(question, event->old_value, 1, {event->dia_id}), true});
    }
    const SlotState& city_a = states_[0][kCity];
    const SlotState& city_b = states_[1][kCity];
    if (city_a.known && city_b.known) {
      out.push_back({Question(absl::StrCat("Where do ", names_[0], " and ", names_[1], " live?"),
                              absl::StrCat(city_a.value, ", ", city_b.value), 1,
                              {city_a.dia_id, city_b.dia_id}),
                     city_a.changed || city_b.changed});
    }
    for (int speaker = 0; speaker < 2; ++speaker) {
      const SlotState& job = states_[speaker][kJob];
      const SlotState& city = states_[speaker][kCity];
      if (!job.known || !city.known) continue;
      const std::string& name = names_[speaker];
      out.push_back({Question(absl::StrCat("What is ", name, "'s job and in which city does ", name,
                                           " live?"),
                              absl::StrCat(job.value, ", ", city.value), 1,
                              {job.dia_id, city.dia_id}),
                     job.changed || city.changed});
    }
    return out;
  }

  std::vector<Candidate> OpenDomain() const {
    std::vector<Candidate> out;
    for (int speaker = 0; speaker < 2; ++speaker) {
      const SlotState& state = states_[speaker][kCity];
      if (!state.known) continue;
      const City& city = CityNamed(state.value);
      const std::string& name = names_[speaker];
      out.push_back({Question(absl::StrCat("Which country does ", name, " live in?"), city.country,
                              3, {state.dia_id}),
                     state.changed});
      out.push_back({Question(absl::StrCat("What language do people speak where ", name,
                                           " lives?"),
                              city.language, 3, {state.dia_id}),
                     state.changed});
    }
    return out;
  }

  std::vector<QaItem> PickQuestions(const std::string& conversation_id) {
    std::array<std::vector<Candidate>, 4> pools = {SingleHop(), Temporal(), MultiHop(),
                                                   OpenDomain()};
    for (std::vector<Candidate>& pool : pools) {
      rng_.Shuffle(&pool);
      std::stable_partition(pool.begin(), pool.end(),
                            [](const Candidate& candidate) { return candidate.priority; });
    }
    std::vector<QaItem> picked;
    std::set<std::string> seen;
    std::array<size_t, 4> next = {0, 0, 0, 0};
    bool progress = true;
    while (static_cast<int>(picked.size()) < options_.questions_per_conversation && progress) {
      progress = false;
      for (size_t p = 0; p < pools.size(); ++p) {
        if (static_cast<int>(picked.size()) >= options_.questions_per_conversation) break;
        while (next[p] < pools[p].size()) {
          QaItem item = pools[p][next[p]++].item;
          if (!seen.insert(item.question).second) continue;
          item.id = absl::StrCat(conversation_id, "/qa", picked.size());
          picked.push_back(std::move(item));
          progress = true;
          break;
        }
      }
    }
    return picked;
  }

  const SyntheticWorldOptions& options_;
  Rng& rng_;
  int index_;
  std::array<std::string, 2> names_;
  std::array<std::array<SlotState, kSlotCount>, 2> states_;
  std::vector<Event> events_;
};

}  // namespace

absl::Status SyntheticWorldOptions::Validate() const {
  const auto check = [](int value, int low, int high, const char* field) -> absl::Status {
    if (value < low || value > high) {
      return absl::InvalidArgumentError(absl::StrCat("synthetic world ", field, " must be in [",
                                                     low, ", ", high, "], got ", value));
    }
    return absl::OkStatus();
  };
  MEMR1_RETURN_IF_ERROR(check(conversations, 1, 100000, "conversations"));
  MEMR1_RETURN_IF_ERROR(check(sessions_per_conversation, 1, 10000, "sessions_per_conversation"));
  MEMR1_RETURN_IF_ERROR(check(turns_per_session, 1, 10000, "turns_per_session"));
  MEMR1_RETURN_IF_ERROR(
      check(questions_per_conversation, 0, 100000, "questions_per_conversation"));
  if (!(fact_probability >= 0 && fact_probability <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "synthetic world fact_probability must be in [0, 1], got ", fact_probability));
  }
  return absl::OkStatus();
}

SyntheticWorldOptions SyntheticWorldOptions::FromConfig(const v1::SyntheticWorldConfig& config) {
  SyntheticWorldOptions options;
  options.seed = config.seed();
  options.conversations = config.conversations();
  options.sessions_per_conversation = config.sessions_per_conversation();
  options.turns_per_session = config.turns_per_session();
  options.questions_per_conversation = config.questions_per_conversation();
  options.fact_probability = config.fact_probability();
  return options;
}

absl::Span<const WorldCity> SyntheticWorldCities() { return kCities; }

absl::StatusOr<Dataset> GenerateSyntheticWorld(const SyntheticWorldOptions& options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  Dataset dataset;
  dataset.kind = DatasetKind::kSynthetic;
  dataset.source = absl::StrCat("synthetic(seed=", options.seed, ")");
  Rng rng(options.seed);
  for (int i = 0; i < options.conversations; ++i) {
    // Each conversation draws from its own stream so sizes of one do not shift the next.
    Rng conversation_rng(rng.Next());
    dataset.conversations.push_back(ConversationBuilder(options, &conversation_rng, i).Build());
  }
  return dataset;
}

}  // namespace memr1::actor
