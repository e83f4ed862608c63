#pragma once
// SPDX-License-Identifier: MIT

// Response bytes on the wire: status line, fields, chunks, error responses (private).

#include <baton/http/detail/response_state.hpp>
#include <baton/http/error.hpp>
#include <baton/http/options.hpp>

#include <boost/beast/http/status.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace baton::http::detail {

/// False for 1xx, 204 and 304: such responses carry neither a body nor its framing.
bool status_has_body(boost::beast::http::status s) noexcept;

/// The whole seconds of `Keep-Alive: timeout=N` that `o` asks for; 0 for no hint.
std::uint64_t keep_alive_hint_seconds(const options& o) noexcept;

/** Append the status line and fields of `rs`, the framing fields for `mode`
    (`Content-Length: content_length` or `Transfer-Encoding: chunked`), the `Connection`
    field for `keep_alive` and, on a connection kept open, `Keep-Alive: timeout=hint_s`
    (none when `hint_s` is 0), then the empty line. The handler's own
    Connection/Keep-Alive/Content-Length/Transfer-Encoding fields are dropped. */
void append_header(std::string& out, const response_state& rs, body_mode mode, bool keep_alive,
                   std::size_t content_length, std::uint64_t hint_s);

/// Append one chunk (nothing for empty data: an empty chunk would end the body).
void append_chunk(std::string& out, std::string_view data);

/// The last chunk, no trailers.
inline constexpr std::string_view last_chunk = "0\r\n\r\n";

/// A complete error response with `Connection: close` and a one-line text body.
std::string error_response(boost::beast::http::status s, unsigned version);

/// The status that answers a request rejected with `ec` (an errc; 400 for anything else).
boost::beast::http::status status_for(const boost::system::error_code& ec) noexcept;

} // namespace baton::http::detail
