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
#include <boost/asio/steady_timer.hpp>
#include <boost/system/system_error.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace baton::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;
using error_code = boost::system::error_code;

namespace {

/// One event loop: a thread, its io_context, its connections; the first one also holds the
/// process's copy of each listener and accepts for all of them.
struct loop {
    detail::registry conns; // declared first: destroyed after the io_context's handlers
    /// One thread runs it, and every socket and timer of this loop is used on that thread
    /// only (other threads post to it): the reactor's per-descriptor locks are not needed.
    asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    std::list<tcp::acceptor> acceptors;
    std::list<unix_stream::acceptor> unix_acceptors;

    /// Close the listeners this loop holds (close(2), never shutdown(2)).
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
void refuse(int fd) noexcept
{
    static constexpr std::string_view response = "HTTP/1.1 503 Service Unavailable\r\n"
                                                 "Content-Length: 0\r\nConnection: close\r\n\r\n";
    // tiny: fits the socket buffer or fails; the descriptor is non-blocking
    (void)::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    // The request already here (always, with defer_accept) is read and dropped, bounded:
    // unread bytes would turn close() into a reset that can destroy the 503 at the client.
    char sink[4096];
    for (int i = 0; i < 16 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
    }
    ::close(fd);
}

void report_out_of_memory(const detail::server_state& st, std::string_view what = "accept") noexcept
{
    st.report(boost::system::errc::make_error_code(boost::system::errc::not_enough_memory), what);
}

/** An accepted descriptor on its way to the loop that serves it: its connection slot is
    claimed; if no connection takes it (the loop was stopped first), it is closed and the
    slot given back. */
class handover {
public:
    handover(detail::server_state& st, int fd) noexcept
        : st_(&st)
        , fd_(fd)
    {}

    handover(handover&& o) noexcept
        : st_(o.st_)
        , fd_(std::exchange(o.fd_, -1))
    {}

    handover& operator=(handover&&) = delete;

    ~handover()
    {
        if (fd_ >= 0) {
            ::close(fd_);
            st_->release_connection();
        }
    }

    /// Serve it on the calling loop `l` (which must be the one running).
    template <class Protocol>
    void start(loop& l, const Protocol& protocol) noexcept
    {
        using socket_type = typename Protocol::socket;
        socket_type sock(l.ioc);
        error_code ec;
        sock.assign(protocol, fd_, ec);
        if (ec)
            return; // the destructor closes it and gives the slot back
        fd_ = -1;   // the socket owns it now
        using conn = detail::connection<socket_type>;
        std::shared_ptr<conn> c;
        try {
            c = std::make_shared<conn>(*st_, std::move(sock), &l.conns);
        } catch (const std::bad_alloc&) {
            st_->release_connection(); // no connection took the slot; the socket closes
            report_out_of_memory(*st_);
            return;
        }
        try {
            conn::start(std::move(c));
        } catch (const std::bad_alloc&) {
            report_out_of_memory(*st_); // the connection is gone and gave its slot back
        }
    }

private:
    detail::server_state* st_;
    int fd_;
};

/// The loops of a process, taken in turn by the one that accepts.
struct loop_ring {
    std::vector<loop*> loops;
    std::size_t next = 0;

