# The scripted teacher of the synthetic world (policy backend TEACHER): exact completions for
# the agents' prompts (unit), and end to end through evaluation and rollouts on a real memstore
# server on 127.0.0.1 (integration).
memr1_add_test(actor_teacher_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/teacher_test.cc
  DEPS memr1::actor GTest::gmock
  LABELS unit)
memr1_add_test(actor_teacher_eval_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/teacher_eval_test.cc
  DEPS memr1::actor GTest::gmock
  LABELS integration
  TIMEOUT 300)
