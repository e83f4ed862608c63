#pragma once
// SPDX-License-Identifier: MIT

// What `start_server --show-status` reports (docs/start_server.md, "Status for operators";
// docs/design.md §2.5). The running start_server keeps a snapshot file beside its pid file,
// `PIDFILE.baton-status`, replaced atomically after every change; the client reads it and
// prints text or JSON. Everything here is pure: machine state in, snapshot out; snapshot to
// text and back; snapshot to what an operator reads.
//
// Times in the snapshot are CLOCK_MONOTONIC nanoseconds (std::chrono::steady_clock), the
// machine's own clock: one clock for the whole host, never stepped by NTP or an operator,
// so the reader computes every age and the uptime from its own `now`. Only the start is
// also recorded on CLOCK_REALTIME, to print as a date.
//
// The file holds no argv and no environment (they may carry secrets), only what is listed
// below; it is written 0644 like the pid file.

#include "machine.hpp"
#include "restart_record.hpp"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::starter {

/// The snapshot format's version: a reader ignores unknown keys and refuses a newer major.
inline constexpr unsigned status_format_major = 1;

/// baton's own version (the project's, not the Server::Starter one `--version` prints).
std::string_view baton_version() noexcept;

/// The snapshot's path for `pid_file`.
std::string status_snapshot_path(const std::string& pid_file);

/// What start_server knows about itself besides the machine (set up once; the upgrade
/// counters are kept by the upgrade code).
struct starter_facts {
    pid_t pid = 0;
    std::string version{baton_version()};
    std::int64_t started_ns = 0;   ///< CLOCK_MONOTONIC, when start_server started
    std::int64_t started_unix = 0; ///< CLOCK_REALTIME seconds, the same moment
    unsigned long upgrades_done = 0;
    unsigned long upgrades_failed = 0;
    /// The last upgrade's result: empty (none yet), `done`, or `failed: WHY` (WHY as logged
    /// after `upgrade failed: `); what `--upgrade` reports.
    std::string last_upgrade;
    std::string listeners; ///< SERVER_STARTER_PORT, as workers get it

    friend bool operator==(const starter_facts&, const starter_facts&) = default;
};

enum class worker_role { starting, ready, retiring };

struct status_worker {
    worker_role role = worker_role::starting;
    pid_t pid = 0;
    unsigned long generation = 0;
    std::optional<std::int64_t> spawned_ns; ///< unknown for one this snapshot never saw start
    std::optional<std::int64_t> ready_ns;   ///< when it became the serving generation
    bool is_signalled = false;              ///< retiring: its signal was sent

    friend bool operator==(const status_worker&, const status_worker&) = default;
};

/// The latest restart's outcome.
struct last_restart {
    enum class outcome { none, in_progress, ready, failed };
    outcome what = outcome::none;
    unsigned long generation = 0;
    pid_t pid = 0;
    std::string why; ///< failed: the reason

    friend bool operator==(const last_restart&, const last_restart&) = default;
};

/// One snapshot: everything `--show-status` prints.
struct status_snapshot {
    starter_facts starter;
    std::string phase;            ///< starting, restarting, running, draining, stopping, stopped
    unsigned long generation = 0; ///< the last generation attempted
    std::vector<status_worker> workers; ///< starting, then ready, then retiring by pid
    unsigned long hups = 0;             ///< HUPs received
    bool is_hup_pending = false;        ///< a HUP came during a start: another restart follows
    last_restart restart;
    unsigned failures = 0;                     ///< failed starts in a row
    std::optional<std::int64_t> next_spawn_ns; ///< backoff: the next attempt (failures > 0)

    friend bool operator==(const status_snapshot&, const status_snapshot&) = default;
};

/** The snapshot of `m` at `now`. `previous` (the last snapshot, or null) carries what the
    machine does not keep: when each worker was spawned and became ready, once it is retired. */
status_snapshot make_snapshot(const starter_facts& facts, const machine_state& m,
                              const status_snapshot* previous, clock::time_point now);

/// The snapshot file's text: `baton-status 1.0`, `key value...` lines, `end`.
std::string write_snapshot(const status_snapshot& s);

/// Parse a snapshot file; nullopt with `error` (one line) when it is not one, is truncated,
/// or is of a newer major version.
std::optional<status_snapshot> read_snapshot(std::string_view text, std::string& error);

/// For people: aligned `label: value` lines, ages relative to `now` (CLOCK_MONOTONIC ns).
std::string format_status_text(const status_snapshot& s, std::int64_t now_ns);

/// For programs: one JSON object (schema in docs/start_server.md), ages relative to `now_ns`.
std::string format_status_json(const status_snapshot& s, std::int64_t now_ns);

/// `s` as a JSON string literal, quotes included (control bytes as \u00XX, other bytes as is).
std::string json_string(std::string_view s);

} // namespace baton::starter
