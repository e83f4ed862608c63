// SPDX-License-Identifier: MIT
#include "support/raw_http.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>

namespace baton::test {
namespace {

bool is_tchar(char c)
{
    static constexpr std::string_view specials = "!#$%&'*+-.^_`|~";
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           specials.find(c) != std::string_view::npos;
}

/// field-vchar, SP and HTAB (RFC 9110 §5.5): no CTLs, so no bare CR either.
bool is_field_char(char c)
{
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || u == ' ' || (u >= 0x21 && u != 0x7f);
}

bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

/// Reads CRLF-terminated lines; a bare LF is an error, never a line end.
struct line_reader {
    std::string_view data;
    std::size_t pos = 0;

    enum class result { line, need_more, bare_lf };

    result next(std::string_view& line)
    {
        const std::size_t lf = data.find('\n', pos);
        if (lf == std::string_view::npos)
            return result::need_more;
        if (lf == pos || data[lf - 1] != '\r')
            return result::bare_lf;
        line = data.substr(pos, lf - 1 - pos);
        pos = lf + 1;
        return result::line;
    }
};

std::string where(std::string_view what, std::size_t offset)
{
    return std::string{what} + " at byte " + std::to_string(offset);
}

parse_status malformed(std::string& detail, std::string text)
{
    detail = std::move(text);
    return parse_status::malformed;
}

parse_status parse_status_line(std::string_view line, http_response& out, std::string& detail)
{
    // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ]   (RFC 9112 §4)
    if (line.size() < 13 || !line.starts_with("HTTP/1.") || line[8] != ' ' || line[12] != ' ')
        return malformed(detail, "bad status line \"" + std::string{line} + '"');
    if (line[7] != '0' && line[7] != '1')
        return malformed(detail, "unsupported version in \"" + std::string{line} + '"');
    for (std::size_t i = 9; i < 12; ++i)
        if (line[i] < '0' || line[i] > '9')
            return malformed(detail, "bad status code in \"" + std::string{line} + '"');
    const std::string_view reason = line.substr(13);
    if (!std::all_of(reason.begin(), reason.end(), is_field_char))
        return malformed(detail, "control character in the reason phrase");
    out.status_line = line;
    out.version_minor = line[7] - '0';
    out.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    out.reason = reason;
    return parse_status::complete;
}

/// Field lines up to and including the empty line; into `fields`.
parse_status parse_fields(line_reader& reader, std::size_t limit, std::vector<http_field>& fields,
                          std::string& detail)
{
    const std::size_t start = reader.pos;
    for (int count = 0; count < 100000; ++count) {
        std::string_view line;
        const std::size_t line_start = reader.pos;
        switch (reader.next(line)) {
        case line_reader::result::need_more:
            if (reader.data.size() - start > limit)
                return malformed(detail,
                                 "header section exceeds " + std::to_string(limit) + " bytes");
            return parse_status::need_more;
        case line_reader::result::bare_lf:
            return malformed(detail, where("bare LF (no CR) ending a field line", line_start));
        case line_reader::result::line:
            break;
        }
        if (reader.pos - start > limit)
            return malformed(detail, "header section exceeds " + std::to_string(limit) + " bytes");
        if (line.empty())
            return parse_status::complete;
        if (line.front() == ' ' || line.front() == '\t')
            return malformed(detail, where("obsolete line folding", line_start));
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            return malformed(detail, where("field line without a name and ':'", line_start));
        const std::string_view name = line.substr(0, colon);
        if (!std::all_of(name.begin(), name.end(), is_tchar))
            return malformed(detail,
                             where("invalid field name \"" + std::string{name} + '"', line_start));
        const std::string_view value = line.substr(colon + 1);
        if (!std::all_of(value.begin(), value.end(), is_field_char))
            return malformed(
                detail,
                where("control character in field \"" + std::string{name} + '"', line_start));
        fields.push_back({std::string{name}, std::string{trim(value)}});
    }
    return malformed(detail, "too many field lines");
}

/// RFC 9112 §6.3, strictly: conflicting or invalid framing is malformed.
parse_status choose_framing(const read_options& options, http_response& out,
                            std::uint64_t& content_length, std::string& detail)
{
    if (options.is_head_response || (out.status >= 100 && out.status < 200) || out.status == 204 ||
        out.status == 304) {
        out.framing = body_framing::none;
        return parse_status::complete;
    }
    const std::size_t te_count = out.header_count("Transfer-Encoding");
    const std::size_t cl_count = out.header_count("Content-Length");
    if (te_count > 0 && cl_count > 0)
        return malformed(detail, "both Transfer-Encoding and Content-Length");
    if (te_count > 0) {
        // The body is chunked only when chunked is the final coding.
        std::string codings;
        for (const http_field& f : out.headers)
            if (iequals(f.name, "Transfer-Encoding"))
                codings += (codings.empty() ? "" : ",") + f.value;
        const std::size_t comma = codings.rfind(',');
        const std::string_view last =
            trim(std::string_view{codings}.substr(comma == std::string::npos ? 0 : comma + 1));
        out.framing = iequals(last, "chunked") ? body_framing::chunked : body_framing::until_close;
        return parse_status::complete;
    }
    if (cl_count > 1)
        return malformed(detail, "more than one Content-Length field");
    if (cl_count == 1) {
        const std::string value = *out.header("Content-Length");
        const auto [ptr, ec] =
            std::from_chars(value.data(), value.data() + value.size(), content_length);
        if (value.empty() || ec != std::errc{} || ptr != value.data() + value.size())
            return malformed(detail, "invalid Content-Length \"" + value + '"');
        if (content_length > options.max_body_bytes)
            return malformed(detail, "Content-Length " + value + " exceeds the body limit");
        out.framing = body_framing::content_length;
        return parse_status::complete;
    }
    out.framing = body_framing::until_close;
    return parse_status::complete;
}

parse_status parse_chunked(line_reader& reader, const read_options& options, http_response& out,
                           std::string& detail)
{
    for (int count = 0; count < 10'000'000; ++count) {
        std::string_view line;
        const std::size_t line_start = reader.pos;
        switch (reader.next(line)) {
        case line_reader::result::need_more:
            return parse_status::need_more;
        case line_reader::result::bare_lf:
            return malformed(detail, where("bare LF ending a chunk-size line", line_start));
        case line_reader::result::line:
            break;
        }
        // chunk-size [ chunk-ext ] CRLF; extensions start with ';' (after optional BWS).
        std::size_t digits = 0;
        while (digits < line.size() && is_hex(line[digits]))
            ++digits;
        const std::string_view rest = trim(line.substr(digits));
        if (digits == 0 || digits > 15 || (!rest.empty() && rest.front() != ';') ||
            !std::all_of(rest.begin(), rest.end(), is_field_char))
            return malformed(detail,
                             where("bad chunk-size line \"" + std::string{line} + '"', line_start));
        std::uint64_t size = 0;
        (void)std::from_chars(line.data(), line.data() + digits, size, 16);
        if (size == 0)
            return parse_fields(reader, options.max_header_bytes, out.trailers, detail);
        if (out.body.size() + size > options.max_body_bytes)
            return malformed(detail, "chunked body exceeds the body limit");
        const std::size_t n = static_cast<std::size_t>(size);
        if (reader.data.size() - reader.pos < n + 2)
            return parse_status::need_more;
        if (reader.data.substr(reader.pos + n, 2) != "\r\n")
            return malformed(detail, where("chunk data not followed by CRLF", reader.pos + n));
        out.body.append(reader.data.substr(reader.pos, n));
        reader.pos += n + 2;
    }
    return malformed(detail, "too many chunks");
}

} // namespace

std::string_view to_string(read_outcome outcome)
{
    switch (outcome) {
    case read_outcome::complete:
        return "complete";
    case read_outcome::closed:
        return "closed";
    case read_outcome::truncated:
        return "truncated";
    case read_outcome::reset:
        return "reset";
    case read_outcome::timeout:
        return "timeout";
    case read_outcome::malformed:
        return "malformed";
    }
    return "unknown";
}

std::ostream& operator<<(std::ostream& os, read_outcome outcome)
{
    return os << to_string(outcome);
}

std::optional<std::string> http_response::header(std::string_view name) const
{
    for (const http_field& f : headers)
        if (iequals(f.name, name))
            return f.value;
    return std::nullopt;
}

std::size_t http_response::header_count(std::string_view name) const
{
    return static_cast<std::size_t>(
        std::count_if(headers.begin(), headers.end(),
                      [&](const http_field& f) { return iequals(f.name, name); }));
}

bool http_response::has_token(std::string_view name, std::string_view token) const
{
    for (const http_field& f : headers) {
        if (!iequals(f.name, name))
            continue;
        std::string_view list = f.value;
        for (int i = 0; i < 1000 && !list.empty(); ++i) {
            const std::size_t comma = list.find(',');
            if (iequals(trim(list.substr(0, comma)), token))
                return true;
            if (comma == std::string_view::npos)
                break;
            list.remove_prefix(comma + 1);
        }
    }
    return false;
}

bool http_response::is_connection_close() const
{
    if (has_token("Connection", "close"))
        return true;
    return version_minor == 0 && !has_token("Connection", "keep-alive");
}

parse_status parse_response(std::string_view data, bool is_eof, const read_options& options,
                            http_response& out, std::size_t& consumed, std::string& detail)
{
    out = http_response{};
    consumed = 0;
    // Fail fast on bytes that cannot begin a response, before a whole line arrives.
    const std::string_view prefix = "HTTP/1.";
    if (data.substr(0, prefix.size()) != prefix.substr(0, std::min(data.size(), prefix.size())))
        return malformed(detail, "response does not start with \"HTTP/1.\"");

    line_reader reader{data};
    std::string_view line;
    switch (reader.next(line)) {
    case line_reader::result::need_more:
        if (data.size() > options.max_header_bytes)
            return malformed(detail, "status line exceeds the header limit");
        return parse_status::need_more;
    case line_reader::result::bare_lf:
        return malformed(detail, "bare LF (no CR) ending the status line");
    case line_reader::result::line:
        break;
    }
    if (const parse_status s = parse_status_line(line, out, detail); s != parse_status::complete)
        return s;
    if (const parse_status s = parse_fields(reader, options.max_header_bytes, out.headers, detail);
        s != parse_status::complete)
        return s;

    std::uint64_t content_length = 0;
    if (const parse_status s = choose_framing(options, out, content_length, detail);
        s != parse_status::complete)
        return s;

    switch (out.framing) {
    case body_framing::none:
        break;
    case body_framing::content_length: {
        const auto n = static_cast<std::size_t>(content_length);
        if (data.size() - reader.pos < n)
            return parse_status::need_more;
        out.body = data.substr(reader.pos, n);
        reader.pos += n;
        break;
    }
    case body_framing::chunked:
        if (const parse_status s = parse_chunked(reader, options, out, detail);
            s != parse_status::complete)
            return s;
        break;
    case body_framing::until_close:
        if (data.size() - reader.pos > options.max_body_bytes)
            return malformed(detail, "close-delimited body exceeds the body limit");
        if (!is_eof)
            return parse_status::need_more;
        out.body = data.substr(reader.pos);
        reader.pos = data.size();
        break;
    }
    consumed = reader.pos;
    return parse_status::complete;
}

std::error_code raw_connection::send(std::string_view bytes, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int pass = 0; pass < 1'000'000 && !bytes.empty(); ++pass) {
        const ssize_t n =
            ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            bytes.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return {errno, std::generic_category()};
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return std::make_error_code(std::errc::timed_out);
        pollfd p{fd_.get(), POLLOUT, 0};
        (void)::poll(
            &p, 1,
            static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 60'000)));
    }
    return bytes.empty() ? std::error_code{} : std::make_error_code(std::errc::timed_out);
}

void raw_connection::shutdown_write() noexcept
{
    (void)::shutdown(fd_.get(), SHUT_WR);
}

int raw_connection::receive(std::chrono::steady_clock::time_point deadline)
{
    std::array<char, 65536> chunk{};
    for (int pass = 0; pass < 100000; ++pass) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd_.get(), POLLIN, 0};
        const int ready = ::poll(
            &p, 1,
            static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 60'000)));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return -1;
        const ssize_t n = ::recv(fd_.get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (n > 0) {
            buffer_.append(chunk.data(), static_cast<std::size_t>(n));
            return 1;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            continue;
        errno_ = errno;
        return -2;
    }
    return -1;
}

read_result raw_connection::read_response(std::chrono::milliseconds timeout,
                                          const read_options& options)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    read_result result;
    for (int pass = 0; pass < 1'000'000; ++pass) {
        std::size_t consumed = 0;
        result.detail.clear();
        const parse_status status =
            parse_response(buffer_, is_eof_, options, result.response, consumed, result.detail);
        if (status == parse_status::complete) {
            result.outcome = read_outcome::complete;
            result.response.raw = buffer_.substr(0, consumed);
            buffer_.erase(0, consumed);
            return result;
        }
        result.response.raw = buffer_;
        if (status == parse_status::malformed) {
            result.outcome = read_outcome::malformed;
            return result;
        }
        if (is_eof_) {
            result.outcome = buffer_.empty() ? read_outcome::closed : read_outcome::truncated;
            buffer_.clear();
            return result;
        }
        switch (receive(deadline)) {
        case -1:
            result.outcome = read_outcome::timeout; // what arrived stays buffered
            return result;
        case -2:
            result.outcome = read_outcome::reset;
            result.detail = std::generic_category().message(errno_);
            return result;
        case 0:
            is_eof_ = true;
            break;
        default:
            break;
        }
    }
    result.outcome = read_outcome::timeout;
    return result;
}

eof_result raw_connection::read_until_eof(std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    eof_result result;
    for (int pass = 0; pass < 1'000'000; ++pass) {
        if (is_eof_) {
            result.outcome = read_outcome::closed;
            break;
        }
        const int r = receive(deadline);
        if (r == -1) {
            result.outcome = read_outcome::timeout;
            break;
        }
        if (r == -2) {
            result.outcome = read_outcome::reset;
            break;
        }
        if (r == 0)
            is_eof_ = true;
    }
    result.data = std::move(buffer_);
    buffer_.clear();
    return result;
}

bool raw_connection::was_reset(std::chrono::milliseconds timeout)
{
    return read_until_eof(timeout).outcome == read_outcome::reset;
}

std::string make_get_request(std::string_view target, std::string_view extra_headers)
{
    std::string request = "GET ";
    request += target;
    request += " HTTP/1.1\r\nHost: localhost\r\n";
    request += extra_headers;
    request += "\r\n";
    return request;
}

read_result exchange(unique_fd fd, std::string_view request, std::chrono::milliseconds timeout)
{
    raw_connection connection{std::move(fd)};
    const std::error_code sent = connection.send(request, timeout);
    // Read even if sending failed: the server may have answered and closed early.
    read_result result = connection.read_response(timeout);
    if (sent && !result.is_complete())
        result.detail += (result.detail.empty() ? "" : "; ") + ("send: " + sent.message());
    return result;
}

} // namespace baton::test
