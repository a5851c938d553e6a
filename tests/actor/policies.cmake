# The policies part of memr1::actor (issue 8): the foundation (turns, scripted policy,
# trajectories, sampling options), the local engine policy on a tiny random model, and the
# OpenAI-compatible policy against a server written in the test.
memr1_add_test(actor_foundation_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/foundation_test.cc
  DEPS memr1::actor memr1::learner GTest::gmock
  LABELS unit)

memr1_add_test(actor_openai_policy_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/openai_policy_test.cc
  DEPS memr1::actor GTest::gmock PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
       absl::synchronization
  LABELS integration
  TIMEOUT 120)

memr1_add_test(actor_policy_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/policy_test.cc
  DEPS memr1::actor GTest::gmock
  LABELS integration
  TIMEOUT 600)
