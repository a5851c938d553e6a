#pragma once

// The memstore a job's actor-side work uses: the job's shards (memstore.shards) when the config
// names them, otherwise a memstore server of our own in this process on 127.0.0.1 (a port the
// OS picks) over `local_data_dir`. The local server is routed to by a name derived from its data
// directory, not its address, so banks written in one run are found in the next (the port
// differs each time). A job without a token gets a random one for the local server's lifetime.
//
// Thread safety: the router is thread safe; the struct is owned by one caller.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "memr1/v1/config.pb.h"
#include "memstore/server.h"
#include "memstore/shard_router.h"

namespace memr1::actor {

struct JobMemstore {
  std::unique_ptr<memstore::MemstoreServer> local;  // null when the job names shards
  std::unique_ptr<memstore::ShardRouter> router;
};

absl::StatusOr<JobMemstore> ConnectJobMemstore(const v1::JobConfig& job,
                                               const std::string& local_data_dir);

}  // namespace memr1::actor
