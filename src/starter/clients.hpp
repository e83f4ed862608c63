#pragma once
// SPDX-License-Identifier: MIT

// The client modes: `--restart` and `--stop` talk to a running start_server through its
// pid file (whose lock says whether it is alive: pid-reuse safe) and status file.

#include "options.hpp"

#include <chrono>

namespace baton::starter {

/** `--stop`: TERM to the start_server holding the pid file's lock, then wait until it
    releases the lock (it has exited). Bounded: `--shutdown-timeout` + 30 s, else 120 s. */
int run_stop(const options& opts);

/** `--restart`: HUP, then wait until an attempt spawned after that HUP is ready and no
    older generation is left in the status file. Never hangs on a failed attempt (Server::
    Starter waits for exactly max+1): the restart record (restart_record.hpp) keeps every
    failure, so one is reported however fast the worker died; otherwise bounded by
    `restart_timeout(opts)`. Non-zero with the reason. */
int run_restart(const options& opts);

/// How long `--restart` waits: --interval + --ready-timeout (10 s if unset) +
/// --shutdown-timeout + --kill-old-delay + 3 s, all as given to the client.
std::chrono::milliseconds restart_timeout(const options& opts);

} // namespace baton::starter
