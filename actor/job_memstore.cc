#include "actor/job_memstore.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "memstore/client.h"

namespace memr1::actor {

absl::StatusOr<JobMemstore> ConnectJobMemstore(const v1::JobConfig& job,
                                               const std::string& local_data_dir) {
  JobMemstore memstore;
  memstore::ClientOptions client = memstore::ClientOptions::FromConfig(job);
  if (job.memstore().shards_size() > 0) {
    std::vector<std::string> shards(job.memstore().shards().begin(), job.memstore().shards().end());
    MEMR1_ASSIGN_OR_RETURN(memstore.router, memstore::ShardRouter::Connect(shards, client));
    return memstore;
  }
  memstore::ServerOptions server = memstore::ServerOptionsFromConfig(job);
  server.listen = "127.0.0.1:0";
  server.store.data_dir = local_data_dir;
  if (client.job_token.empty()) {
    // A token for this process's lifetime: nobody else needs to reach this server.
    client.job_token = memstore::NewRequestId();
    server.job_tokens[client.job] = client.job_token;
  }
  absl::StatusOr<std::unique_ptr<memstore::MemstoreServer>> started =
      memstore::MemstoreServer::Start(server);
  if (!started.ok()) {
    return Annotate(started.status(), absl::StrCat("in-process memstore in ", local_data_dir));
  }
  memstore.local = *std::move(started);
  MEMR1_ASSIGN_OR_RETURN(memstore.router,
                         memstore::ShardRouter::ConnectNamed({memstore.local->address()},
                                                             {"local:" + local_data_dir}, client));
  return memstore;
}

}  // namespace memr1::actor