    loop& take() noexcept
    {
        auto& l = *loops[next];
        next = (next + 1) % loops.size();
        return l;
    }
};

/// Accepts taken in one go before the accepting loop serves its own connections again.
constexpr int accept_batch = 64;

enum class accepted { all, batch, back_off };

/** Accept what the kernel queued on `a` (accept4: non-blocking, close-on-exec), at most
    accept_batch, and hand each descriptor to the next loop in turn (`home` is the calling
    loop). `all`: the queue is empty (or an error left it for the next wake-up), `batch`: more
    may be queued, `back_off`: out of descriptors or memory. */
template <class Acceptor, class Protocol>
accepted accept_queued(detail::server_state& st, loop& home, loop_ring& ring, Acceptor& a,
                       const Protocol& protocol) noexcept
{
    for (int taken = 0; taken < accept_batch; ++taken) {
        if (!a.is_open())
            return accepted::all;
        int fd = ::accept4(a.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            const int e = errno;
            if (e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return accepted::all;
            error_code ec(e, boost::system::system_category());
            st.report(ec, "accept");
            // anything else: the next wait reports what is still queued (asio re-arms it)
            return is_resource_error(ec) ? accepted::back_off : accepted::all;
        }
        if constexpr (std::is_same_v<typename Protocol::socket, tcp::socket>) {
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (!st.claim_connection()) {
            st.counters.connections_rejected.fetch_add(1, std::memory_order_relaxed);
            st.report(errc::too_many_connections, "accept");
            refuse(fd);
            continue;
        }
        handover h(st, fd);
        loop& target = ring.take();
        if (&target == &home) {
            h.start(target, protocol);
            continue;
        }
        try {
            asio::post(target.ioc, [&target, protocol, h = std::move(h)]() mutable {
                h.start(target, protocol);
            });
        } catch (const std::bad_alloc&) {
            report_out_of_memory(st); // the handover closes the descriptor, frees the slot
        }
    }
    return accepted::batch;
}

/** The accept loop of one listener, on the first loop only: one process wakes one thread
    per new connection (a listener in every loop's epoll set woke them all, and all but one
    found nothing: a herd that doubled while two generations overlapped). It waits until the
    listener is readable, then accepts in batches (accept_queued), letting the loop's own
    connections run between batches. Ends when the listener is closed; an exception (out of
    memory) is reported and the loop goes on after a pause, so the process never silently
    stops accepting on a listener it still holds. */
template <class Acceptor, class Protocol>
asio::awaitable<void> accept_loop(detail::server_state& st, loop& home, loop_ring& ring,
                                  Acceptor& a, Protocol protocol)
{
    for (;;) {
        bool is_pausing = false;
        try {
            auto [wait_ec] = co_await a.async_wait(Acceptor::wait_read, tuple_awaitable);
            if (!a.is_open() || wait_ec == asio::error::operation_aborted)
                co_return;
            if (wait_ec) {
                st.report(wait_ec, "accept");
                is_pausing = true;
            }
            for (auto r = accepted::batch; !is_pausing && r == accepted::batch;) {
                r = accept_queued(st, home, ring, a, protocol);
                if (r == accepted::batch)
                    co_await asio::post(a.get_executor(), asio::use_awaitable);
                is_pausing = r == accepted::back_off;
            }
        } catch (const boost::system::system_error& e) {
            st.report(e.code(), "accept");
            is_pausing = true;
        } catch (const std::exception& e) {
            report_out_of_memory(st, e.what());
            is_pausing = true;
        }
        if (is_pausing && a.is_open()) { // back off instead of spinning
            asio::steady_timer t(a.get_executor(), std::chrono::milliseconds(50));
            co_await t.async_wait(tuple_awaitable);
        }
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
    loop_ring ring; // used by the first loop only, once started
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
    if (ec)
        return;
    const auto& st = *impl_->state;
    if (st.opts.defer_accept && (l.family == AF_INET || l.family == AF_INET6)) {
        auto s = std::chrono::ceil<std::chrono::seconds>(st.opts.header_timeout).count();
        int secs = static_cast<int>(std::clamp<std::chrono::seconds::rep>(s, 1, 3600));
        // an optimisation only: a listener that refuses it is reported and served as it is
        if (::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs) != 0)
            st.report(error_code(errno, boost::system::system_category()),
                      "setting TCP_DEFER_ACCEPT on a listener");
    }
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
    error_code add_ec;
    add_listener(fd, add_ec);
    if (add_ec) {
        ::close(fd); // ours: add_listener leaves it to the caller on error
        throw boost::system::system_error(add_ec, "baton::http::server::listen");
    }
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
        impl_->ring.loops.push_back(&l);
    }
    // The first loop accepts on every listener (this process's only copy of each, closed,
    // never shut down, when shutdown begins) and spreads the connections over all loops.
    auto& first = impl_->loops.front();
    for (const auto& lf : impl_->listeners) {
        error_code ec;
        if (lf.family == AF_UNIX) {
            auto& a = first.unix_acceptors.emplace_back(first.ioc);
            a.assign(unix_stream(), lf.fd, ec);
            if (!ec)
                asio::co_spawn(first.ioc, accept_loop(st, first, impl_->ring, a, unix_stream()),
                               asio::detached);
            else
                first.unix_acceptors.pop_back();
        } else {
            const auto protocol = lf.family == AF_INET ? tcp::v4() : tcp::v6();
            auto& a = first.acceptors.emplace_back(first.ioc);
            a.assign(protocol, lf.fd, ec);
            if (!ec)
                asio::co_spawn(first.ioc, accept_loop(st, first, impl_->ring, a, protocol),
                               asio::detached);
            else
                first.acceptors.pop_back();
        }
        if (ec)
            ::close(lf.fd);
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
    // Each loop stops on its own (a stuck loop does not hold the others). A connection the
    // first loop accepted just before and handed to a loop that stopped first is never
    // served: its descriptor is closed when the server is destroyed.
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
    return impl_->state->stats();
}

} // namespace baton::http
