#pragma once
// SPDX-License-Identifier: MIT

// stream_traits for a TCP or unix stream socket: cancel, shutdown(SHUT_WR), close, FIONREAD
// (private).

#include "connection.hpp"

#include <boost/asio/basic_stream_socket.hpp>

namespace baton::http::detail {

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

    static constexpr bool lingers = true;
};

} // namespace baton::http::detail
