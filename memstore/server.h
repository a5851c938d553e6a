#pragma once

// MemstoreServer: one memstore shard process's worth of parts — a BankStore on its data
// directory, the Memstore gRPC service, the Echo service (the RPC baseline of the benchmarks,
// answered by the same server so both see the same transport) and a thread that drops
// expired banks. `memr1 memstore serve` runs one; tests run several in one process.
//
// Thread safety: thread safe. Close() is idempotent; the destructor calls it.

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/grpc_util.h"
#include "memr1/v1/config.pb.h"
#include "memstore/bank_store.h"

namespace memr1::memstore {

class MemstoreService;
class EchoService;

struct ServerOptions {
  StoreOptions store;
  // host:port; port 0 lets the OS pick (see address()).
  std::string listen = "127.0.0.1:0";
  // Job (tenant) -> token; at least one job.
  std::map<std::string, std::string> job_tokens;
  v1::TlsConfig tls;
  absl::Duration expiry_interval = absl::Seconds(10);
};

class MemstoreServer {
 public:
  // Opens the store and starts serving. Errors: those of BankStore::Open and StartGrpcServer;
  // InvalidArgument for no jobs or a bad job name.
  static absl::StatusOr<std::unique_ptr<MemstoreServer>> Start(ServerOptions options);
  ~MemstoreServer();
  MemstoreServer(const MemstoreServer&) = delete;
  MemstoreServer& operator=(const MemstoreServer&) = delete;

  // host:port with the bound port.
  const std::string& address() const { return address_; }
  // The store (for in-process inspection in tests); valid until Close().
  BankStore* store() const { return store_.get(); }
  // Blocks until Close() runs on another thread.
  void Wait();
  // Stops accepting calls, finishes running ones (up to 5 s), stops the expiry thread and
  // closes the store.
  void Close();

 private:
  MemstoreServer() = default;
  void ExpiryLoop(absl::Duration interval);

  std::unique_ptr<BankStore> store_;
  std::unique_ptr<MemstoreService> service_;
  std::unique_ptr<EchoService> echo_;
  StartedGrpcServer grpc_;
  std::string address_;
  absl::Notification stop_;
  std::thread expiry_thread_;
  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;
};

// Builds ServerOptions from a job config: the store limits of config.memstore(), TLS, the
// expiry interval, and the job (config.name() with token config.job_token()).
ServerOptions ServerOptionsFromConfig(const v1::JobConfig& config);

}  // namespace memr1::memstore
