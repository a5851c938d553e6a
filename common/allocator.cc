#include "common/allocator.h"

// <cstdlib> pulls in the C library's feature macros, so __GLIBC__ is defined below on glibc.
#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace memr1 {

void TuneMallocForTensors() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace memr1
