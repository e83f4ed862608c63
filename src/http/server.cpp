// SPDX-License-Identifier: MIT
#include "connection.hpp"
#include "server_state.hpp"
#include "socket_traits.hpp"

#include <baton/http/server.hpp>
#include <baton/listener.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

namespace baton::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;
using error_code = boost::system::error_code;

namespace {

/// One event loop: a thread, its io_context, its copies of the listeners, its connections.
struct loop {
    detail::registry conns; // declared first: destroyed after the io_context's handlers
    /// One thread runs it, and every socket and timer of this loop is used on that thread
    /// only (other threads post to it): the reactor's per-descriptor locks are not needed.
    asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    std::list<tcp::acceptor> acceptors;
    std::list<unix_stream::acceptor> unix_acceptors;

    /// Close this loop's copies of the listeners (close(2), never shutdown(2)).
    void close_acceptors() noexcept
    {
        error_code ignored;
        for (auto& a : acceptors)
            a.close(ignored);
        for (auto& a : unix_acceptors)
            a.close(ignored);
    }

    std::thread thread;
};

struct listener_fd {
    int fd = -1;
    int family = AF_INET;
    std::uint16_t port = 0;
};

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

bool is_resource_error(const error_code& ec) noexcept
{
    return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
           ec == asio::error::no_memory || ec.value() == ENFILE;
}

/// Beyond max_connections: a 503 and a close, so descriptors are never exhausted.
template <class Socket>
asio::awaitable<void> refuse(Socket sock)
{
    static constexpr std::string_view response = "HTTP/1.1 503 Service Unavailable\r\n"
                                                 "Content-Length: 0\r\nConnection: close\r\n\r\n";
    error_code ec;
    sock.non_blocking(true, ec);
    if (!ec)
        asio::write(sock, asio::buffer(response), ec); // tiny: fits the socket buffer or fails
    sock.shutdown(Socket::shutdown_send, ec);
    sock.close(ec);
    co_return;
}

template <class Acceptor>
asio::awaitable<void> accept_loop(detail::server_state& st, loop& l, Acceptor& a)
{
    for (;;) {
        auto [ec, sock] = co_await a.async_accept(tuple_awaitable);
        if (ec) {
            if (!a.is_open() || ec == asio::error::operation_aborted)
                co_return;
            st.report(ec, "accept");
            if (is_resource_error(ec)) {
                // out of descriptors or memory: back off instead of spinning
                asio::steady_timer t(a.get_executor(), std::chrono::milliseconds(50));
                co_await t.async_wait(tuple_awaitable);
            }
            continue;
        }
        using socket_type = typename Acceptor::protocol_type::socket;
        if constexpr (std::is_same_v<socket_type, tcp::socket>) {
            error_code ignored;
            sock.set_option(tcp::no_delay(true), ignored);
        }
        if (!st.claim_connection()) {
            st.counters.rejected.fetch_add(1, std::memory_order_relaxed);
            st.report(errc::too_many_connections, "accept");
            asio::co_spawn(a.get_executor(), refuse(std::move(sock)), asio::detached);
            continue;
        }
        using conn = detail::connection<socket_type>;
        conn::start(std::make_shared<conn>(st, std::move(sock), &l.conns));
    }
}

listener_fd probe_listener(int fd, error_code& ec) noexcept
{
    listener_fd out;
    out.fd = fd;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int type = 0;
    socklen_t type_len = sizeof type;
    int listening = 0;
    socklen_t listening_len = sizeof listening;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 ||
        ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 ||
        ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &listening_len) != 0 ||
        type != SOCK_STREAM || listening == 0) {
        ec = errc::unsupported_listener;
        return out;
    }
    out.family = ss.ss_family;
    if (ss.ss_family == AF_INET) {
        out.port = ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        out.port = ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    } else if (ss.ss_family != AF_UNIX) {
        ec = errc::unsupported_listener;
    }
    return out;
}

} // namespace

struct server::impl {
    std::unique_ptr<detail::server_state> state; // outlives the loops
    std::vector<listener_fd> listeners;
    std::vector<std::function<void()>> on_shutdown;
    std::list<loop> loops;
    std::mutex m;
    std::mutex join_m;
    bool is_started = false;
    bool is_released = false;

