#pragma once
// SPDX-License-Identifier: MIT

// The stream of a plain connection: a descriptor accept4 made, which joins the loop's epoll set
// only when it first has to wait; and its stream_traits (private).

#include "common/unique_fd.hpp"
#include "connection.hpp"
#include "socket_traits.hpp"

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <string_view>
#include <utility>

namespace baton::http::detail {

/** What assign() does not know of a descriptor accept4 just made: nobody else holds it, and
    it is non-blocking already. asio must assume that an adopted descriptor may be a dup: it
    marks it `possible_dup` (close() then takes it out of epoll with an EPOLL_CTL_DEL of its
    own, where close(2) alone does it for a descriptor held once) and does not trust its mode
    (the first wait spends an ioctl(FIONBIO)). The state set here is the one asio's own accept
    gives the sockets it accepts. Reached through the pointer-to-member of a derived type, as
    asio keeps the socket's state protected. */
template <class Socket>
struct adopted : Socket {
    static void mark_accepted(Socket& s) noexcept
    {
        namespace ops = boost::asio::detail::socket_ops;
        auto& state = (s.*(&adopted::impl_)).get_implementation().state_;
        state =
            static_cast<ops::state_type>((state & ~ops::possible_dup) | ops::internal_non_blocking);
    }
};

/** A connected stream socket accept4 made (non-blocking, close-on-exec, held once), that
    registers with its loop's reactor on its first asynchronous operation only (its asio socket
    is made then). Until then the connection reads, writes and closes the descriptor itself
    (try_read, try_write, close): with TCP_DEFER_ACCEPT a connection comes with its request,
    and when its response goes out at once it is served without ever joining the epoll set
    (no EPOLL_CTL_ADD, no reactor state, no operation queued to read what is already there).
    An AsyncReadStream and AsyncWriteStream. */
template <class Protocol>
class accepted_socket {
public:
    using socket_type = boost::asio::basic_stream_socket<Protocol>;
    using executor_type = typename socket_type::executor_type;

    accepted_socket(const boost::asio::io_context::executor_type& ex, const Protocol& protocol,
                    baton::detail::unique_fd fd) noexcept
        : ex_(ex)
        , protocol_(protocol)
        , fd_(std::move(fd))
    {}

    executor_type get_executor() const noexcept { return ex_; }

    /// The descriptor, registered or not; -1 once closed.
    int native_handle() noexcept
    {
        return sock_ != nullptr && sock_->is_open() ? sock_->native_handle() : fd_.get();
    }

    template <class Buffers, class Token>
    auto async_read_some(const Buffers& buffers, Token&& token)
    {
        return registered().async_read_some(buffers, std::forward<Token>(token));
    }

    template <class Buffers, class Token>
    auto async_write_some(const Buffers& buffers, Token&& token)
    {
        return registered().async_write_some(buffers, std::forward<Token>(token));
    }

    /// Abort the pending operations (only a registered socket has any).
    void cancel() noexcept
    {
        boost::system::error_code ignored;
        if (sock_ != nullptr && sock_->is_open())
            sock_->cancel(ignored);
    }

    void close() noexcept
    {
        boost::system::error_code ignored;
        if (sock_ != nullptr && sock_->is_open())
            sock_->close(ignored); // the reactor's state goes with it; close(2) does the rest
        fd_.reset();
    }

private:
    /// The socket, joined to the reactor with the state asio's own accept gives a socket (made
    /// on the heap the first time: a connection that never waits, or waits in its loop's
    /// idle_lot, has none). If the reactor refuses the descriptor (out of memory), the socket
    /// stays unopened, the operation that follows fails with bad_descriptor, and the
    /// descriptor is still closed by close(). Throws bad_alloc.
    socket_type& registered()
    {
        if (sock_ == nullptr)
            sock_ = std::make_unique<socket_type>(ex_);
        if (!fd_.is_open() || sock_->is_open())
            return *sock_;
        boost::system::error_code ec;
        sock_->assign(protocol_, fd_.get(), ec);
        if (ec)
            return *sock_;
        (void)fd_.release(); // the socket owns it now
        adopted<socket_type>::mark_accepted(*sock_);
        return *sock_;
    }

    boost::asio::io_context::executor_type ex_;
    Protocol protocol_;
    baton::detail::unique_fd fd_;       ///< until it is registered, the descriptor (closed with it)
    std::unique_ptr<socket_type> sock_; ///< made by the first asynchronous operation
};

template <class Protocol>
struct stream_traits<accepted_socket<Protocol>> {
    using socket = accepted_socket<Protocol>;

    static void cancel(socket& s) noexcept { s.cancel(); }

    static void shutdown_send(socket& s) noexcept { ::shutdown(s.native_handle(), SHUT_WR); }

    static void close(socket& s) noexcept { s.close(); }

    static std::size_t available(socket& s) noexcept
    {
        int n = 0;
        return ::ioctl(s.native_handle(), FIONREAD, &n) == 0 && n > 0 ? static_cast<std::size_t>(n)
                                                                      : 0;
    }

    /// What is readable now, without waiting: 0 and no error to go asynchronous; the end of
    /// the stream is `eof`, as from async_read_some.
    static std::size_t try_read(socket& s, boost::asio::mutable_buffer b,
                                boost::system::error_code& ec) noexcept
    {
        ec = {};
        ssize_t n = ::recv(s.native_handle(), b.data(), b.size(), MSG_DONTWAIT);
        if (n > 0)
            return static_cast<std::size_t>(n);
        if (n == 0)
            ec = boost::asio::error::eof;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            ec.assign(errno, boost::system::system_category());
        return 0;
    }

    /// As for a socket (socket_traits.hpp): send(MSG_DONTWAIT) on the descriptor.
    static std::size_t try_write(socket& s, std::string_view data, boost::system::error_code& ec,
                                 bool is_more = false) noexcept
    {
        return send_now(s.native_handle(), data, ec, is_more);
    }

    static constexpr bool lingers = true;
};

} // namespace baton::http::detail
