#pragma once
// SPDX-License-Identifier: MIT

// The worker side of the socket-passing protocol: the sockets a superdaemon hands down.
//
// Two ways in, one result:
// - `SERVER_STARTER_PORT` (Server::Starter, go-server-starter, baton's start_server):
//   `;`-separated `KEY=FD` entries, KEY being `PORT`, `HOST:PORT`, `[V6ADDR]:PORT` or a path;
// - systemd socket activation: `LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`.
// Every descriptor is then asked to the kernel what it is (family, type, listening state,
// bound address): the key is only a name. Standard library and POSIX only.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace baton::listener {

/// Errors of this module; each message says what to fix.
enum class errc {
    missing_fd = 1,     ///< an entry has no `=FD` part
    empty_key,          ///< an entry has nothing before `=`
    invalid_fd,         ///< FD is not a non-negative decimal number that fits an int
    empty_entry,        ///< two `;` in a row, or a `;` at either end
    unbalanced_bracket, ///< `[` without `]` (or `]` without `[`) in a key
    trailing_junk,      ///< characters after the FD, or after `]` where `:PORT` belongs
    invalid_port,       ///< a `[V6]:PORT` key whose PORT is not 0..65535
    invalid_key,        ///< a key that cannot be written (contains `;` or `=`)
    not_a_socket,       ///< an inherited descriptor is not a socket (or not open)
    invalid_listen_fds, ///< `LISTEN_FDS` is not a number
    invalid_address,    ///< an address given to bind_address() cannot be parsed or resolved
};

/// The error category of `errc` (name "baton.listener").
const std::error_category& category() noexcept;

/// Makes `errc` usable as a `std::error_code`.
std::error_code make_error_code(errc e) noexcept;

/** An error that names the input that caused it, e.g.
    `SERVER_STARTER_PORT entry 2 "8080": missing "=FD"`. `code` is an `errc`, or a system
    error (`errno`) when the kernel refused, e.g. EADDRINUSE from bind(2). */
struct error {
    std::error_code code;
    std::string message; ///< the full, human-readable message (empty when `code` is 0)

    explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

/// What the throwing overloads throw: `code()` is the error's code, `what()` its message.
class listener_error : public std::system_error {
public:
    explicit listener_error(const error& e);
    const char* what() const noexcept override;

private:
    std::string message_;
};

// ---------------------------------------------------------------------------------------------
// The SERVER_STARTER_PORT grammar (the one module both the starter and the worker use)

/// What a key names, as far as its spelling tells. A relative path `8080` and a port
/// cannot be told apart by spelling; trust `socket_info`, not this.
enum class key_kind {
    port,      ///< `8080`
    host_port, ///< `127.0.0.1:8080`, `localhost:8080`, `[::1]:8080`
    path,      ///< `/run/app.sock`, `app.sock`
};

/// One `KEY=FD` entry of `SERVER_STARTER_PORT`.
struct port_entry {
    std::string key; ///< as written; `format` writes it back verbatim
    int fd = -1;     ///< the inherited descriptor
    key_kind kind = key_kind::port;
    std::string host;       ///< host_port: the host without brackets
    std::uint16_t port = 0; ///< port, host_port: the port number
};

/** Parse a defined `SERVER_STARTER_PORT` value. An empty value means "no sockets" and
    yields an empty vector. On error `err` names the entry (1-based) and the fault.
    `format(parse(x)) == x` for every `x` this accepts. */
std::vector<port_entry> parse_port_env(std::string_view value, error& err);

/// @throws listener_error
std::vector<port_entry> parse_port_env(std::string_view value);

/// Classify a key as `parse_port_env` does (the `kind`, `host` and `port` of an entry).
/// Returns invalid_port / unbalanced_bracket / trailing_junk for malformed bracketed keys.
std::error_code classify_key(std::string_view key, port_entry& out) noexcept;

/** Write entries as `KEY=FD;KEY=FD`, in the given order. A key that is empty or contains
    `;` or `=`, or a negative FD, is `errc::invalid_key` / `errc::invalid_fd`. */
std::string format_port_env(std::span<const port_entry> entries, error& err);

/// @throws listener_error
std::string format_port_env(std::span<const port_entry> entries);

/// The key a starter writes for a TCP/UDP address: `PORT` when `host` is empty,
/// `[host]:PORT` when host contains `:` (IPv6), else `host:PORT` (host as typed).
std::string make_key(std::string_view host, std::uint16_t port);

// ---------------------------------------------------------------------------------------------
// Asking the kernel

/// The socket type, from `getsockopt(SO_TYPE)`.
enum class socket_type { stream, datagram, seqpacket, other };

/// What the kernel says about a descriptor.
struct socket_info {
    int family = 0; ///< AF_INET, AF_INET6, AF_UNIX, ...
    socket_type type = socket_type::other;
    bool is_listening = false; ///< SO_ACCEPTCONN
    std::uint16_t port = 0;    ///< AF_INET/AF_INET6 only
    std::string address; ///< `127.0.0.1:8080`, `[::1]:8080`, `/path`, `@abstract`, `` (unnamed)
};

/** The key a starter writes for a socket it holds, from what the kernel says: `PORT` for
    the IPv4 wildcard (as Server::Starter writes a bare port), else `info.address`
    (`127.0.0.1:8080`, `[::1]:8080`, `/path`, `@abstract`). Empty when the socket has no
    address to name it by (an unnamed unix socket, another family). */
std::string make_key(const socket_info& info);

/// Inspect `fd`. Fails with `errc::not_a_socket` when `fd` is closed or not a socket.
socket_info probe_socket(int fd, error& err);

/// @throws listener_error
socket_info probe_socket(int fd);

// ---------------------------------------------------------------------------------------------
// The environment

/// Where the sockets came from.
enum class source {
    none,           ///< not under a starter: neither variable is set (or LISTEN_PID is not us)
    server_starter, ///< SERVER_STARTER_PORT
    systemd,        ///< LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES
};

/// One inherited descriptor.
struct inherited_socket {
    std::string name; ///< the SERVER_STARTER_PORT key, or the LISTEN_FDNAMES name ("unknown")
    int fd = -1;
    socket_info info;
};

/// What the environment hands this process.
struct inherited_sockets {
    source from = source::none;
    std::vector<inherited_socket> sockets; ///< in the order of the environment

