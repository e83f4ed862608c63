// SPDX-License-Identifier: MIT

// The SERVER_STARTER_PORT grammar (docs/design.md §1), read and written by one module:
//   value = "" / entry *( ";" entry )
//   entry = key "=" fd                ; split at the first "=", as Server::Starter does
//   key   = port / host ":" port / "[" v6 "]" ":" port / path
//   fd    = "0" / %x31-39 *DIGIT       ; no sign, no leading zero: it round-trips
#include "error.hpp"

#include <baton/listener.hpp>

#include <sys/socket.h>

#include <charconv>
#include <climits>
#include <string>

namespace baton::listener {

namespace {

constexpr std::string_view variable = "SERVER_STARTER_PORT";

bool is_digits(std::string_view s) noexcept
{
    if (s.empty())
        return false;
    for (char c : s)
        if (c < '0' || c > '9')
            return false;
    return true;
}

/// A port: 1..5 digits, at most 65535.
bool parse_port(std::string_view s, std::uint16_t& port) noexcept
{
    if (!is_digits(s) || s.size() > 5)
        return false;
    unsigned value = 0;
    std::from_chars(s.data(), s.data() + s.size(), value);
    if (value > 65535)
        return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

std::string entry_context(std::size_t index, std::string_view text)
{
    return std::string(variable) + " entry " + std::to_string(index) + " " + detail::quote(text) +
           ": ";
}

/// Why classify_key() refused `key`, in words.
std::string key_fault(std::error_code ec, std::string_view key)
{
    if (ec == errc::unbalanced_bracket)
        return "unbalanced \"[\" in key " + detail::quote(key);
    if (ec == errc::trailing_junk)
        return "expected \":PORT\" after \"]\" in key " + detail::quote(key);
    if (ec == errc::invalid_port)
        return "port of key " + detail::quote(key) + " is not a number in 0..65535";
    if (ec == errc::empty_key)
        return "empty address between \"[\" and \"]\"";
    return ec.message();
}

/// Parse FD text: a non-negative decimal int without sign or leading zero.
std::error_code parse_fd(std::string_view text, int& fd, std::string& fault)
{
    if (text.empty()) {
        fault = "missing FD after \"=\"";
        return errc::missing_fd;
    }
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
        ++digits;
    if (digits == 0) {
        fault = "FD " + detail::quote(text) + " is not a non-negative decimal number";
        return errc::invalid_fd;
    }
    if (digits < text.size()) {
        fault = "trailing characters " + detail::quote(text.substr(digits)) + " after FD " +
                detail::quote(text.substr(0, digits));
        return errc::trailing_junk;
    }
    if (digits > 1 && text[0] == '0') {
        fault = "FD " + detail::quote(text) + " has a leading zero";
        return errc::invalid_fd;
    }
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
        fault = "FD " + detail::quote(text) + " is out of range";
        return errc::invalid_fd;
    }
    fd = value;
    return {};
}

} // namespace

std::error_code classify_key(std::string_view key, port_entry& out) noexcept
{
    out.host.clear();
    out.port = 0;
    if (key.empty())
        return errc::empty_key;
    if (key.front() == '[') {
        // [V6ADDR]:PORT, the only spelling a starter writes for IPv6
        const auto close = key.find(']');
        if (close == std::string_view::npos)
            return errc::unbalanced_bracket;
        const auto host = key.substr(1, close - 1);
        if (host.empty())
            return errc::empty_key;
        if (host.find('[') != std::string_view::npos)
            return errc::unbalanced_bracket;
        const auto rest = key.substr(close + 1);
        if (rest.empty() || rest.front() != ':')
            return errc::trailing_junk;
        std::uint16_t port = 0;
        if (!parse_port(rest.substr(1), port))
            return errc::invalid_port;
        out.kind = key_kind::host_port;
        out.host.assign(host);
        out.port = port;
        return {};
    }
    std::uint16_t port = 0;
    if (parse_port(key, port)) {
        out.kind = key_kind::port;
        out.port = port;
        return {};
    }
    // HOST:PORT with a host that is neither empty, nor an unbracketed IPv6 address, nor a path
    const auto colon = key.rfind(':');
    if (colon != std::string_view::npos && colon > 0) {
        const auto host = key.substr(0, colon);
        if (host.find_first_of(":/") == std::string_view::npos &&
            parse_port(key.substr(colon + 1), port)) {
            out.kind = key_kind::host_port;
            out.host.assign(host);
            out.port = port;
            return {};
        }
    }
    out.kind = key_kind::path;
    return {};
}

std::vector<port_entry> parse_port_env(std::string_view value, error& err)
{
    err = {};
    std::vector<port_entry> entries;
    if (value.empty())
        return entries; // defined but empty: a starter that passes no sockets
    std::size_t index = 0;
    std::size_t pos = 0;
    for (;;) {
        ++index;
        const auto semi = value.find(';', pos);
        const auto text =
            value.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos);
        auto fail = [&](std::error_code ec, const std::string& fault) {
            err = detail::make_error(ec, entry_context(index, text) + fault);
            entries.clear();
            return entries;
        };
        if (text.empty())
            return fail(errc::empty_entry,
                        "empty entry (\";;\", or a \";\" at the start or the end)");
        const auto eq = text.find('=');
        if (eq == std::string_view::npos)
            return fail(errc::missing_fd, "missing \"=FD\"");
        if (eq == 0)
            return fail(errc::empty_key, "empty key before \"=\"");
        port_entry entry;
        entry.key.assign(text.substr(0, eq));
        std::string fault;
        if (auto ec = parse_fd(text.substr(eq + 1), entry.fd, fault))
            return fail(ec, fault);
        if (auto ec = classify_key(entry.key, entry))
            return fail(ec, key_fault(ec, entry.key));
        entries.push_back(std::move(entry));
        if (semi == std::string_view::npos)
            break;
        pos = semi + 1;
    }
    return entries;
}