    ~impl()
    {
        for (auto& l : listeners)
            if (l.fd >= 0 && !is_started)
                ::close(l.fd); // never handed to an acceptor
    }

    /// Let the loops return once their work is done.
    void release_loops()
    {
        std::lock_guard lock(m);
        if (is_released)
            return;
        is_released = true;
        for (auto& l : loops)
            asio::post(l.ioc, [&l] { l.guard.reset(); });
    }

    /// Run `fn` on every loop and wait until each ran it (or until `deadline`).
    template <class Fn>
    void on_every_loop(Fn fn, std::chrono::steady_clock::time_point deadline)
    {
        auto pending = std::make_shared<std::size_t>(loops.size());
        auto shared_m = std::make_shared<std::mutex>();
        auto shared_cv = std::make_shared<std::condition_variable>();
        for (auto& l : loops) {
            asio::post(l.ioc, [&l, fn, pending, shared_m, shared_cv] {
                fn(l);
                std::lock_guard lock(*shared_m);
                if (--*pending == 0)
                    shared_cv->notify_all();
            });
        }
        std::unique_lock lock(*shared_m);
        shared_cv->wait_until(lock, deadline, [&] { return *pending == 0; });
    }
};

server::server(options opts, detail::handlers h)
    : impl_(std::make_unique<impl>())
{
    impl_->state = std::make_unique<detail::server_state>(std::move(opts), std::move(h));
}

server::~server()
{
    close();
    join();
    impl_->state->join_pool();
    impl_->loops.clear(); // destroys suspended connections while the state still exists
}

void server::add_listener(int fd, error_code& ec) noexcept
{
    ec = {};
    std::lock_guard lock(impl_->m);
    if (impl_->is_started) {
        ec = errc::not_started;
        return;
    }
    auto l = probe_listener(fd, ec);
    if (!ec)
        impl_->listeners.push_back(l);
}

void server::add_listener(int fd)
{
    error_code ec;
    add_listener(fd, ec);
    if (ec)
        throw boost::system::system_error(ec, "baton::http::server::add_listener");
}

void server::listen(std::string_view host, std::uint16_t port)
{
    error_code ec;
    auto address = asio::ip::make_address(std::string(host), ec);
    if (ec)
        throw boost::system::system_error(ec, "baton::http::server::listen: " + std::string(host));
    tcp::endpoint ep(address, port);
    int fd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw boost::system::system_error(error_code(errno, boost::system::system_category()),
                                          "socket");
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0 ||
        ::listen(fd, SOMAXCONN) != 0) {
        error_code err(errno, boost::system::system_category());
        ::close(fd);
        throw boost::system::system_error(err, "baton::http::server::listen: bind/listen " +
                                                   std::string(host) + ":" + std::to_string(port));
    }
    add_listener(fd);
}

void server::listen_or_inherit(std::string_view fallback)
{
    auto sockets = baton::listener::listen_or_inherit(fallback);
    for (const auto& sock : sockets.sockets)
        add_listener(sock.fd);
}

std::vector<std::uint16_t> server::local_ports() const
{
    std::vector<std::uint16_t> out;
    for (const auto& l : impl_->listeners)
        out.push_back(l.port);
    return out;
}

void server::on_shutdown(std::function<void()> cb)
{
    std::lock_guard lock(impl_->m);
    impl_->on_shutdown.push_back(std::move(cb));
}

