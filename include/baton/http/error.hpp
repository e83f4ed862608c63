#pragma once
// SPDX-License-Identifier: MIT

// The errors of baton::http, as a boost::system::error_code enum (Asio completes with it).

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace baton::http {

/// Errors of this module; each message says what happened and to whom.
enum class errc {
    shutdown_timeout = 1,        ///< shutdown()'s deadline passed with connections still open
    bad_request,                 ///< 400: a request that is not valid HTTP/1.x
    bad_framing,                 ///< 400: ambiguous message framing (RFC 9112 §6: TE/CL rules)
    header_timeout,              ///< 408: the request header did not arrive in time
    body_timeout,                ///< 408: the request body did not arrive in time
    body_too_large,              ///< 413: the body exceeds max_body_bytes
    header_too_large,            ///< 431: header, trailers or chunk extensions exceed the limit
    unsupported_transfer_coding, ///< 501: a transfer coding other than chunked
    unsupported_version,         ///< 505: neither HTTP/1.0 nor HTTP/1.1
    too_many_connections,        ///< 503: max_connections reached; the connection was refused
    handler_exception,           ///< 500: the handler threw; the connection was closed
    write_timeout,               ///< the client did not read the response in time
    unsupported_listener,        ///< not a listening TCP (IPv4, IPv6) or unix stream socket
    not_started,                 ///< the server has no listener or was not started
    handshake_timeout,           ///< a TLS client did not finish its handshake in time
};

/// The error category of `errc` (name "baton.http").
const boost::system::error_category& category() noexcept;

/// Makes `errc` usable as a `boost::system::error_code`.
boost::system::error_code make_error_code(errc e) noexcept;

} // namespace baton::http

template <>
struct boost::system::is_error_code_enum<baton::http::errc> : std::true_type {};
