// SPDX-License-Identifier: MIT
#include "acceptor.hpp"
#include "common/unique_fd.hpp"
#include "server_state.hpp"
#include "tls.hpp"

#include <baton/http/server.hpp>
#include <baton/listener.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace baton::http {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using detail::event_loop;

namespace {

/// A listener module's error as Asio's kind: errno values keep the system category.
error_code to_boost(const std::error_code& ec) noexcept
{
    if (ec.category() == std::system_category())
        return {ec.value(), boost::system::system_category()};
    if (ec.category() == std::generic_category())
        return {ec.value(), boost::system::generic_category()};
    return ec;
}

/// The listening stream socket `fd` as the server serves it, or unsupported_listener.
detail::listener_socket check_listener(int fd, error_code& ec) noexcept
{
    detail::listener_socket out;
    baton::listener::error err;
    baton::listener::socket_info info;
    try {
        info = baton::listener::probe_socket(fd, err);
    } catch (const std::bad_alloc&) {
        ec = boost::system::errc::make_error_code(boost::system::errc::not_enough_memory);
        return out;
    }
    const bool is_supported_family =
        info.family == AF_INET || info.family == AF_INET6 || info.family == AF_UNIX;
    if (err || info.type != baton::listener::socket_type::stream || !info.is_listening ||
        !is_supported_family) {
        ec = errc::unsupported_listener;
        return out;
    }
    out.family = info.family;
    out.port = info.port;
    return out;
}

/// TCP_DEFER_ACCEPT for header_timeout (whole seconds, 1 s to an hour).
void set_defer_accept(const detail::server_state& st, int fd) noexcept
{
    auto s = std::chrono::ceil<std::chrono::seconds>(st.opts.header_timeout).count();
    int secs = static_cast<int>(std::clamp<std::chrono::seconds::rep>(s, 1, 3600));
    // an optimisation only: a listener that refuses it is reported and served as it is
    if (::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs) != 0)
        st.report(error_code(errno, boost::system::system_category()),
                  "setting TCP_DEFER_ACCEPT on a listener");
}

/// TCP_NODELAY on the listener: Linux copies it to every socket accepted from it, so the
/// acceptor does not set it per connection (one setsockopt fewer each); false if refused.
bool set_nodelay_on_accepted(int fd) noexcept
{
    int one = 1;
    return ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

} // namespace

struct server::impl {
    std::unique_ptr<detail::server_state> state;    // outlives the loops
    std::vector<detail::listener_socket> listeners; // each closed unless start() took it
    std::vector<std::function<void()>> on_shutdown;
    std::list<event_loop> loops;
    detail::loop_ring ring; // used by the first loop only, once started
    std::mutex m;
    std::mutex join_m;
    bool is_started = false;
    bool is_released = false;

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
    auto l = check_listener(fd, ec);
    if (ec)
        return;
    if (impl_->state->opts.defer_accept && l.family != AF_UNIX)
        set_defer_accept(*impl_->state, fd);
    l.is_nodelay_inherited = l.family != AF_UNIX && set_nodelay_on_accepted(fd);
    try {
        impl_->listeners.reserve(impl_->listeners.size() + 1);
    } catch (const std::bad_alloc&) {
        ec = boost::system::errc::make_error_code(boost::system::errc::not_enough_memory);
        return;
    }
    l.fd.reset(fd); // the server's from now on
    impl_->listeners.push_back(std::move(l));
}

void server::add_listener(int fd)
{
    error_code ec;
    add_listener(fd, ec);
    if (ec)
        throw boost::system::system_error(ec, "baton::http::server::add_listener");
}

void server::add_listener(int fd, const tls_config& tls)
{
    auto ctx = std::make_shared<detail::tls_context>(tls); // throws before the fd is taken
    add_listener(fd);
    std::lock_guard lock(impl_->m);
    impl_->listeners.back().tls = std::move(ctx);
}

namespace {

/// A listening socket on `host` (numeric) and `port`. @throws boost::system::system_error
baton::detail::unique_fd bind_listener(std::string_view host, std::uint16_t port)
{
    error_code ec;
    (void)asio::ip::make_address(std::string(host), ec); // numeric only: no name resolved
    if (ec)
        throw boost::system::system_error(ec, "baton::http::server::listen: " + std::string(host));
    const auto key = baton::listener::make_key(host, port);
    baton::listener::error err;
    auto sock = baton::listener::bind_address(key, {.backlog = SOMAXCONN}, err);
    if (err) {
        const auto code = to_boost(err.code);
        throw boost::system::system_error(
            code, "baton::http::server::listen: " +
                      (code.category() == boost::system::system_category() ? "bind/listen " + key
                                                                           : err.message));
    }
    return baton::detail::unique_fd(sock.fd);
}

} // namespace

void server::listen(std::string_view host, std::uint16_t port)
{
    auto fd = bind_listener(host, port); // ours until add_listener takes it
    add_listener(fd.get());
    (void)fd.release();
}

void server::listen(std::string_view host, std::uint16_t port, const tls_config& tls)
{
    auto fd = bind_listener(host, port);
    add_listener(fd.get(), tls);
    (void)fd.release();
}

void server::listen_or_inherit(std::string_view fallback)
{
    auto sockets = baton::listener::listen_or_inherit(fallback);
    for (const auto& sock : sockets.sockets)
        add_listener(sock.fd);
}

void server::listen_or_inherit(std::string_view fallback, const tls_config& tls)
{
    auto sockets = baton::listener::listen_or_inherit(fallback);
    for (const auto& sock : sockets.sockets)
        add_listener(sock.fd, tls);
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
        impl_->ring.loops.push_back(&l);
    }
    // The first loop accepts on every listener (this process's only copy of each, closed,
    // never shut down, when shutdown begins) and spreads the connections over all loops.
    auto& first = impl_->loops.front();
    for (auto& l : impl_->listeners)
        detail::start_accepting(st, first, impl_->ring, l);
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
        impl_->on_every_loop([](event_loop& l) { l.close_acceptors(); }, deadline);
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
                for (auto& c : l.conns)
                    c.drain();
                l.lot.close(detail::wake::drain); // its connections wait by themselves now
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
    // Each loop stops on its own (a stuck loop does not hold the others). A connection the
    // first loop accepted just before and handed to a loop that stopped first is never
    // served: its descriptor is closed when the server is destroyed.
    std::lock_guard lock(impl_->m);
    for (auto& l : impl_->loops) {
        asio::post(l.ioc, [&l] {
            l.close_acceptors();
            for (auto& c : l.conns)
                c.force_close();
            l.lot.close(detail::wake::forced);
            l.guard.reset();
            l.ioc.stop();
        });
    }
}

void server::leave_pool() noexcept
{
    impl_->state->leave_pool();
}

bool server::is_draining() const noexcept
{
    return impl_->state->is_leaving();
}

server_stats server::stats() const noexcept
{
    return impl_->state->stats();
}

} // namespace baton::http
