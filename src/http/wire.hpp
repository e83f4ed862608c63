#pragma once
// SPDX-License-Identifier: MIT

// Response bytes on the wire: status line, fields, chunks, error responses (private).

#include <baton/http/detail/response_state.hpp>
#include <baton/http/error.hpp>
#include <baton/http/options.hpp>

#include <boost/beast/http/status.hpp>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace baton::http::detail {

/// False for 1xx, 204 and 304: such responses carry neither a body nor its framing.
bool status_has_body(boost::beast::http::status s) noexcept;

/// The whole seconds of `Keep-Alive: timeout=N` that `o` asks for; 0 for no hint.
std::uint64_t keep_alive_hint_seconds(const options& o) noexcept;

/// `t` as an IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`, in English
/// whatever the locale.
std::string imf_fixdate(std::time_t t);

/// `Date: <now>\r\n`, formatted again only when the second changed (per thread, so each
/// event loop keeps its own copy and no lock is taken).
std::string_view date_field();

/** Append the status line and fields of `rs`, a `Date` field when `with_date` and `rs` has
    none, the framing fields for `mode` (`Content-Length: content_length` or
    `Transfer-Encoding: chunked`), the `Connection` field for `keep_alive` and, on a
    connection kept open, `Keep-Alive: timeout=hint_s` (none when `hint_s` is 0), then the
    empty line. The handler's own Connection/Keep-Alive/Content-Length/Transfer-Encoding
    fields are dropped. */
void append_header(std::string& out, const response_state& rs, body_mode mode, bool keep_alive,
                   std::size_t content_length, std::uint64_t hint_s, bool with_date);

/// Append one chunk (nothing for empty data: an empty chunk would end the body).
void append_chunk(std::string& out, std::string_view data);

/// The last chunk, no trailers.
inline constexpr std::string_view last_chunk = "0\r\n\r\n";

/// A complete error response with `Connection: close`, a one-line text body and, when
/// `with_date`, a `Date` field.
std::string error_response(boost::beast::http::status s, unsigned version, bool with_date);

/// The status that answers a request rejected with `ec` (an errc; 400 for anything else).
boost::beast::http::status status_for(const boost::system::error_code& ec) noexcept;

} // namespace baton::http::detail
