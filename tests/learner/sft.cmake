# learner.algorithm SFT (supervised warm start and LM pretraining): the loss, masking, text
# packing and epoch order in one process; 2 MPI ranks against 1; `memr1 learner offline` with
# --text, --epochs and --resume end to end.
if(TARGET memr1_llm)
  memr1_add_test(learner_sft_test
    SOURCES sft_test.cc
    DEPS memr1::learner memr1::llm torch nlohmann_json::nlohmann_json
    LABELS unit)

  add_executable(learner_sft_data_parallel_test sft_data_parallel_test.cc mpi_test_main.cc)
  target_compile_options(learner_sft_data_parallel_test PRIVATE ${MEMR1_WARNINGS})
  target_include_directories(learner_sft_data_parallel_test PRIVATE "${PROJECT_SOURCE_DIR}")
  target_link_libraries(learner_sft_data_parallel_test PRIVATE
    memr1::learner memr1::llm torch GTest::gtest MPI::MPI_C)
  target_compile_definitions(learner_sft_data_parallel_test PRIVATE
    MEMR1_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME learner_sft_data_parallel_test
    COMMAND ${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe ${MPIEXEC_NUMPROC_FLAG} 2
            $<TARGET_FILE:learner_sft_data_parallel_test>)
  set_tests_properties(learner_sft_data_parallel_test PROPERTIES
    LABELS "mpi;integration" TIMEOUT 300)

  memr1_add_test(learner_sft_cli_test
    SOURCES sft_cli_test.cc
    DEPS memr1_testing nlohmann_json::nlohmann_json
    LABELS integration)
endif()
