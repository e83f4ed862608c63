#pragma once
// SPDX-License-Identifier: MIT

// start_server's run mode: set up (bind, log file, daemonize, pid file), then one poll(2)
// loop over a signalfd, the notify socket and the machine's next deadline, until every
// worker is gone after a stop signal.

#include "options.hpp"
#include "state_record.hpp"
#include "upgrade.hpp"

namespace baton::starter {

/// Exit codes (docs/start_server.md, "Exit codes").
enum exit_code : int {
    exit_ok = 0,     ///< stopped by a signal after every worker exited; a client succeeded
    exit_usage = 1,  ///< bad option or value (nothing done)
    exit_setup = 2,  ///< could not set up: port in use, pid file locked, ... (nothing spawned)
    exit_client = 3, ///< --restart / --stop did not complete
};

/// Run the superdaemon with `opts` (mode::run), started as `self`; `resumed`: an upgraded
/// image, resuming from the record its predecessor wrote. Returns the process exit code.
int run_supervisor(const options& opts, const invocation& self, const upgrade_state* resumed);

} // namespace baton::starter
