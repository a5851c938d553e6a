#pragma once

// Serves a MetricsRegistry over HTTP: GET /metrics returns the Prometheus text format
// (version 0.0.4), GET /healthz returns "ok" (liveness probes).
//
// Thread safety: Start() and Close() may be called from any thread; Close() is idempotent,
// joins the serving thread, and is called by the destructor.

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace memr1 {

class MetricsServer {
 public:
  // Binds `address` ("127.0.0.1:0" lets the OS pick the port) and starts serving `registry`,
  // which must outlive the server. Fails with Unavailable if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                              MetricsRegistry* registry);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }
  // "host:port" with the bound port.
  const std::string& address() const { return address_; }
  void Close();

 private:
  MetricsServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::string address_;
};

}  // namespace memr1
