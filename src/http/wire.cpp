// SPDX-License-Identifier: MIT
#include "wire.hpp"

#include <boost/beast/http/field.hpp>

#include <array>
#include <charconv>

namespace baton::http::detail {

namespace bhttp = boost::beast::http;

namespace {

void append_number(std::string& out, std::size_t n, int base)
{
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n, base);
    out.append(buf, end);
}

void append_status_line(std::string& out, unsigned version, bhttp::status s)
{
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    append_number(out, static_cast<std::size_t>(s), 10);
    out += ' ';
    auto reason = bhttp::obsolete_reason(s);
    out.append(reason.data(), reason.size());
    out += "\r\n";
}

void append_two_digits(std::string& out, int n)
{
    out += static_cast<char>('0' + n / 10);
    out += static_cast<char>('0' + n % 10);
}

} // namespace

std::string imf_fixdate(std::time_t t)
{
    static constexpr std::array<std::string_view, 7> days{"Sun", "Mon", "Tue", "Wed",
                                                          "Thu", "Fri", "Sat"};
    static constexpr std::array<std::string_view, 12> months{
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    std::string out;
    out.reserve(29);
    out += days.at(static_cast<std::size_t>(tm.tm_wday));
    out += ", ";
    append_two_digits(out, tm.tm_mday);
    out += ' ';
    out += months.at(static_cast<std::size_t>(tm.tm_mon));
    out += ' ';
    append_number(out, static_cast<std::size_t>(tm.tm_year) + 1900, 10);
    out += ' ';
    append_two_digits(out, tm.tm_hour);
    out += ':';
    append_two_digits(out, tm.tm_min);
    out += ':';
    append_two_digits(out, tm.tm_sec);
    out += " GMT";
    return out;
}

std::string_view date_field()
{
    struct cache {
        std::time_t second = -1;
        std::string field;
    };

    thread_local cache c;
    // The coarse clock is read from the vDSO without a system call; its tick (a few ms) is
    // far finer than the field's second.
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (now.tv_sec != c.second) {
        c.second = now.tv_sec;
        c.field = "Date: " + imf_fixdate(now.tv_sec) + "\r\n";
    }
    return c.field;
}

bool status_has_body(bhttp::status s) noexcept
{
    auto code = static_cast<unsigned>(s);
    return code >= 200 && s != bhttp::status::no_content && s != bhttp::status::not_modified;
}

std::uint64_t keep_alive_hint_seconds(const options& o) noexcept
{
    using std::chrono::seconds;
    auto hint = o.keep_alive_hint.value_or(std::chrono::duration_cast<seconds>(o.idle_timeout) -
                                           seconds(1));
    return hint.count() > 0 ? static_cast<std::uint64_t>(hint.count()) : 0;
}

void append_header(std::string& out, const response_state& rs, body_mode mode, bool keep_alive,
                   std::size_t content_length, std::uint64_t hint_s, bool with_date)
{
    append_status_line(out, rs.version, rs.status);
    if (with_date && rs.fields.find(bhttp::field::date) == rs.fields.end())
        out += date_field();
    for (const auto& f : rs.fields) {
        auto name = f.name();
        if (name == bhttp::field::connection || name == bhttp::field::keep_alive ||
            name == bhttp::field::content_length || name == bhttp::field::transfer_encoding)
            continue;
        auto n = f.name_string();
        auto v = f.value();
        out.append(n.data(), n.size());
        out += ": ";
        out.append(v.data(), v.size());
        out += "\r\n";
    }
    switch (mode) {
    case body_mode::content_length:
        out += "Content-Length: ";
        append_number(out, content_length, 10);
        out += "\r\n";
        break;
    case body_mode::chunked:
        out += "Transfer-Encoding: chunked\r\n";
        break;
    case body_mode::none:
    case body_mode::close_delimited:
        break;
    }
    if (!keep_alive)
        out += "Connection: close\r\n";
    else if (rs.version == 10)
        out += "Connection: keep-alive\r\n";
    if (keep_alive && hint_s != 0) {
        out += "Keep-Alive: timeout=";
        append_number(out, hint_s, 10);
        out += "\r\n";
    }
    out += "\r\n";
}

void append_chunk(std::string& out, std::string_view data)
{
    if (data.empty())
        return;
    append_number(out, data.size(), 16);
    out += "\r\n";
    out.append(data);
    out += "\r\n";
}

std::string error_response(bhttp::status s, unsigned version, bool with_date)
{
    std::string out;
    append_status_line(out, version == 10 ? 10 : 11, s);
    if (with_date)
        out += date_field();
    auto reason = bhttp::obsolete_reason(s);
    out += "Content-Type: text/plain\r\nContent-Length: ";
    append_number(out, reason.size() + 1, 10);
    out += "\r\nConnection: close\r\n\r\n";
    out.append(reason.data(), reason.size());
    out += '\n';
    return out;
}

bhttp::status status_for(const boost::system::error_code& ec) noexcept
{
    if (ec.category() != category())
        return bhttp::status::bad_request;
    switch (static_cast<errc>(ec.value())) {
    case errc::header_timeout:
    case errc::body_timeout:
        return bhttp::status::request_timeout;
    case errc::body_too_large:
        return bhttp::status::payload_too_large;
    case errc::header_too_large:
        return bhttp::status::request_header_fields_too_large;
    case errc::unsupported_transfer_coding:
        return bhttp::status::not_implemented;
    case errc::unsupported_version:
        return bhttp::status::http_version_not_supported;
    case errc::too_many_connections:
        return bhttp::status::service_unavailable;
    case errc::handler_exception:
        return bhttp::status::internal_server_error;
    default:
        return bhttp::status::bad_request;
    }
}

} // namespace baton::http::detail
