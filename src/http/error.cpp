// SPDX-License-Identifier: MIT
#include <baton/http/error.hpp>

#include <string>

namespace baton::http {
namespace {

// boost::system::error_category has a protected non-virtual destructor by design.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

class category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "baton.http"; }

    std::string message(int ev) const override
    {
        switch (static_cast<errc>(ev)) {
        case errc::shutdown_timeout:
            return "shutdown deadline passed with connections still open (call close())";
        case errc::bad_request:
            return "malformed HTTP request (answered 400)";
        case errc::bad_framing:
            return "ambiguous request framing: Transfer-Encoding/Content-Length/Host rules of "
                   "RFC 9112 (answered 400)";
        case errc::header_timeout:
            return "request header not received within header_timeout (answered 408)";
        case errc::body_timeout:
            return "request body not received within body_timeout (answered 408)";
        case errc::body_too_large:
            return "request body larger than max_body_bytes (answered 413)";
        case errc::header_too_large:
            return "request header, trailers or chunk extensions larger than max_header_bytes "
                   "(answered 431)";
        case errc::unsupported_transfer_coding:
            return "transfer coding other than chunked (answered 501)";
        case errc::unsupported_version:
            return "HTTP version other than 1.0 and 1.1 (answered 505)";
        case errc::too_many_connections:
            return "max_connections reached (answered 503)";
        case errc::handler_exception:
            return "handler threw an exception (answered 500)";
        case errc::write_timeout:
            return "client did not read the response within write_timeout";
        case errc::unsupported_listener:
            return "socket is not a listening TCP (IPv4/IPv6) or unix stream socket";
        case errc::not_started:
            return "server has no listener or was not started";
        case errc::handshake_timeout:
            return "client did not finish its TLS handshake within handshake_timeout";
        }
        return "unknown baton.http error " + std::to_string(ev);
    }
};

#pragma GCC diagnostic pop

} // namespace

const boost::system::error_category& category() noexcept
{
    static const category_impl instance;
    return instance;
}

boost::system::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), category()};
}

} // namespace baton::http
