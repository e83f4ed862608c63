#pragma once
// SPDX-License-Identifier: MIT

// The upgrade record: everything start_server carries across an execve(2) of itself, as
// versioned line-oriented text (docs/design.md §2.4). One `key value...` line per item,
// repeated keys for lists; every text field is escaped, so any byte of argv or the
// environment round-trips. Newer and older builds read each other's records: unknown keys
// and extra trailing fields are ignored, missing keys keep their defaults, and a newer
// major version is refused with one line saying so.
//
// Times are nanoseconds on `clock` (std::chrono::steady_clock, which is CLOCK_MONOTONIC on
// Linux): absolute, so the new image re-arms every deadline where the old one left it.
//
// The signalfd is not carried: the signal mask and the pending signals survive execve, so
// the new image opens its own signalfd and reads what arrived meanwhile.

#include "listeners.hpp"
#include "machine.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::starter {

/// The record format's version. A reader refuses a newer major and reads every minor of
/// its own major (a minor only adds keys or trailing fields).
struct record_version {
    unsigned major = 1;
    unsigned minor = 0;

    friend bool operator==(const record_version&, const record_version&) = default;
};

/// What this build writes.
inline constexpr record_version current_record_version{1, 1};

/// A record longer than this is refused before it is parsed.
inline constexpr std::size_t max_record_bytes = std::size_t{16} << 20;

/// A list (argv, environment, workers, listeners) longer than this is refused.
inline constexpr std::size_t max_record_items = 65536;

/// A descriptor kept open across exec, and what it is.
struct kept_fd {
    int fd = -1;
    /// The notify socket: its address; the pid file: its path; the health listener: its
    /// address; the log: the `--log-file` value (a path, or `| command` for a pipe).
    std::string what;

    friend bool operator==(const kept_fd&, const kept_fd&) = default;
};

/// Everything a re-executed start_server resumes from.
struct upgrade_state {
    record_version version = current_record_version; ///< as read (written: always current)
    std::string writer;                              ///< the writing build's version, for log lines
    std::vector<std::string> argv;                   ///< as start_server got it, argv[0] included
    std::vector<std::string> env; ///< as start_server got it (`NAME=VALUE`), before any change
    machine_state machine;
    std::vector<listener_socket> listeners; ///< in SERVER_STARTER_PORT order
    std::string port_env;                   ///< the exact SERVER_STARTER_PORT workers get
    std::optional<kept_fd> notify_socket;   ///< `--readiness=notify`
    std::optional<kept_fd> pid_file;        ///< the flock()ed descriptor
    std::optional<kept_fd> health;          ///< `--health`'s listening socket
    std::optional<kept_fd> log;             ///< `--log-file`'s file or pipe
    std::optional<std::string> status_file; ///< `--status-file`
    // 1.1: what `--upgrade` and `--show-status` report.
    std::string exe;                        ///< the executable an upgrade runs (absolute)
    unsigned long upgrades_done = 0;        ///< in-place upgrades that took over
    unsigned long upgrades_failed = 0;      ///< aborted or rolled back
    std::optional<std::int64_t> started_at; ///< realtime ns when this start_server first ran
    std::vector<std::string> images;        ///< baton's version of each image run, oldest first
    std::optional<clock::time_point> upgrade_began; ///< the USR2 that wrote this record
};

/// The record's text for `s` (always in `current_record_version`).
std::string write_record(const upgrade_state& s);

/** Parse a record. nullopt with `error` set to one line when the text is not a record this
    build can read: too long, truncated (no `end` line), a newer major version, a malformed
    value of a known key, a list longer than `max_record_items`, or workers or descriptors
    listed twice. Never reads past `text`. */
std::optional<upgrade_state> read_record(std::string_view text, std::string& error);

} // namespace baton::starter