void server::start()
{
    std::lock_guard lock(impl_->m);
    if (impl_->is_started)
        return;
    if (impl_->listeners.empty())
        throw boost::system::system_error(errc::not_started,
                                          "baton::http::server::start: no listener");
    auto& st = *impl_->state;
    unsigned n = st.opts.threads != 0 ? st.opts.threads : std::thread::hardware_concurrency();
    n = std::max(1U, n);
    for (unsigned i = 0; i < n; ++i) {
        auto& l = impl_->loops.emplace_back();
        l.guard.emplace(l.ioc.get_executor());
        for (const auto& lf : impl_->listeners) {
            // loop 0 takes the descriptor itself, the others a copy of it; all of them are
            // this process's copies, closed (never shut down) when shutdown begins
            int fd = i == 0 ? lf.fd : ::fcntl(lf.fd, F_DUPFD_CLOEXEC, 0);
            if (fd < 0)
                continue;
            error_code ec;
            if (lf.family == AF_UNIX) {
                auto& a = l.unix_acceptors.emplace_back(l.ioc);
                a.assign(unix_stream(), fd, ec);
                if (!ec)
                    asio::co_spawn(l.ioc, accept_loop(st, l, a), asio::detached);
                else
                    l.unix_acceptors.pop_back();
            } else {
                auto& a = l.acceptors.emplace_back(l.ioc);
                a.assign(lf.family == AF_INET ? tcp::v4() : tcp::v6(), fd, ec);
                if (!ec)
                    asio::co_spawn(l.ioc, accept_loop(st, l, a), asio::detached);
                else
                    l.acceptors.pop_back();
            }
            if (ec)
                ::close(fd);
        }
    }
    impl_->is_started = true;
    detail::signals_blocked blocked; // the loops never take a signal: it is the application's
    for (auto& l : impl_->loops)
        l.thread = std::thread([&l] { l.ioc.run(); });
}

void server::join()
{
    // Not under impl_->m: shutdown() and close() must stay callable while a thread joins.
    std::lock_guard lock(impl_->join_m);
    {
        std::lock_guard started(impl_->m);
        if (!impl_->is_started)
            return;
    }
    for (auto& l : impl_->loops)
        if (l.thread.joinable())
            l.thread.join();
}

void server::run()
{
    start();
    join();
}

error_code server::shutdown(std::chrono::steady_clock::time_point deadline)
{
    auto& st = *impl_->state;
    {
        std::lock_guard lock(impl_->m);
        if (!impl_->is_started)
            return errc::not_started;
    }
    if (st.begin_drain()) {
        // 1. Stop accepting at once: close this process's copies of the listeners. What the
        //    kernel queued stays queued for the next generation (the socket is shared).
        impl_->on_every_loop([](loop& l) { l.close_acceptors(); }, deadline);
        // 2. The on_shutdown callbacks, once.
        std::vector<std::function<void()>> callbacks;
        {
            std::lock_guard lock(impl_->m);
            callbacks.swap(impl_->on_shutdown);
        }
        for (auto& cb : callbacks) {
            try {
                cb();
            } catch (const std::exception& e) {
                st.report(errc::handler_exception, e.what());
            } catch (...) {
                st.report(errc::handler_exception, "on_shutdown callback threw");
            }
        }
        // 3, 4. Requests in flight finish with Connection: close; idle connections get the
        //    drain grace (they check for queued bytes before they close).
        for (auto& l : impl_->loops) {
            asio::post(l.ioc, [&l] {
                for (auto* c : l.conns)
                    c->drain();
            });
        }
    }
    // 5. Event-driven: the last connection to go wakes us; or the deadline.
    if (!st.wait_idle(deadline))
        return errc::shutdown_timeout;
    impl_->release_loops();
    return {};
}

void server::close() noexcept
{
    std::lock_guard lock(impl_->m);
    for (auto& l : impl_->loops) {
        asio::post(l.ioc, [&l] {
            l.close_acceptors();
            for (auto* c : l.conns)
                c->force_close();
            l.guard.reset();
            l.ioc.stop();
        });
    }
}

server_stats server::stats() const noexcept
{
    const auto& c = impl_->state->counters;
    server_stats s;
    s.requests_served = c.requests_served.load(std::memory_order_relaxed);
    s.connections_closed_by_drain = c.closed_by_drain.load(std::memory_order_relaxed);
    s.requests_served_in_grace = c.served_in_grace.load(std::memory_order_relaxed);
    s.connections_force_closed = c.force_closed.load(std::memory_order_relaxed);
    s.connections_rejected = c.rejected.load(std::memory_order_relaxed);
    s.requests_rejected = c.bad_requests.load(std::memory_order_relaxed);
    s.open_connections = impl_->state->live_connections();
    return s;
}

} // namespace baton::http
