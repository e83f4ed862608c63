#pragma once
// SPDX-License-Identifier: MIT

// One `--port` value, in Server::Starter 0.35's grammar:
//   [u]PORT[=FD]   HOST:[u]PORT[=FD]   [V6ADDR]:[u]PORT[=FD]   (whitespace allowed around parts)

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baton::starter {

/// A parsed `--port` value.
struct port_spec {
    std::string host;       ///< empty: all IPv4 interfaces (0.0.0.0)
    std::uint16_t port = 0; ///< the port number (0 asks the kernel for one)
    bool is_udp = false;    ///< the `u` prefix: SOCK_DGRAM, no listen()
    bool is_ipv6 = false;   ///< the host contains `:` (IPv6, IPV6_V6ONLY)
    std::optional<int> fd;  ///< `=FD`: the descriptor number the socket is moved to
};

/** Parse `text`; nullopt when it matches neither of Server::Starter's two patterns or the
    port does not fit 0..65535. The error line is then `invalid ``port'' value:TEXT`. */
std::optional<port_spec> parse_port_spec(std::string_view text);

/// The SERVER_STARTER_PORT key Server::Starter writes for `spec` (the `u` is dropped).
std::string port_key(const port_spec& spec);

} // namespace baton::starter
