#pragma once
// SPDX-License-Identifier: MIT

// start_server's set-up errors: an enumerated code (for programs) and the one line that
// names the input and the reason (for people), e.g.
// `failed to bind to 127.0.0.1:8080:Address already in use`.

#include <string>
#include <system_error>
#include <type_traits>

namespace baton::starter {

/// Why start_server could not set up; each makes it exit 2 before spawning anything.
enum class errc {
    bad_port_spec = 1,    ///< a `--port` value matches no Server::Starter pattern
    resolve_failed,       ///< a `--port` host did not resolve to an address
    socket_failed,        ///< socket(2) or fcntl(2) on a new socket failed
    bind_failed,          ///< bind(2) failed: the address is in use, or not ours
    listen_failed,        ///< listen(2) failed, or a `--path` could not be listened on
    pin_failed,           ///< moving a socket to its `=FD` number failed
    path_not_a_socket,    ///< a `--path` names an existing file that is not a socket
    stale_socket,         ///< an old socket file at a `--path` could not be removed
    listen_fds_invalid,   ///< LISTEN_FDS is malformed or names a non-socket
    port_env_invalid,     ///< a key cannot be written into SERVER_STARTER_PORT
    pid_file_failed,      ///< the pid file could not be opened or written
    pid_file_locked,      ///< another start_server holds the pid file's lock
    log_file_failed,      ///< the `--log-file` file or command could not be opened
    daemonize_failed,     ///< fork(2) failed while daemonizing
    notify_socket_failed, ///< the readiness socket could not be created
    signalfd_failed,      ///< signalfd(2) failed
    health_failed,        ///< the `--health` address could not be listened on
};

/// The error category of `errc` (name "baton.starter").
const std::error_category& category() noexcept;

/// Makes `errc` usable as a `std::error_code`.
std::error_code make_error_code(errc e) noexcept;

/// A set-up error: its code and the line start_server prints.
struct setup_error {
    std::error_code code;
    std::string message;

    explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

} // namespace baton::starter

template <>
struct std::is_error_code_enum<baton::starter::errc> : std::true_type {};
