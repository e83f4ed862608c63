// SPDX-License-Identifier: MIT
#include "acceptor.hpp"

#include "accepted_socket.hpp"
#include "connection.hpp"
#include "socket_traits.hpp"
#include "tls_traits.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

namespace baton::http::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using unix_stream = asio::local::stream_protocol;
using error_code = boost::system::error_code;

void event_loop::close_acceptors() noexcept
{
    error_code ignored;
    for (auto& a : acceptors)
        a.close(ignored);
}

namespace {

constexpr auto tuple_op = asio::as_tuple(asio::deferred); // awaited in place (connection.hpp)

// The connections this file makes await their operations in place (connection.hpp).
static_assert(std::is_same_v<
              std::remove_const_t<decltype(connection<accepted_socket<asio::ip::tcp>>::tuple_op)>,
              asio::as_tuple_t<asio::deferred_t>>);
static_assert(
    std::is_same_v<
        std::remove_const_t<decltype(connection<tls_stream<asio::ip::tcp::socket>>::tuple_op)>,
        asio::as_tuple_t<asio::deferred_t>>);

bool is_resource_error(const error_code& ec) noexcept
{
    return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
           ec == asio::error::no_memory || ec.value() == ENFILE;
}

/// Beyond max_connections: a 503 and a close, so descriptors are never exhausted.
void refuse(unique_fd fd) noexcept
{
    static constexpr std::string_view response = "HTTP/1.1 503 Service Unavailable\r\n"
                                                 "Content-Length: 0\r\nConnection: close\r\n\r\n";
    // tiny: fits the socket buffer or fails; the descriptor is non-blocking
    (void)::send(fd.get(), response.data(), response.size(), MSG_NOSIGNAL);
    ::shutdown(fd.get(), SHUT_WR);
    // The request already here (always, with defer_accept) is read and dropped, bounded:
    // unread bytes would turn close() into a reset that can destroy the 503 at the client.
    char sink[4096];
    for (int i = 0; i < 16 && ::recv(fd.get(), sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
    }
}

void report_out_of_memory(const server_state& st, std::string_view what = "accept") noexcept
{
    st.report(boost::system::errc::make_error_code(boost::system::errc::not_enough_memory), what);
}

/** An accepted descriptor on its way to the loop that serves it: its connection slot is
    claimed; if no connection takes it (the loop was stopped first), it is closed and the
    slot given back. */
class handover {
public:
    handover(server_state& st, unique_fd fd, int family, tls_context* tls) noexcept
        : st_(&st)
        , fd_(std::move(fd))
        , family_(family)
        , tls_(tls)
    {}

    handover(handover&& o) noexcept = default;
    handover& operator=(handover&&) = delete;

    ~handover()
    {
        if (fd_.is_open()) {
            fd_.reset();
            st_->release_connection();
        }
    }

    /// Serve it on the calling loop `l` (which must be the one running).
    void start(event_loop& l) noexcept
    {
        if (family_ == AF_UNIX)
            serve(l, unix_stream());
        else
            serve(l, family_ == AF_INET ? tcp::v4() : tcp::v6());
    }

private:
    template <class Protocol>
    void serve(event_loop& l, const Protocol& protocol) noexcept
    {
        using socket_type = typename Protocol::socket;
        if (tls_ == nullptr) { // joins the reactor when it first waits (accepted_socket)
            make_and_start<accepted_socket<Protocol>>(l, l.ioc.get_executor(), protocol,
                                                      std::move(fd_));
            return;
        }
        socket_type sock(l.ioc);
        error_code ec;
        sock.assign(protocol, fd_.get(), ec);
        if (ec)
            return;          // the destructor closes it and gives the slot back
        (void)fd_.release(); // the socket owns it now
        adopted<socket_type>::mark_accepted(sock);
        make_and_start<tls_stream<socket_type>>(l, std::move(sock), tls_->ssl().native_handle());
    }

    /// A connection over `Stream`, made of `args`, started on the loop `l`.
    template <class Stream, class... Args>
    void make_and_start(event_loop& l, Args&&... args) noexcept
    {
        using conn = connection<Stream>;
        std::shared_ptr<conn> c;
        try {
            c = std::make_shared<conn>(*st_, Stream(std::forward<Args>(args)...), &l.conns, &l.lot);
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

    server_state* st_;
    unique_fd fd_;
    int family_;
    tls_context* tls_; ///< null: plain; else the listener's (the server keeps it alive)
};

/// How the connections of one listener are made.
struct listener_kind {
    int family;
    tls_context* tls;  ///< null: plain; else the listener's (the server keeps it alive)
    bool sets_nodelay; ///< TCP_NODELAY per accepted socket: the listener's is not inherited
};

/// Accepts taken in one go before the accepting loop serves its own connections again.
constexpr int accept_batch = 64;

enum class accepted { all, batch, back_off };

/// The loop that serves the next connection, and that connection handed to it.
void hand_over(server_state& st, event_loop& home, loop_ring& ring, handover h) noexcept
{
    event_loop& target = ring.take();
    if (&target == &home) {
        h.start(target);
        return;
    }
    try {
        asio::post(target.ioc, [&target, h = std::move(h)]() mutable { h.start(target); });
    } catch (const std::bad_alloc&) {
        report_out_of_memory(st); // the handover closes the descriptor, frees the slot
    }
}

/** Accept what the kernel queued on `a` (accept4: non-blocking, close-on-exec), at most
    accept_batch, and give each descriptor to the loop the ring chooses (`home` is the
    calling loop). `all`: the queue is empty (or an error left it for the next wake-up),
    `batch`: more may be queued, `back_off`: out of descriptors or memory. */
accepted accept_queued(server_state& st, event_loop& home, loop_ring& ring, acceptor& a,
                       const listener_kind& kind) noexcept
{
    for (int taken = 0; taken < accept_batch; ++taken) {
        if (!a.is_open())
            return accepted::all;
        unique_fd fd(::accept4(a.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.is_open()) {
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
        if (kind.sets_nodelay) {
            int one = 1;
            ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        if (!st.claim_connection()) {
            st.counters.connections_rejected.fetch_add(1, std::memory_order_relaxed);
            st.report(errc::too_many_connections, "accept");
            refuse(std::move(fd));
            continue;
        }
        hand_over(st, home, ring, handover(st, std::move(fd), kind.family, kind.tls));
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
asio::awaitable<void> accept_loop(server_state& st, event_loop& home, loop_ring& ring, acceptor& a,
                                  listener_kind kind)
{
    for (;;) {
        bool is_pausing = false;
        try {
            auto [wait_ec] = co_await a.async_wait(acceptor::wait_read, tuple_op);
            if (!a.is_open() || wait_ec == asio::error::operation_aborted)
                co_return;
            if (wait_ec) {
                st.report(wait_ec, "accept");
                is_pausing = true;
            }
            for (auto r = accepted::batch; !is_pausing && r == accepted::batch;) {
                r = accept_queued(st, home, ring, a, kind);
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
            co_await t.async_wait(tuple_op);
        }
    }
}

} // namespace

void start_accepting(server_state& st, event_loop& home, loop_ring& ring, listener_socket& l)
{
    const int protocol = l.family == AF_UNIX ? 0 : IPPROTO_TCP;
    auto& a = home.acceptors.emplace_back(home.ioc);
    error_code ec;
    a.assign(asio::generic::stream_protocol(l.family, protocol), l.fd.get(), ec);
    if (ec) {
        home.acceptors.pop_back();
        l.fd.reset(); // refused: nobody else will close it
        return;
    }
    (void)l.fd.release(); // the acceptor owns it now
    const listener_kind kind{l.family, l.tls.get(), l.family != AF_UNIX && !l.is_nodelay_inherited};
    asio::co_spawn(home.ioc, accept_loop(st, home, ring, a, kind), asio::detached);
}

} // namespace baton::http::detail
