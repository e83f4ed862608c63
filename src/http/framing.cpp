// SPDX-License-Identifier: MIT
#include "framing.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include <cstddef>
#include <cstring>

namespace baton::http::detail {

namespace bhttp = boost::beast::http;

namespace {

std::string_view trim(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

bool is_valid_content_length(std::string_view v) noexcept
{
    v = trim(v);
    if (v.empty() || v.size() > 19) // more would not fit std::uint64_t
        return false;
    for (char c : v)
        if (c < '0' || c > '9')
            return false;
    return true;
}

} // namespace

boost::system::error_code validate_framing(const bhttp::request_header<>& h)
{
    std::size_t content_lengths = 0;
    std::size_t transfer_encodings = 0;
    std::size_t hosts = 0;
    std::size_t chunked = 0;
    bool is_chunked_last = false;
    bool has_unknown_coding = false;
    bool has_empty_coding_list = false;
    for (const auto& f : h) {
        auto value = std::string_view(f.value().data(), f.value().size());
        switch (f.name()) {
        case bhttp::field::content_length:
            ++content_lengths;
            if (!is_valid_content_length(value))
                return errc::bad_framing;
            break;
        case bhttp::field::transfer_encoding: {
            ++transfer_encodings;
            bool any = false;
            while (!value.empty()) {
                auto comma = value.find(',');
                auto coding = trim(value.substr(0, comma));
                value =
                    comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
                if (coding.empty())
                    continue; // list syntax allows empty elements
                any = true;
                if (boost::beast::iequals(coding, "chunked")) {
                    ++chunked;
                    is_chunked_last = true;
                } else {
                    has_unknown_coding = true;
                    is_chunked_last = false;
                }
            }
            if (!any)
                has_empty_coding_list = true;
            break;
        }
        case bhttp::field::host:
            ++hosts;
            break;
        default:
            break;
        }
    }
    if (content_lengths > 1)
        return errc::bad_framing; // duplicate or conflicting: never pick one
    if (transfer_encodings > 0) {
        if (h.version() < 11 || content_lengths > 0 || has_empty_coding_list)
            return errc::bad_framing;
        if (has_unknown_coding)
            return errc::unsupported_transfer_coding;
        if (chunked != 1 || !is_chunked_last)
            return errc::bad_framing;
    }
    if (h.version() == 11 && hosts != 1)
        return errc::bad_framing;
    return {};
}

bool has_unsupported_version(std::string_view bytes) noexcept
{
    auto lf = bytes.find('\n');
    if (lf == std::string_view::npos)
        return false;
    auto line = bytes.substr(0, lf);
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    constexpr std::string_view prefix = " HTTP/";
    if (line.size() < prefix.size() + 3)
        return false;
    auto tail = line.substr(line.size() - prefix.size() - 3);
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    return tail.substr(0, prefix.size()) == prefix && is_digit(tail[prefix.size()]) &&
           tail[prefix.size() + 1] == '.' && is_digit(tail[prefix.size() + 2]);
}

void fold_scanner::feed(std::string_view bytes, bool at_fields) noexcept
{
    if (at_fields)
        at_line_start_ = true;
    // Line by line (memchr), not byte by byte: this runs over every header on the hot path.
    const char* p = bytes.data();
    const char* const end = p + bytes.size();
    while (p != end) {
        if (at_line_start_ && (*p == ' ' || *p == '\t'))
            has_fold_ = true;
        const void* lf = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
        if (lf == nullptr) {
            at_line_start_ = false;
            return;
        }
        p = static_cast<const char*>(lf) + 1;
        at_line_start_ = true;
    }
}

} // namespace baton::http::detail
