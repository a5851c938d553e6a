#pragma once

// Process-wide tuning of glibc malloc for tensor workloads. LibTorch's CPU allocator takes every
// tensor from malloc; with glibc's defaults, freed blocks of a few MB go back to the kernel
// (heap trimming, and mmap for blocks past a threshold that starts at 128 KiB), so the next
// forward pass takes a page fault on every page of every activation again. On this project's
// 2-core machine that made a batched prefill of the tiny model ~5x slower than it needed to be
// (bench/actor_agents.cc). This keeps freed memory in the process for reuse instead: blocks up
// to 32 MiB (glibc's ceiling for the mmap threshold) come from the heap and the heap is trimmed
// only past 1 GiB of free top.
//
// Call once, first thing in main(), before threads start (the memr1 binary does). A no-op where
// the C library is not glibc.

namespace memr1 {

void TuneMallocForTensors();

}  // namespace memr1
