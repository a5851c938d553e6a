#pragma once

// Whole-file reads and crash-safe writes, for every file memr1 writes that a reader may see
// while it is being replaced (checkpoints, reports, predictions, configs).
//
// Thread safety: functions; concurrent writers of one path race (last rename wins).

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace memr1 {

// Writes `contents` to `path` atomically and durably: `path`.tmp, fsync, rename. A reader sees
// the old file or the whole new one. PermissionDenied when the file cannot be created,
// Internal on write/fsync/rename errors (the temporary file is removed).
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);
// As above, the file being the concatenation of `pieces` (pointer, size), without copying them.
absl::Status WritePiecesAtomically(const std::string& path,
                                   const std::vector<std::pair<const void*, size_t>>& pieces);

// Reads a whole file. NotFound when it cannot be opened, DataLoss on a read error.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace memr1
