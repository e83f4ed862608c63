#pragma once
// SPDX-License-Identifier: MIT

// The sd_notify client protocol, written by hand: tell the process that started this one
// (systemd, or baton's start_server) about state changes such as "ready".
//
// One `AF_UNIX`/`SOCK_DGRAM` datagram of newline-separated `KEY=VALUE` lines goes to the
// address in `NOTIFY_SOCKET`: an absolute path, or `@name` for a Linux abstract socket.
// When `NOTIFY_SOCKET` is unset or empty nobody is listening and every call is a no-op
// success, so a worker calls `ready()` unconditionally. Standard library and POSIX only.
//
// Thread safety: the functions that read `NOTIFY_SOCKET` call `getenv`, so they must not
// race with `setenv`/`unsetenv` in another thread; otherwise every function is safe to call
// from any thread. None of them touches the environment (the variable stays set, so a
// child process can notify too, as with `sd_notify(0, ...)`).

#include <string_view>
#include <system_error>
#include <type_traits>

namespace baton::notify {

/// Errors of this module; each message says what to fix.
enum class errc {
    invalid_socket_address = 1, ///< not an absolute path nor `@name` (relative, empty, NUL)
    send_failed,                ///< sendto() failed: nobody bound there, permission, timeout
    socket_address_too_long,    ///< the path or name does not fit `sockaddr_un::sun_path`
    unsupported_socket_address, ///< an `AF_VSOCK` address (`vsock:CID:PORT`), not supported
    socket_failed,              ///< socket() failed (descriptor limit reached)
    invalid_state,              ///< empty message, embedded NUL, or a newline in a status text
};

/// The error category of `errc` (name "baton.notify").
const std::error_category& category() noexcept;

/// Makes `errc` usable as a `std::error_code`.
std::error_code make_error_code(errc e) noexcept;

/// True when `NOTIFY_SOCKET` is set and not empty, i.e. when `send` would send something.
bool is_enabled() noexcept;

/** Send `state` (newline-separated `KEY=VALUE` lines, e.g. `"READY=1\nSTATUS=warm"`) as one
    datagram to the address in `NOTIFY_SOCKET`.
    Unset or empty `NOTIFY_SOCKET` is a no-op success; an empty `state` or one with a NUL
    byte is `errc::invalid_state` either way, so the bug shows without a receiver. The call
    may block while the
    receiver's queue is full, at most 5 seconds, then fails with `errc::send_failed`.
    @param ec set to an `errc` on failure, cleared on success (including the no-op). */
void send(std::string_view state, std::error_code& ec) noexcept;

/// @throws std::system_error whose `what()` names the address and the system's reason.
void send(std::string_view state);

/** As `send`, to an explicit `socket_address` written as in `NOTIFY_SOCKET` (absolute path
    or `@abstract`); the environment is not read. An empty address is
    `errc::invalid_socket_address` here: the caller asked for a destination. */
void send_to(std::string_view socket_address, std::string_view state, std::error_code& ec) noexcept;

/// @throws std::system_error whose `what()` names the address and the system's reason.
void send_to(std::string_view socket_address, std::string_view state);

/// `READY=1`: startup is complete, this process serves. Send it once it accepts connections.
void ready(std::error_code& ec) noexcept;

/// @throws std::system_error
void ready();

/// `STOPPING=1`: shutdown has begun (before draining connections).
void stopping(std::error_code& ec) noexcept;

/// @throws std::system_error
void stopping();

/** `RELOADING=1` plus `MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>`, as systemd's
    `Type=notify-reload` requires; send `READY=1` when the reload is done. */
void reloading(std::error_code& ec) noexcept;

/// @throws std::system_error
void reloading();

/// `STATUS=<text>`: a one-line, human-readable status. A newline in `text` is `invalid_state`.
void status(std::string_view text, std::error_code& ec) noexcept;

/// @throws std::system_error
void status(std::string_view text);

} // namespace baton::notify

template <>
struct std::is_error_code_enum<baton::notify::errc> : std::true_type {};
