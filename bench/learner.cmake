# Learner training throughput, 1 rank vs 2 ranks, activation checkpointing cost
# (docs/performance.md, "Learner").
if(TARGET memr1_learner AND TARGET memr1_llm)
  add_executable(bench_learner_train ${CMAKE_CURRENT_LIST_DIR}/learner_train.cc)
  target_compile_options(bench_learner_train PRIVATE ${MEMR1_WARNINGS})
  target_include_directories(bench_learner_train PRIVATE "${PROJECT_SOURCE_DIR}" "${PROJECT_BINARY_DIR}")
  target_link_libraries(bench_learner_train PRIVATE memr1::learner memr1::llm torch MPI::MPI_C)
endif()
