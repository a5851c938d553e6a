#include "common/metrics_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>

#include "absl/time/clock.h"

#include "absl/strings/str_cat.h"
#include "common/net.h"
#include "common/status_macros.h"

namespace memr1 {

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                                    MetricsRegistry* registry) {
  MEMR1_ASSIGN_OR_RETURN(const HostPort host_port, ParseHostPort(address));
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->server_ = std::make_unique<httplib::Server>();
  server->server_->Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry->ExportText(), "text/plain; version=0.0.4; charset=utf-8");
  });
  // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let a second server bind the same
  // port silently and steal half of the scrapes.
  server->server_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server->server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  int port = host_port.port;
  if (port == 0) {
    port = server->server_->bind_to_any_port(host_port.host);
  } else if (!server->server_->bind_to_port(host_port.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics server: cannot bind ", address));
  }
  server->port_ = port;
  server->address_ = JoinHostPort(host_port.host, port);
  httplib::Server* raw = server->server_.get();
  auto finished = std::make_shared<std::atomic<bool>>(false);
  server->thread_ = std::thread([raw, finished] {
    raw->listen_after_bind();
    finished->store(true);
  });
  // Close() can only stop a server that is running, so wait until it is (or has given up).
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!raw->is_running() && !finished->load() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  if (!raw->is_running()) {
    server->Close();
    return absl::UnavailableError(absl::StrCat("metrics server: cannot serve on ", address));
  }
  return server;
}

MetricsServer::~MetricsServer() { Close(); }

void MetricsServer::Close() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace memr1
