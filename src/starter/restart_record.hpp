#pragma once
// SPDX-License-Identifier: MIT

// The restart record: what start_server tells `--restart` clients about its restart
// attempts, in the file `STATUS_FILE.restart`, replaced atomically like the status file.
// Every event stays in it until a newer one of the same kind replaces it, so a client that
// reads it late still sees an attempt that failed in a millisecond:
//
//   hups N                       HUPs received so far (coalesced ones too)
//   started GEN HUPS PID         the latest attempt; HUPS: `hups` when it was spawned
//   ready GEN HUPS PID           the latest attempt that became the current generation
//   failed GEN HUPS PID WHY...   the latest attempt that failed to start, and why
//
// A client reads `hups` before its HUP (H); an attempt with HUPS > H began after that HUP.

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

namespace baton::starter {

/// One restart attempt (the spawn of one generation).
struct restart_attempt {
    unsigned long generation = 0;
    unsigned long hups = 0; ///< HUPs received when it was spawned
    pid_t pid = 0;          ///< -1 when fork failed
    std::string why;        ///< failed attempts: the reason, one line

    bool operator==(const restart_attempt&) const = default;
};

/// The whole record.
struct restart_record {
    unsigned long hups = 0;
    std::optional<restart_attempt> started;
    std::optional<restart_attempt> ready;
    std::optional<restart_attempt> failed;

    bool operator==(const restart_record&) const = default;
};

/// The record's path next to `status_file`.
std::string restart_record_path(const std::string& status_file);

/// The file's text for `r`.
std::string format_restart_record(const restart_record& r);

/// Parse a file's text; unknown or malformed lines are skipped.
restart_record parse_restart_record(std::string_view text);

} // namespace baton::starter
