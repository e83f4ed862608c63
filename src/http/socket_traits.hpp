#pragma once
// SPDX-License-Identifier: MIT

// stream_traits for a TCP or unix stream socket (the one under a TLS stream): cancel,
// shutdown(SHUT_WR), close, FIONREAD, a write that does not wait (private).

#include "connection.hpp"

#include <boost/asio/basic_stream_socket.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <string_view>

namespace baton::http::detail {

/** Write what the send buffer of `fd` takes now, without waiting: MSG_DONTWAIT on the call
    itself, so no fcntl is spent per connection. Returns the bytes written; `ec` is set only for
    a real error (a full buffer or a signal is 0 bytes and no error: write asynchronously).
    `is_more`: the write side is shut down right after (MSG_MORE: the kernel holds the last
    segment and the shutdown or close sends it with the FIN on it, one segment instead of two). */
inline std::size_t send_now(int fd, std::string_view data, boost::system::error_code& ec,
                            bool is_more) noexcept
{
    ec = {};
    int flags = MSG_DONTWAIT | MSG_NOSIGNAL | (is_more ? MSG_MORE : 0);
    ssize_t n = ::send(fd, data.data(), data.size(), flags);
    if (n >= 0)
        return static_cast<std::size_t>(n);
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        ec.assign(errno, boost::system::system_category());
    return 0;
}

template <class Protocol, class Executor>
struct stream_traits<boost::asio::basic_stream_socket<Protocol, Executor>> {
    using socket = boost::asio::basic_stream_socket<Protocol, Executor>;

    static void cancel(socket& s) noexcept
    {
        boost::system::error_code ignored;
        s.cancel(ignored);
    }

    static void shutdown_send(socket& s) noexcept
    {
        boost::system::error_code ignored;
        s.shutdown(socket::shutdown_send, ignored);
    }

    static void close(socket& s) noexcept
    {
        boost::system::error_code ignored;
        s.close(ignored);
    }

    static std::size_t available(socket& s) noexcept
    {
        boost::system::error_code ec;
        auto n = s.available(ec);
        return ec ? 0 : n;
    }

    /// send_now() on the descriptor: the socket stays in blocking mode for the application.
    static std::size_t try_write(socket& s, std::string_view data, boost::system::error_code& ec,
                                 bool is_more = false) noexcept
    {
        return send_now(s.native_handle(), data, ec, is_more);
    }

    static constexpr bool lingers = true;
};

} // namespace baton::http::detail
