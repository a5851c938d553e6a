#pragma once

// SHA-256 of a byte string as 64 lower-case hex digits (OpenSSL's libcrypto, which gRPC already
// brings): the content hash of published weights, checked by every actor that loads them.
//
// Thread safety: a pure function.

#include <string>

#include "absl/strings/string_view.h"

namespace memr1 {

// An empty string when libcrypto fails (a broken installation), which matches no real hash.
std::string Sha256Hex(absl::string_view bytes);

}  // namespace memr1