    /// True when a starter (or systemd) started this process, even with no sockets.
    bool is_under_starter() const noexcept { return from != source::none; }
};

/// The variables `from_env` reads; tests pass their own instead of the process environment.
struct env_view {
    std::optional<std::string> server_starter_port;
    std::optional<std::string> listen_fds;
    std::optional<std::string> listen_pid;
    std::optional<std::string> listen_fdnames;

    /// Read the four variables from the process environment.
    static env_view from_process();
};

/** The sockets this process inherited. `SERVER_STARTER_PORT` wins when set (even empty:
    "a starter, no sockets"); otherwise `LISTEN_FDS` when `LISTEN_PID` is this process's
    pid (systemd's rule; a wrong or missing LISTEN_PID means the variables were meant for
    another process and are ignored). Every descriptor is probed; one that is not a socket
    is an error naming its entry. Descriptors are left as inherited (not closed, flags kept). */
inherited_sockets from_env(const env_view& env, error& err);

/// From the process environment.
inherited_sockets from_env(error& err);

/// @throws listener_error
inherited_sockets from_env();

/// The generation from `SERVER_STARTER_GENERATION` (1 for the first worker), if set and numeric.
std::optional<unsigned long> generation();

/// Options for binding an address oneself.
struct bind_options {
    int backlog = 4096;
    bool is_datagram = false; ///< UDP instead of TCP (ignored for unix paths)
};

/** Create, bind and (for streams) listen on `address`, close-on-exec, `SO_REUSEADDR`, IPv6
    sockets `IPV6_V6ONLY`. `address` is a key as in SERVER_STARTER_PORT: `PORT` (all IPv4
    interfaces), `HOST:PORT` (first address `getaddrinfo` returns), `[V6]:PORT`, or a path
    (unix stream socket; an existing socket file there is replaced, any other file is an error). */
inherited_socket bind_address(std::string_view address, const bind_options& opts, error& err);

/// @throws listener_error
inherited_socket bind_address(std::string_view address, const bind_options& opts = {});

/** Inherit the sockets if a starter passed any, otherwise bind `fallback` oneself: the
    same program runs with and without a starter. Under a starter that passed no sockets
    (empty SERVER_STARTER_PORT) the result is empty: the starter decided. */
inherited_sockets listen_or_inherit(std::string_view fallback, const bind_options& opts,
                                    error& err);

/// @throws listener_error
inherited_sockets listen_or_inherit(std::string_view fallback, const bind_options& opts = {});

} // namespace baton::listener

template <>
struct std::is_error_code_enum<baton::listener::errc> : std::true_type {};
