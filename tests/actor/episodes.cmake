# Bank building, rewards and the two episode types of memr1::actor (issue 8): scripted policies
# (deterministic outputs) against real memstore servers on 127.0.0.1, and a judge server
# written in the test.
memr1_add_test(actor_rewards_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/rewards_test.cc
  DEPS memr1::actor GTest::gmock PkgConfig::HTTPLIB nlohmann_json::nlohmann_json
  LABELS unit)
memr1_add_test(actor_bank_builder_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bank_builder_test.cc
  DEPS memr1::actor GTest::gmock nlohmann_json::nlohmann_json
  LABELS integration)
memr1_add_test(actor_episodes_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/episodes_test.cc
  DEPS memr1::actor memr1::learner GTest::gmock nlohmann_json::nlohmann_json
  LABELS integration)
