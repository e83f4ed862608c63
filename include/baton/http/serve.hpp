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
    /// The deadline given to shutdown() once a signal arrived.
    std::chrono::milliseconds drain_timeout{30'000};
    /// Called once the server accepts; empty: READY=1 through baton::notify (a no-op
    /// without NOTIFY_SOCKET).
    std::function<void()> on_ready;
    /// Called when the signal arrived, before the drain; empty: STOPPING=1.
    std::function<void()> on_stopping;
};

/** Start `s`, report readiness, wait for SIGTERM or SIGINT, then `shutdown(drain_timeout)`,
    `close()` if that timed out, and join. A second signal during the drain is not a force.
    Call it before any other thread exists, or with SIGTERM and SIGINT blocked in all of
    them: it blocks both in the calling thread (the server's threads inherit that) and
    takes them with sigwait. Returns shutdown()'s result (errc::shutdown_timeout or none).
    @throws boost::system::system_error when the server cannot start */
boost::system::error_code serve_until_signal(server& s, const serve_options& opts = {});

} // namespace baton::http
