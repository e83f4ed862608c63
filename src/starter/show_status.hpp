#pragma once
// SPDX-License-Identifier: MIT

// `--show-status [--json]`: read the running start_server's status snapshot (beside its pid
// file, status_report.hpp) and print it for people or for programs.

#include "options.hpp"

namespace baton::starter {

/// `--show-status` only: start_server is running but its snapshot is missing, unreadable,
/// malformed or another process's (exit_client, 3, is for "not running").
inline constexpr int exit_no_status = 4;

/** Print the status of the start_server whose pid file `opts.pid_file` names. exit_ok when
    printed; exit_client (one line) when none runs: no pid in the file, the pid is dead, or
    nobody holds the file's lock; exit_no_status (one line) when its snapshot cannot be used. */
int run_show_status(const options& opts);

/** `--upgrade`: send SIGUSR2 to the running start_server and wait (bounded: the preflight's
    timeout and 10 s more) until its snapshot counts one more upgrade done (exit_ok, a line
    saying so) or failed (exit_client, `upgrade failed: WHY`); exit_client too when it is
    not running, exits meanwhile, or gives no status. */
int run_upgrade(const options& opts);

} // namespace baton::starter
