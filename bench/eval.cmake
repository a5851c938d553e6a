# eval/actor benchmarks: scoring throughput against the Python reference scorers, and
# LongMemEval streaming against a whole-file parse (docs/performance.md, "Datasets and metrics").
if(TARGET memr1_actor)
  add_executable(bench_eval_scoring eval_scoring.cc)
  target_compile_options(bench_eval_scoring PRIVATE ${MEMR1_WARNINGS})
  target_include_directories(bench_eval_scoring PRIVATE "${PROJECT_SOURCE_DIR}")
  target_compile_definitions(bench_eval_scoring PRIVATE MEMR1_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_link_libraries(bench_eval_scoring PRIVATE memr1::actor memr1::eval nlohmann_json::nlohmann_json)
endif()
