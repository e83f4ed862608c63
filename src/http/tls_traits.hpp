#pragma once
// SPDX-License-Identifier: MIT

// stream_traits for a TLS stream over a TCP or unix socket (private). The plain socket's
// traits stay as they were: a plain connection never runs any of this.

#include "socket_traits.hpp"
#include "tls.hpp"
#include "tls_stream.hpp"

namespace baton::http::detail {

template <class Protocol, class Executor>
struct stream_traits<tls_stream<boost::asio::basic_stream_socket<Protocol, Executor>>> {
    using raw_socket = boost::asio::basic_stream_socket<Protocol, Executor>;
    using socket = tls_stream<raw_socket>;
    using raw = stream_traits<raw_socket>;

    static void cancel(socket& s) noexcept { raw::cancel(s.next_layer()); }

    /// TCP's FIN, after close_notify (end_session) was sent.
    static void shutdown_send(socket& s) noexcept { raw::shutdown_send(s.next_layer()); }

    static void close(socket& s) noexcept { raw::close(s.next_layer()); }

    /// Decrypted bytes OpenSSL holds, or any record still in the kernel (it may be only an
    /// alert: then the read that follows fails and the connection closes as it would have).
    static std::size_t available(socket& s) noexcept { return s.available(); }

    /// A real SSL_write on the descriptor, without waiting (the record goes to the kernel
    /// as it is made). `is_more` is for plain TCP: a TLS close sends close_notify after it.
    static std::size_t try_write(socket& s, std::string_view data, boost::system::error_code& ec,
                                 bool /*is_more*/ = false) noexcept
    {
        return s.write_now(data, ec);
    }

    static raw_socket& lowest(socket& s) noexcept { return s.next_layer(); }

    static std::chrono::milliseconds handshake_timeout(socket& s) noexcept
    {
        return tls_context::of(s.native_handle()).handshake_timeout();
    }

    static constexpr bool lingers = true;
    static constexpr bool has_session = true;
};

} // namespace baton::http::detail
