#pragma once
// SPDX-License-Identifier: MIT

// What every connection of a server shares: options, handler, drain flag, counters (private).

#include <baton/http/handler.hpp>
#include <baton/http/options.hpp>
#include <baton/http/server.hpp>

#include <boost/asio/thread_pool.hpp>
#include <boost/intrusive/list.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>

namespace baton::http::detail {

/// Blocks every signal in the calling thread while it lives, so the threads started meanwhile
/// (event loops, worker pool) never take a signal: a process-directed SIGTERM must reach the
/// application's sigwait, not kill the process through a worker thread.
class signals_blocked {
public:
    signals_blocked() noexcept;
    ~signals_blocked();
    signals_blocked(const signals_blocked&) = delete;
    signals_blocked& operator=(const signals_blocked&) = delete;

private:
    sigset_t previous_{};
};

/// A connection as its event loop's registry sees it. Called on that loop only. Linked into
/// the registry in place (no allocation per connection).
class conn_base : public boost::intrusive::list_base_hook<> {
public:
    /// Shutdown began (steps 3 and 4): an idle connection gets the drain grace.
    virtual void drain() = 0;
    /// close(): cut the connection now.
    virtual void force_close() = 0;

protected:
    ~conn_base() = default;
};

/// The connections of one event loop; touched on that loop's thread only.
using registry = boost::intrusive::list<conn_base, boost::intrusive::constant_time_size<false>>;

/// The counters of server_stats, by the same names, as relaxed atomics.
struct atomic_counters {
    std::atomic<std::uint64_t> requests_served{0};
    std::atomic<std::uint64_t> connections_closed_by_drain{0};
    std::atomic<std::uint64_t> requests_served_in_grace{0};
    std::atomic<std::uint64_t> connections_force_closed{0};
    std::atomic<std::uint64_t> connections_rejected{0};
    std::atomic<std::uint64_t> requests_rejected{0};
    std::atomic<std::uint64_t> tls_handshake_failures{0};
    std::atomic<std::uint64_t> handshake_timeouts{0};
    std::atomic<std::size_t> idle_connections_parked{0}; ///< a gauge, not a count
};

/// The state shared by a server's loops, connections and shutdown().
class server_state {
public:
    server_state(options opts, handlers h);
    ~server_state();

    server_state(const server_state&) = delete;
    server_state& operator=(const server_state&) = delete;

    const options opts;
    /// `Keep-Alive: timeout=N` on responses that keep the connection (0: none).
    const std::uint64_t keep_alive_hint_s;
    const handler coroutine_handler;
    const blocking_handler plain_handler;
    atomic_counters counters;

    /// The worker pool of plain-function handlers (null with a coroutine handler).
    boost::asio::thread_pool* pool() noexcept { return pool_.get(); }

    /// Wait for the pool's running handlers (before the loops are destroyed).
    void join_pool() noexcept;

    /// Mark the server draining; false if it already was.
    bool begin_drain() noexcept;

    bool is_draining() const noexcept { return draining_.load(std::memory_order_acquire); }

    /// server::leave_pool(): responses close their connections, accepting goes on.
    void leave_pool() noexcept { leaving_.store(true, std::memory_order_release); }

    /// Left the pool or draining: what server::is_draining() and every response's
    /// keep-alive decision read.
    bool is_leaving() const noexcept
    {
        return leaving_.load(std::memory_order_acquire) || is_draining();
    }

    /// When draining began (meaningful once is_draining()).
    std::chrono::steady_clock::time_point drain_start() const noexcept;

    /// Count a new connection; false (and nothing counted) at max_connections.
    bool claim_connection() noexcept;

    /// A connection is gone; wakes wait_idle() on the last one.
    void release_connection() noexcept;

    std::size_t live_connections() const noexcept { return live_.load(); }

    /// Block until no connection is left (true) or until `deadline` (false).
    bool wait_idle(std::chrono::steady_clock::time_point deadline);

    /// A snapshot of the counters and of the live connections.
    server_stats stats() const noexcept;

    /// Report an error through options::on_error; never throws.
    void report(const boost::system::error_code& ec, std::string_view what) const noexcept;

private:
    std::unique_ptr<boost::asio::thread_pool> pool_;
    std::atomic<bool> draining_{false};
    std::atomic<bool> leaving_{false};
    std::atomic<std::chrono::steady_clock::rep> drain_start_{0};
    std::atomic<std::size_t> live_{0};
    std::mutex m_;
    std::condition_variable idle_cv_;
};

} // namespace baton::http::detail
