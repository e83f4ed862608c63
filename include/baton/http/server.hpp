#pragma once
// SPDX-License-Identifier: MIT

// baton::http::server: an HTTP/1.1 server on Asio + Beast whose shutdown loses no request.

#include <baton/http/error.hpp>
#include <baton/http/handler.hpp>
#include <baton/http/options.hpp>
#include <baton/http/tls.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::http {

/// Counters an operator or a test can read; each a snapshot of a monotonic count.
struct server_stats {
    std::uint64_t requests_served = 0;             ///< responses written in full
    std::uint64_t connections_closed_by_drain = 0; ///< idle connections closed after the grace
    std::uint64_t requests_served_in_grace = 0;    ///< requests that arrived while draining
    std::uint64_t connections_force_closed = 0;    ///< cut by close() after shutdown began
    std::uint64_t connections_rejected = 0;        ///< refused with 503 at max_connections
    std::uint64_t requests_rejected = 0;           ///< bad input answered 4xx/5xx and closed
    std::uint64_t tls_handshake_failures = 0;      ///< TLS handshakes that failed (not timed out)
    std::uint64_t handshake_timeouts = 0;          ///< TLS handshakes cut at handshake_timeout
    std::size_t open_connections = 0;
    /// Of those, the idle keep-alive connections parked between requests: no buffer, no
    /// coroutine, no timer of their own (nginx's stub_status calls them "Waiting").
    std::size_t idle_connections_parked = 0;
};

/** An HTTP/1.0 and HTTP/1.1 server on one or more event-loop threads.

    Life cycle: construct, add listeners, `start()` (or `run()`), then `shutdown(deadline)`
    from any thread (the drain of docs/design.md §3), then `close()` if it timed out; `join()`
    returns once the loops are done. The destructor closes and joins. */
class server {
public:
    /** A server whose requests go to `h`: a coroutine handler (returning
        `boost::asio::awaitable<void>`) runs on the event loops; a plain function runs on the
        worker pool of `options::worker_threads`. */
    template <request_handler Handler>
    server(options opts, Handler&& h)
        : server(std::move(opts), detail::make_handlers(std::forward<Handler>(h)))
    {}

    /// ditto, already sorted.
    server(options opts, detail::handlers h);

    ~server();

    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /** Serve the listening stream socket `fd` (TCP over IPv4 or IPv6, or unix), e.g. one
        inherited through baton::listener, which also checks what it is (probe_socket).
        The server owns `fd` from now on and only ever close()s it, never
        shutdown(2): the socket may be shared with the next generation. On error `fd` stays
        the caller's. Before start().
        @throws boost::system::system_error (errc::unsupported_listener) */
    void add_listener(int fd);

    /// ditto, without exceptions.
    void add_listener(int fd, boost::system::error_code& ec) noexcept;

    /** ditto, serving HTTPS on it (tls.hpp): the certificate, key and ticket keys are read
        now. TLS is set per listener so that one server can serve both HTTP and HTTPS.
        @throws std::runtime_error (a file, the key) or boost::system::system_error */
    void add_listener(int fd, const tls_config& tls);

    /** Bind and listen on `host` (a numeric IPv4/IPv6 address) and `port` (0: the kernel
        picks one; see local_ports()), through baton::listener::bind_address (an IPv6
        socket is IPV6_V6ONLY). Before start().
        @throws boost::system::system_error */
    void listen(std::string_view host, std::uint16_t port);

    /// ditto, serving HTTPS (add_listener(fd, tls)).
    void listen(std::string_view host, std::uint16_t port, const tls_config& tls);

    /** Serve the sockets a starter handed down (SERVER_STARTER_PORT or systemd's LISTEN_FDS,
        through baton::listener), or bind `fallback` (`PORT`, `HOST:PORT`, `[V6]:PORT`) when
        run without one. Before start(). @throws std::system_error */
    void listen_or_inherit(std::string_view fallback);

    /// ditto, serving HTTPS on every one of them (add_listener(fd, tls)).
    void listen_or_inherit(std::string_view fallback, const tls_config& tls);

    /// The local ports of the listeners, in the order they were added (0 for unix sockets).
    std::vector<std::uint16_t> local_ports() const;

    /// Add a callback that shutdown() runs once, in the thread that first calls it.
    void on_shutdown(std::function<void()> cb);

    /// Start the event-loop threads (they, and the worker pool's, block every signal: signals
    /// are the application's); returns at once. @throws boost::system::system_error
    void start();

    /// Wait for the event-loop threads: after a completed shutdown() or after close().
    void join();

    /// start() then join(): returns normally after shutdown (not an error).
    void run();

    /** Graceful shutdown, docs/design.md §3 steps 1-5: stop accepting at once, run the
        on_shutdown callbacks, let requests in flight finish with `Connection: close`, serve
        what arrives on idle connections within `drain_grace`, close every connection in
        stages. Returns as soon as the last connection is gone, or errc::shutdown_timeout at
        `deadline` (then call close()). Thread-safe and idempotent; must not be called from a
        handler (it blocks). */
    boost::system::error_code shutdown(std::chrono::steady_clock::time_point deadline);

    /// ditto, with a deadline `timeout` from now.
    boost::system::error_code shutdown(std::chrono::steady_clock::duration timeout)
    {
        return shutdown(std::chrono::steady_clock::now() + timeout);
    }

    /// Cut every connection and stop the event loops now. Thread-safe and idempotent.
    void close() noexcept;

    /** Leave the load balancer's pool, serving on: from now on every response carries
        `Connection: close` (pooled clients move to other hosts), is_draining() is true and
        the readiness probe (readiness.hpp) answers 503, while the listeners keep accepting
        until shutdown(). serve_until_signal does this for serve_options::drain_delay.
        Thread-safe and idempotent. */
    void leave_pool() noexcept;

    /// True from leave_pool() or the start of shutdown(). Thread-safe.
    bool is_draining() const noexcept;

    server_stats stats() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace baton::http
