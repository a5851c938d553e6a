# Every third-party dependency of memr1, found once here. All come from Debian's packages
# (scripts/install-deps.sh installs them); nothing is vendored.

find_package(Threads REQUIRED)
# LibTorch first: its Caffe2 config looks for gflags itself, and does it wrongly when RocksDB's
# Findgflags module has already been put on the module path (an empty `gflags` target results).
find_package(Torch REQUIRED)
message(STATUS "memr1: LibTorch ${Torch_VERSION} (${TORCH_INSTALL_PREFIX})")
find_package(absl CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(RocksDB CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(MPI REQUIRED COMPONENTS C)
find_package(GTest CONFIG REQUIRED)
find_package(benchmark CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
# PNG charts (eval/plot.h, `memr1 plot`).
pkg_check_modules(CAIRO REQUIRED IMPORTED_TARGET cairo)


# The protobuf/gRPC code generators.
find_program(MEMR1_PROTOC protoc REQUIRED)
find_program(MEMR1_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# NCCL is detected, not assumed: it needs nccl.h, libnccl and the CUDA runtime.
set(MEMR1_CUDA_ROOT "/usr/local/cuda" CACHE PATH "CUDA toolkit root searched for NCCL")
find_path(MEMR1_NCCL_INCLUDE_DIR nccl.h
  HINTS "${MEMR1_CUDA_ROOT}/include" ENV NCCL_HOME PATH_SUFFIXES include)
find_library(MEMR1_NCCL_LIBRARY nccl
  HINTS "${MEMR1_CUDA_ROOT}/lib64" "${MEMR1_CUDA_ROOT}/lib" ENV NCCL_HOME PATH_SUFFIXES lib lib64)
find_path(MEMR1_CUDART_INCLUDE_DIR cuda_runtime_api.h HINTS "${MEMR1_CUDA_ROOT}/include")
find_library(MEMR1_CUDART_LIBRARY cudart
  HINTS "${MEMR1_CUDA_ROOT}/lib64" "${MEMR1_CUDA_ROOT}/lib")
if(MEMR1_NCCL_INCLUDE_DIR AND MEMR1_NCCL_LIBRARY AND MEMR1_CUDART_INCLUDE_DIR AND MEMR1_CUDART_LIBRARY)
  set(MEMR1_WITH_NCCL ON)
  add_library(memr1_nccl_deps INTERFACE)
  target_include_directories(memr1_nccl_deps SYSTEM INTERFACE
    "${MEMR1_NCCL_INCLUDE_DIR}" "${MEMR1_CUDART_INCLUDE_DIR}")
  target_link_libraries(memr1_nccl_deps INTERFACE "${MEMR1_NCCL_LIBRARY}" "${MEMR1_CUDART_LIBRARY}")
  message(STATUS "memr1: MEMR1_WITH_NCCL=ON (nccl.h in ${MEMR1_NCCL_INCLUDE_DIR}, ${MEMR1_NCCL_LIBRARY}, ${MEMR1_CUDART_LIBRARY})")
else()
  set(MEMR1_WITH_NCCL OFF)
  message(STATUS "memr1: MEMR1_WITH_NCCL=OFF: nccl.h, libnccl or the CUDA runtime not found under "
                 "${MEMR1_CUDA_ROOT} (set MEMR1_CUDA_ROOT or NCCL_HOME); the NCCL communicator is not built")
endif()
