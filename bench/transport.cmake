# Trajectory streaming and weight sync on loopback against a raw gRPC stream of the same bytes
# (docs/performance.md, "Transport").
if(TARGET memr1_learner AND TARGET memr1_actor)
  add_executable(bench_transport ${CMAKE_CURRENT_LIST_DIR}/transport_bench.cc)
  target_compile_options(bench_transport PRIVATE ${MEMR1_WARNINGS})
  target_include_directories(bench_transport PRIVATE "${PROJECT_SOURCE_DIR}" "${PROJECT_BINARY_DIR}")
  target_link_libraries(bench_transport PRIVATE memr1::learner memr1::actor memr1::memstore
                        memr1::llm torch)
endif()
