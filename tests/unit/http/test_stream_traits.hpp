#pragma once
// SPDX-License-Identifier: MIT

// stream_traits for beast::test::stream, so the connection runs without sockets.

#include "http/connection.hpp"

#include <boost/beast/_experimental/test/stream.hpp>

#include <string_view>

namespace baton::http::detail {

template <>
struct stream_traits<boost::beast::test::stream> {
    using stream = boost::beast::test::stream;

    // A test stream cannot cancel one operation: closing is the only way to abort a read.
    static void cancel(stream& s) noexcept { s.close(); }

    static void shutdown_send(stream& s) noexcept { s.close(); }

    static void close(stream& s) noexcept { s.close(); }

    static std::size_t available(stream& s) noexcept { return s.buffer().size(); }

    /// Never writes now: every response takes the asynchronous path, which the tests drive
    /// (fail_count, read limits).
    static std::size_t try_write(stream&, std::string_view, boost::system::error_code& ec,
                                 bool = false) noexcept
    {
        ec = {};
        return 0;
    }

    static constexpr bool lingers = false;
};

} // namespace baton::http::detail
