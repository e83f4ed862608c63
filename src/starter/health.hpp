#pragma once
// SPDX-License-Identifier: MIT

// start_server's health endpoint (`--health=[HOST:]PORT`, docs/design.md §2): a plain HTTP/1.x
// responder for load balancers, run inside the supervisor's poll(2) loop (no thread, no
// Boost). `/readyz` reports the health_state the supervisor sets; `/livez` answers while the
// loop runs. Every response closes its connection (shutdown(SHUT_WR), then close once the
// client's bytes are read, so the close is a FIN and not a reset).
//
// Wiring into a poll loop:
//   ep.add_pollfds(fds);                  // appends its entries; remember where they start
//   poll(fds, timeout up to ep.next_deadline());
//   ep.on_poll(&fds[start], count, now);  // the entries add_pollfds appended, unchanged
//   ep.on_tick(now);                      // closes connections past their deadline
//
// Bounds: at most `max_connections` open at once (beyond that new connections wait in the
// listen backlog, SOMAXCONN, until one closes), a request head of at most `max_head` bytes
// (else 431) that must be complete within `head_timeout` of the accept, and `deadline` from
// accept after which a connection is closed whatever its state; at most `max_accepts_per_poll`
// accepts per loop round, so a connection flood cannot hold the supervisor's loop either. No call
// blocks: sockets are non-blocking and sends use MSG_NOSIGNAL.

#include "common/unique_fd.hpp"

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::starter {

/// A parsed `--health` value.
struct health_spec {
    std::string host;       ///< empty: all IPv4 interfaces (0.0.0.0); `[V6]` brackets removed
    std::uint16_t port = 0; ///< 0 asks the kernel for one (tests)
};

/** Parse `PORT`, `HOST:PORT` or `[V6ADDR]:PORT`; nullopt with `error` set to one line
    (`invalid ``health'' value:TEXT`) when it is none of those or the port is not 0..65535. */
std::optional<health_spec> parse_health_spec(std::string_view text, std::string& error);

/// What `/readyz` reports: the supervisor's view of its workers.
enum class health_phase {
    starting,  ///< no generation has been ready yet: 503 `starting`
    ready,     ///< generation `generation` serves: 200 `ready generation N`
    stopping,  ///< a stop has begun (from its first moment): 503 `stopping`
    no_worker, ///< no worker is alive: 503 `no worker`
};

struct health_state {
    health_phase phase = health_phase::starting;
    std::uint64_t generation = 0; ///< meaningful for `ready` only
};

/// The status line code and one-line body of a `/readyz` answer in `state`.
struct health_answer {
    int status = 0;
    std::string body; ///< ends with `\n`
};

health_answer readyz_answer(const health_state& state);

class health_endpoint {
public:
    using clock = std::chrono::steady_clock;

    struct limits {
        std::size_t max_connections = 256;
        std::size_t max_head = 4096;
        /// The whole request head must arrive within this of the accept (a balancer sends
        /// its check in one segment), so silent clients free their slot fast: filling every
        /// slot for longer takes max_connections / head_timeout new connections a second.
        clock::duration head_timeout = std::chrono::milliseconds(500);
        clock::duration deadline = std::chrono::seconds(2);
        clock::duration accept_pause = std::chrono::milliseconds(100);
    };

    /** Listen on `spec`: a host with `:` is IPv6, any other is resolved as IPv4, as `--port`
        does (so `localhost` is 127.0.0.1). (SO_REUSEADDR, IPV6_V6ONLY for IPv6, non-blocking,
       close-on-exec so no worker inherits it). nullopt with `error` set to one line when it cannot.
     */
    static std::optional<health_endpoint> open(const health_spec& spec, std::string& error,
                                               limits lim);

    static std::optional<health_endpoint> open(const health_spec& spec, std::string& error)
    {
        return open(spec, error, limits{});
    }

    /// Take over a listening socket the image this one replaced opened (an in-place upgrade).
    static health_endpoint adopt(detail::unique_fd listen);

    health_endpoint(health_endpoint&&) noexcept;
    health_endpoint& operator=(health_endpoint&&) noexcept;
    ~health_endpoint();

    /// The readiness later `/readyz` requests report (a request answered already keeps its).
    void set_state(const health_state& state) noexcept { state_ = state; }

    [[nodiscard]] const health_state& state() const noexcept { return state_; }

    /** Append one entry per open connection, then the listening socket's unless the
        connection limit is reached or accepting is paused (accept4 failed for want of a
        descriptor or memory: paused for `accept_pause`, so the loop does not spin). */
    void add_pollfds(std::vector<pollfd>& fds) const;

    /** Handle the entries add_pollfds appended (`fds[0..n)`, in its order, after poll(2) filled
        their revents): read, answer, accept. Entries that no longer match are ignored. */
    void on_poll(const pollfd* fds, std::size_t n, clock::time_point now);

    /// The earliest connection deadline or end of a pause; nullopt when there is neither.
    [[nodiscard]] std::optional<clock::time_point> next_deadline() const;

    /// Close every connection whose deadline is at or before `now`; end a pause that is over.
    void on_tick(clock::time_point now);

    [[nodiscard]] int listen_fd() const noexcept { return listen_.get(); }

    [[nodiscard]] std::uint16_t local_port() const noexcept { return port_; }

    [[nodiscard]] std::size_t connection_count() const noexcept { return conns_.size(); }

private:
    struct connection;

    health_endpoint(detail::unique_fd listen, std::uint16_t port, limits lim);
    static health_endpoint adopt(detail::unique_fd listen, limits lim);
    void accept_ready(clock::time_point now);
    void step(connection& c);

    detail::unique_fd listen_;
    std::uint16_t port_ = 0;
    limits limits_;
    health_state state_;
    std::vector<std::unique_ptr<connection>> conns_;
    std::optional<clock::time_point> accept_paused_until_;
};

} // namespace baton::starter
