#pragma once
// SPDX-License-Identifier: MIT

// Small files read whole with open/read: no iostreams (and no locale) in start_server.

#include <optional>
#include <string>

namespace baton::starter {

/// The contents of `path` (up to `limit` bytes); nullopt when it cannot be opened or read
/// (errno says why).
std::optional<std::string> read_text_file(const std::string& path, std::size_t limit = 1 << 20);

} // namespace baton::starter
