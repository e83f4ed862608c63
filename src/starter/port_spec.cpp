// SPDX-License-Identifier: MIT
#include "port_spec.hpp"

#include <baton/listener.hpp>

#include <charconv>
#include <regex>

namespace baton::starter {

namespace {

bool to_number(const std::string& digits, unsigned long max, unsigned long& out)
{
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return ec == std::errc{} && ptr == digits.data() + digits.size() && out <= max;
}

} // namespace

std::optional<port_spec> parse_port_spec(std::string_view text)
{
    // The two regular expressions of Server::Starter.pm, verbatim.
    static const std::regex bare(R"(^\s*(u?)(\d+)(?:\s*=(\d+))?\s*$)");
    static const std::regex host_port(
        R"(^\s*(?:\[\s*|)([^\]]*)\s*(?:\]\s*|):\s*(u?)(\d+)(?:\s*=(\d+))?\s*$)");
    const std::string s(text);
    std::smatch m;
    port_spec out;
    std::string port_digits;
    std::string fd_digits;
    if (std::regex_match(s, m, bare)) {
        out.is_udp = m[1].length() != 0;
        port_digits = m[2];
        fd_digits = m[3];
    } else if (std::regex_match(s, m, host_port)) {
        out.host = m[1];
        while (!out.host.empty() && (out.host.back() == ' ' || out.host.back() == '\t'))
            out.host.pop_back();
        out.is_udp = m[2].length() != 0;
        port_digits = m[3];
        fd_digits = m[4];
        out.is_ipv6 = out.host.find(':') != std::string::npos;
        if (out.host.empty())
            return std::nullopt;
    } else {
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
