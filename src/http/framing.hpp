#pragma once
// SPDX-License-Identifier: MIT

// Request framing rules that baton enforces on top of Beast's parser (RFC 9112 §5, §6, §7).

#include <baton/http/error.hpp>

#include <boost/beast/http/message.hpp>

#include <string_view>

namespace baton::http::detail {

/** Check the framing fields of a parsed request header: Transfer-Encoding (final coding
    chunked, chunked once, none other: 501; not on HTTP/1.0; not with Content-Length),
    Content-Length (exactly one, non-empty, digits only), and exactly one Host on HTTP/1.1.
    Returns errc::bad_framing, errc::unsupported_transfer_coding or no error. */
boost::system::error_code validate_framing(const boost::beast::http::request_header<>& h);

/// True when `start_line` (up to its LF) ends in a well-formed `HTTP/d.d` that Beast refused:
/// an unsupported version (505) rather than a malformed request (400).
bool has_unsupported_version(std::string_view start_line) noexcept;

/// Finds obsolete line folding (a header line that starts with SP or HTAB) in raw header
/// bytes that arrive in pieces.
class fold_scanner {
public:
    /// Feed the next consumed header bytes. `at_fields` is true when `bytes` begin the
    /// field section (the request line is done).
    void feed(std::string_view bytes, bool at_fields) noexcept;

    bool has_fold() const noexcept { return has_fold_; }

private:
    bool at_line_start_ = false;
    bool has_fold_ = false;
};

} // namespace baton::http::detail
