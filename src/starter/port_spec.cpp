// SPDX-License-Identifier: MIT
#include "port_spec.hpp"

#include <baton/listener.hpp>

#include <algorithm>
#include <charconv>

namespace baton::starter {

namespace {

bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

std::size_t skip_space(std::string_view s, std::size_t i)
{
    while (i < s.size() && is_space(s[i]))
        ++i;
    return i;
}

bool to_number(std::string_view digits, unsigned long max, unsigned long& out)
{
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return ec == std::errc{} && ptr == digits.data() + digits.size() && out <= max;
}

// `\s*(u?)(\d+)(?:\s*=(\d+))?\s*$` over all of `s`: the part both of Server::Starter's
// patterns end with.
bool parse_tail(std::string_view s, bool& is_udp, std::string_view& port, std::string_view& fd)
{
    fd = {};
    std::size_t i = skip_space(s, 0);
    is_udp = i < s.size() && s[i] == 'u';
    if (is_udp)
        ++i;
    const std::size_t port_at = i;
    while (i < s.size() && is_digit(s[i]))
        ++i;
    if (i == port_at)
        return false;
    port = s.substr(port_at, i - port_at);
    i = skip_space(s, i);
    if (i < s.size() && s[i] == '=') {
        const std::size_t fd_at = ++i;
        while (i < s.size() && is_digit(s[i]))
            ++i;
        if (i == fd_at)
            return false;
        fd = s.substr(fd_at, i - fd_at);
        i = skip_space(s, i);
    }
    return i == s.size();
}

} // namespace

std::optional<port_spec> parse_port_spec(std::string_view text)
{
    // Server::Starter.pm's two patterns, matched by hand (std::regex would bring the locale
    // machinery into start_server's memory):
    //   bare       ^\s*(u?)(\d+)(?:\s*=(\d+))?\s*$
    //   host_port  ^\s*(?:\[\s*|)([^\]]*)\s*(?:\]\s*|):\s*(u?)(\d+)(?:\s*=(\d+))?\s*$
    // The tail holds no ':', so host_port splits at the last ':'; the host runs to the first
    // ']', which only whitespace may follow.
    port_spec out;
    std::string_view port_digits;
    std::string_view fd_digits;
    if (!parse_tail(text, out.is_udp, port_digits, fd_digits)) {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos ||
            !parse_tail(text.substr(colon + 1), out.is_udp, port_digits, fd_digits))
            return std::nullopt;
        const std::string_view head = text.substr(0, colon);
        std::size_t i = skip_space(head, 0);
        if (i < head.size() && head[i] == '[')
            i = skip_space(head, i + 1);
        const std::size_t end = std::min(head.find(']', i), head.size());
        if (end < head.size() && skip_space(head, end + 1) != head.size())
            return std::nullopt;
        out.host = std::string(head.substr(i, end - i));
        while (!out.host.empty() && (out.host.back() == ' ' || out.host.back() == '\t'))
            out.host.pop_back();
        out.is_ipv6 = out.host.find(':') != std::string::npos;
        if (out.host.empty())
            return std::nullopt;
    }
    unsigned long port = 0;
    if (!to_number(port_digits, 65535, port))
        return std::nullopt;
    out.port = static_cast<std::uint16_t>(port);
    if (!fd_digits.empty()) {
        unsigned long fd = 0;
        if (!to_number(fd_digits, 65535, fd))
            return std::nullopt;
        out.fd = static_cast<int>(fd);
    }
    return out;
}

std::string port_key(const port_spec& spec)
{
    return baton::listener::make_key(spec.host, spec.port);
}

} // namespace baton::starter