std::vector<port_entry> parse_port_env(std::string_view value)
{
    error err;
    auto entries = parse_port_env(value, err);
    return detail::value_or_throw(std::move(entries), err);
}

std::string format_port_env(std::span<const port_entry> entries, error& err)
{
    err = {};
    std::string out;
    std::size_t index = 0;
    for (const auto& e : entries) {
        ++index;
        const auto context = std::string(variable) + " entry " + std::to_string(index) + " " +
                             detail::quote(e.key) + ": ";
        if (e.key.empty() || e.key.find_first_of(";=") != std::string::npos) {
            err = detail::make_error(errc::invalid_key,
                                     context + "a key cannot be empty or contain \";\" or \"=\"");
            return {};
        }
        port_entry parsed;
        if (auto ec = classify_key(e.key, parsed)) {
            err = detail::make_error(ec, context + key_fault(ec, e.key));
            return {};
        }
        if (e.fd < 0) {
            err = detail::make_error(errc::invalid_fd,
                                     context + "FD " + std::to_string(e.fd) + " is negative");
            return {};
        }
        if (!out.empty())
            out += ';';
        out += e.key;
        out += '=';
        out += std::to_string(e.fd);
    }
    return out;
}

std::string format_port_env(std::span<const port_entry> entries)
{
    error err;
    auto out = format_port_env(entries, err);
    return detail::value_or_throw(std::move(out), err);
}

std::string make_key(std::string_view host, std::uint16_t port)
{
    if (host.empty())
        return std::to_string(port);
    std::string key;
    if (host.find(':') != std::string_view::npos) {
        key += '[';
        key += host;
        key += ']';
    } else {
        key += host;
    }
    key += ':';
    key += std::to_string(port);
    return key;
}

std::string make_key(const socket_info& info)
{
    constexpr std::string_view ipv4_any = "0.0.0.0:";
    if (info.family == AF_INET && info.address.starts_with(ipv4_any))
        return make_key("", info.port);
    if (info.family == AF_INET || info.family == AF_INET6 || info.family == AF_UNIX)
        return info.address;
    return {};
}

} // namespace baton::listener
