# Actor benchmarks: lockstep bank building and batched answering on the local engine, and the
# agents' output parser (docs/performance.md, "Actor").
if(TARGET memr1_actor)
  add_executable(bench_actor_agents actor_agents.cc)
  target_compile_options(bench_actor_agents PRIVATE ${MEMR1_WARNINGS})
  target_include_directories(bench_actor_agents PRIVATE "${PROJECT_SOURCE_DIR}")
  target_link_libraries(bench_actor_agents PRIVATE memr1::actor nlohmann_json::nlohmann_json)
endif()
