#pragma once
// SPDX-License-Identifier: MIT

// Runtime options of baton::http::server: limits, timeouts and callbacks, with safe defaults.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>

namespace baton::http {

/// Limits, timeouts and callbacks. Every limit answers with a status and a graceful close.
struct options {
    /// Event-loop threads; 0 means one per core.
    unsigned threads = 0;
    /// Threads of the pool that runs plain-function (blocking) handlers.
    unsigned worker_threads = 64;

    /// From the first byte of a request (or from accept) to the end of its header; 408 after.
    std::chrono::milliseconds header_timeout{10'000};
    /// From the end of a request's header to the end of its body; 408 after.
    std::chrono::milliseconds body_timeout{30'000};
    /// How long a keep-alive connection may sit idle between requests.
    std::chrono::milliseconds idle_timeout{60'000};
    /** `Keep-Alive: timeout=N` on every response that keeps its connection open, so a
        client that honours it (Firefox does; many clients ignore it, Go's Transport among them)
        retires an idle connection before the server closes it, instead of sending a request
        into a connection that is being closed (the keep-alive race, docs/design.md §3). Unset:
        one second less than `idle_timeout`, in whole seconds, and no hint when that is under
        one second. Zero (or less): no hint. */
    std::optional<std::chrono::seconds> keep_alive_hint;
    /// How long one response write may take (a client that does not read is cut).
    std::chrono::milliseconds write_timeout{30'000};
    /// During shutdown: how long an idle keep-alive connection is kept open for a request
    /// that may already be on its way (served with `Connection: close`).
    std::chrono::milliseconds drain_grace{1'000};
    /// Staged close: after the write side is shut, how long to read and discard.
    std::chrono::milliseconds linger_timeout{500};
    /// Staged close: how many bytes to read and discard at most.
    std::size_t linger_bytes = 1024 * 1024;

    /// Request line + header fields, and separately trailers + chunk extensions; 431 beyond.
    std::size_t max_header_bytes = 16 * 1024;
    /// Request body (after chunked decoding); 413 beyond.
    std::size_t max_body_bytes = 8 * 1024 * 1024;
    /// Open connections; beyond it a new connection gets 503 and a close.
    std::size_t max_connections = 10'000;
    /** Hand a connection to the server only once its first request bytes arrived
        (`TCP_DEFER_ACCEPT` on every TCP listener, `header_timeout` in seconds; nginx's
        `listen ... deferred`): the first read finds the request, one wake-up fewer per
        connection. The kernel rounds the time up to its SYN-ACK retry schedule (1, 3, 7, 15,
        31 s...): with the default 10 s, a client that connects and stays silent is handed
        over after ~15 s, then gets its own `header_timeout` (408). The setting belongs to the
        socket: an inherited listener keeps it for every process that shares it, and a later
        generation without the option does not clear it. A listener that refuses it is
        reported (`on_error`) and served as it is. */
    bool defer_accept = false;
    /** A `Date` field on every response (RFC 9110 §6.6.1: an origin server with a clock
        sends one), formatted at most once a second per event loop; a handler that sets its
        own `Date` keeps it. */
    bool date = true;

    /** Called on the event loop with each request's header, before its body is read (and
        before `100 Continue`): return a status (say 401) to answer at once with
        `Connection: close` and never read the body, or `status::unknown` to go on to the
        handler. Must not block. */
    std::function<boost::beast::http::status(const boost::beast::http::request_header<>& header)>
        admit;

    /// Called (from any thread) for every error the server handles on its own: bad requests,
    /// timeouts, handler exceptions, accept failures. `what` says where.
    std::function<void(const boost::system::error_code& ec, std::string_view what)> on_error;
};

} // namespace baton::http
