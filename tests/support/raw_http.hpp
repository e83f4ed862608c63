#pragma once
// SPDX-License-Identifier: MIT

// A raw, strict HTTP/1.x client for loopback tests: requests go out byte for byte as the
// test wrote them; responses are read one at a time with a deadline, and how the read ended
// (complete, clean close, truncation, reset, timeout, malformed bytes) is reported as
// distinct outcomes. Bytes past a response stay buffered for the next read, so pipelined
// responses are read in order. The parser rejects what a correct server never sends
// (bare LF, obs-fold, both Content-Length and Transfer-Encoding, ...), so a test that
// passes here is proof about the server's bytes, not about a lenient client.

#include "support/loopback.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace baton::test {

/// How reading ended.
enum class read_outcome {
    complete,  ///< a whole response was read
    closed,    ///< clean EOF before the first byte of a response (nothing was lost)
    truncated, ///< EOF after part of a response
    reset,     ///< the connection was reset (ECONNRESET or another receive error)
    timeout,   ///< the deadline passed first
    malformed, ///< the bytes are not a valid HTTP/1.x response (see `detail`)
};

/// "complete", "closed", ... (also used by GoogleTest to print values).
std::string_view to_string(read_outcome outcome);
std::ostream& operator<<(std::ostream& os, read_outcome outcome);

/// How the body of a response is delimited (RFC 9112 §6.3).
enum class body_framing { none, content_length, chunked, until_close };

struct http_field {
    std::string name;  ///< as sent
    std::string value; ///< without leading and trailing whitespace
};

/// One parsed response.
struct http_response {
    std::string status_line; ///< without CRLF
    int version_minor = 1;   ///< HTTP/1.<version_minor>
    int status = 0;
    std::string reason;
    std::vector<http_field> headers;  ///< in order received
    std::vector<http_field> trailers; ///< chunked responses only
    body_framing framing = body_framing::none;
    std::string body; ///< decoded (chunk framing removed)
    std::string raw;  ///< exactly the bytes of this response (or of the part received)

    /// The first field named `name` (case-insensitive).
    std::optional<std::string> header(std::string_view name) const;

    /// How many fields are named `name`.
    std::size_t header_count(std::string_view name) const;

    /// True when a comma-separated field `name` lists `token` (case-insensitive).
    bool has_token(std::string_view name, std::string_view token) const;

    /// The server will close: `Connection: close`, or HTTP/1.0 without `keep-alive`.
    bool is_connection_close() const;
};

/// Limits and context for reading a response.
struct read_options {
    bool is_head_response = false; ///< the request was HEAD: no body whatever the headers say
    std::size_t max_header_bytes = 64 * 1024;
    std::size_t max_body_bytes = 64 * 1024 * 1024;
};

/// The result of `read_response`.
struct read_result {
    read_outcome outcome = read_outcome::timeout;
    http_response response; ///< complete: everything; otherwise what was parsed (and `raw`)
    std::string detail;     ///< malformed: what and where; reset: the system's reason

    bool is_complete() const noexcept { return outcome == read_outcome::complete; }
};

/// The result of `read_until_eof`: `closed` (clean EOF), `reset` or `timeout`, and the data.
struct eof_result {
    read_outcome outcome = read_outcome::timeout;
    std::string data; ///< every byte received (including bytes buffered before the call)
};

/// Where parsing a buffer stands.
enum class parse_status { need_more, complete, malformed };

/** Parse one response from the start of `data`. `is_eof`: no more bytes will come (this
    completes a close-delimited body). On `complete`, `consumed` is the response's length;
    on `malformed`, `detail` says what is wrong. Exposed for tests of the parser itself. */
parse_status parse_response(std::string_view data, bool is_eof, const read_options& options,
                            http_response& out, std::size_t& consumed, std::string& detail);

/// A connected stream socket spoken to in raw HTTP/1.x.
class raw_connection {
public:
    explicit raw_connection(unique_fd fd) noexcept
        : fd_(std::move(fd))
    {}

    int fd() const noexcept { return fd_.get(); }

    /// Send all of `bytes`, exactly, within `timeout` (MSG_NOSIGNAL: a closed peer is an
    /// error, not a SIGPIPE). Returns broken_pipe / connection_reset / timed_out on failure.
    std::error_code send(std::string_view bytes,
                         std::chrono::milliseconds timeout = default_io_timeout);

    /// Half-close: no more requests (the server sees EOF).
    void shutdown_write() noexcept;

    /// Read one response (a 1xx interim response counts as one) within `timeout`.
    read_result read_response(std::chrono::milliseconds timeout = default_io_timeout,
                              const read_options& options = {});

    /// Read until the peer closes, the connection is reset, or `timeout` passes.
    eof_result read_until_eof(std::chrono::milliseconds timeout = default_io_timeout);

    /// True when reading ends in a reset (not a clean close) within `timeout`.
    bool was_reset(std::chrono::milliseconds timeout = default_io_timeout);

    /// Bytes received but not yet part of a returned response.
    std::string_view pending() const noexcept { return buffer_; }

private:
    /// Receive more bytes until `deadline`: 1 got data, 0 EOF, -1 timeout, -2 error (errno_).
    int receive(std::chrono::steady_clock::time_point deadline);

    unique_fd fd_;
    std::string buffer_;
    bool is_eof_ = false;
    int errno_ = 0;
};

/// `GET <target> HTTP/1.1`, `Host: localhost`, then `extra_headers` (each ending in CRLF),
/// then the empty line.
std::string make_get_request(std::string_view target = "/", std::string_view extra_headers = {});

/// Send `request` on `fd` and read one response: the common one-shot exchange.
read_result exchange(unique_fd fd, std::string_view request,
                     std::chrono::milliseconds timeout = default_io_timeout);

} // namespace baton::test
