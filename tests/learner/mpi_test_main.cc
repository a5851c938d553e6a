// main() of the learner's MPI test binaries (run under `mpirun -np 2`): MPI is initialised
// before the tests, only rank 0 prints, and the exit code is the worst over the ranks, so a
// failure on any rank fails the test.

#include <mpi.h>

#include "gtest/gtest.h"
#include "learner/mpi_communicator.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!memr1::learner::EnsureMpiInitialized().ok()) return 1;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return failed;
}
