#pragma once
// SPDX-License-Identifier: MIT

// The status file: one `GEN:PID` line per live worker, ordered by generation (numerically,
// where Server::Starter sorts as strings), replaced atomically (temp file + rename).

#include <sys/types.h>

#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace baton::starter {

/// The file's text for `workers` (sorted numerically by generation, then pid).
std::string format_status(std::vector<std::pair<unsigned long, pid_t>> workers);

/// The generations listed in a status file's text (lines `GEN:...`; others ignored).
std::vector<unsigned long> parse_status_generations(std::string_view text);

/// Write `text` to `path` through `path.PID` and rename(2).
std::error_code write_status_file(const std::string& path, std::string_view text);

} // namespace baton::starter
