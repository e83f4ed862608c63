// SPDX-License-Identifier: MIT
#include "server_state.hpp"

#include "wire.hpp"

#include <pthread.h>

#include <algorithm>
#include <utility>

namespace baton::http::detail {

signals_blocked::signals_blocked() noexcept
{
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous_);
}

signals_blocked::~signals_blocked()
{
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

server_state::server_state(options o, handlers h)
    : opts(std::move(o))
    , keep_alive_hint_s(keep_alive_hint_seconds(opts))
    , coroutine_handler(std::move(h.coroutine))
    , plain_handler(std::move(h.plain))
{
    if (!coroutine_handler) {
        signals_blocked blocked;
        pool_ = std::make_unique<boost::asio::thread_pool>(std::max(1U, opts.worker_threads));
    }
}

server_state::~server_state()
{
    join_pool();
}

void server_state::join_pool() noexcept
{
    if (pool_)
        pool_->join();
}

bool server_state::begin_drain() noexcept
{
    std::lock_guard lock(m_);
    if (draining_.load())
        return false;
    drain_start_.store(std::chrono::steady_clock::now().time_since_epoch().count());
    draining_.store(true, std::memory_order_release);
    return true;
}

std::chrono::steady_clock::time_point server_state::drain_start() const noexcept
{
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(drain_start_.load()));
}

bool server_state::claim_connection() noexcept
{
    if (live_.fetch_add(1) >= opts.max_connections) {
        release_connection();
        return false;
    }
    return true;
}

void server_state::release_connection() noexcept
{
    if (live_.fetch_sub(1) == 1) {
        std::lock_guard lock(m_);
        idle_cv_.notify_all();
    }
}

bool server_state::wait_idle(std::chrono::steady_clock::time_point deadline)
{
    std::unique_lock lock(m_);
    return idle_cv_.wait_until(lock, deadline, [this] { return live_.load() == 0; });
}

server_stats server_state::stats() const noexcept
{
    const auto get = [](const std::atomic<std::uint64_t>& c) {
        return c.load(std::memory_order_relaxed);
    };
    server_stats s;
    s.requests_served = get(counters.requests_served);
    s.connections_closed_by_drain = get(counters.connections_closed_by_drain);
    s.requests_served_in_grace = get(counters.requests_served_in_grace);
    s.connections_force_closed = get(counters.connections_force_closed);
    s.connections_rejected = get(counters.connections_rejected);
    s.requests_rejected = get(counters.requests_rejected);
    s.tls_handshake_failures = get(counters.tls_handshake_failures);
    s.handshake_timeouts = get(counters.handshake_timeouts);
    s.open_connections = live_connections();
    s.idle_connections_parked = counters.idle_connections_parked.load(std::memory_order_relaxed);
    return s;
}

void server_state::report(const boost::system::error_code& ec, std::string_view what) const noexcept
{
    if (!opts.on_error)
        return;
    try {
        opts.on_error(ec, what);
    } catch (...) {
        // a logging callback that throws must not take a connection down
    }
}

} // namespace baton::http::detail
