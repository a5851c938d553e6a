#pragma once

// Network addresses as memr1 configs write them: "host:port", "[v6]:port". Port 0 asks the OS
// to pick a free port when a server binds.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memr1 {

struct HostPort {
  std::string host;  // without brackets for IPv6
  int port = 0;
};

// Parses "127.0.0.1:8080", "localhost:0", "[::1]:50051". InvalidArgument names the address
// and what is wrong (no port, port out of range, empty host).
absl::StatusOr<HostPort> ParseHostPort(absl::string_view address);

// "host:port", bracketing IPv6 hosts.
std::string JoinHostPort(absl::string_view host, int port);

}  // namespace memr1
