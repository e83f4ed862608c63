#pragma once
// SPDX-License-Identifier: MIT

// The listening sockets: created once, before any worker, and inherited by every generation
// (so no queued connection is lost across a restart). `--port` values in order, then
// `--path` values, as Server::Starter does; or the sockets systemd passed (LISTEN_FDS).

#include "error.hpp"

#include <baton/listener.hpp>

#include <optional>
#include <string>
#include <vector>

namespace baton::starter {

/// One socket handed on to workers.
struct listener_socket {
    int fd = -1;
    std::string key;                        ///< its SERVER_STARTER_PORT key
    std::optional<std::string> socket_path; ///< a unix socket file this process created
};

/** Bind every `ports` then `paths` entry (SO_REUSEADDR, IPV6_V6ONLY for IPv6, `backlog`),
    move `=FD` sockets to their descriptor, and clear FD_CLOEXEC on them. Writes Server::Starter's
    `socket is duplicated...` / `removing existing socket file:...` lines. On failure closes
    what it made, removes socket files it created, and returns false with `err` set to one
    line (Server::Starter's wording where it has one). A regular file at a `--path` is an
    error, never deleted. */
bool bind_listeners(const std::vector<std::string>& ports, const std::vector<std::string>& paths,
                    int backlog, std::vector<listener_socket>& out, setup_error& err);

/** The sockets systemd passed, when LISTEN_PID is this process: fds 3..3+LISTEN_FDS-1 as
    baton::listener reads them for a worker (LISTEN_FDNAMES checked, each descriptor probed),
    keyed by their bound address (`listener::make_key`) and no longer close-on-exec.
    SERVER_STARTER_PORT is not read. nullopt when there are none for us; an error in `err`
    (baton::listener's line) when the variables are malformed or a descriptor is not a bound
    socket. */
std::optional<std::vector<listener_socket>> systemd_listeners(const baton::listener::env_view& env,
                                                              setup_error& err);

/// From the process environment.
std::optional<std::vector<listener_socket>> systemd_listeners(setup_error& err);

/// The SERVER_STARTER_PORT value for `sockets`, through baton::listener's formatter.
std::string port_env_value(const std::vector<listener_socket>& sockets, setup_error& err);

/// Close every socket and remove the socket files this process created (only sockets).
void close_listeners(std::vector<listener_socket>& sockets) noexcept;

} // namespace baton::starter
