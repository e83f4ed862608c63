#pragma once
// SPDX-License-Identifier: MIT

// A worker's main loop in one call: serve until SIGTERM/SIGINT, then drain.

#include <baton/http/server.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <functional>

namespace baton::http {

/// What serve_until_signal does around the drain.
struct serve_options {
    /// The deadline given to shutdown() once a signal arrived (after the drain delay).
    std::chrono::milliseconds drain_timeout{30'000};
    /** For a worker that runs without start_server (a container's main process, a systemd
        socket unit) behind a load balancer: on the signal, server::leave_pool() (readiness
        503, responses close their connections) and keep accepting and serving this long
        before shutdown(), so the balancer stops sending first. A second signal ends it.
        Ignored under a starter (SERVER_STARTER_PORT set): there the signal retires an old
        generation whose listener the new one goes on serving, so it stops accepting at once. */
    std::chrono::milliseconds drain_delay{0};
    /// Called once the server accepts; empty: READY=1 through baton::notify (a no-op
    /// without NOTIFY_SOCKET).
    std::function<void()> on_ready;
    /// Called when the signal arrived, before the drain; empty: STOPPING=1.
    std::function<void()> on_stopping;
};

/** Start `s`, report readiness, wait for SIGTERM or SIGINT, then the drain delay (if any),
    `shutdown(drain_timeout)`,
    `close()` if that timed out, and join. A second signal during the drain is not a force.
    Call it before any other thread exists, or with SIGTERM and SIGINT blocked in all of
    them: it blocks both in the calling thread (the server's threads inherit that) and
    takes them with sigwait. Returns shutdown()'s result (errc::shutdown_timeout or none).
    @throws boost::system::system_error when the server cannot start */
boost::system::error_code serve_until_signal(server& s, const serve_options& opts = {});

} // namespace baton::http
