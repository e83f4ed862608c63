#pragma once
// SPDX-License-Identifier: MIT

// The sd_notify wire format, shared by baton::notify (the client) and start_server (which
// binds the socket workers notify and reports its own state to systemd): the one parser of a
// `NOTIFY_SOCKET` address and the one formatter of `MONOTONIC_USEC`. Private: not installed.

#include <baton/notify.hpp>

#include <sys/socket.h>
#include <sys/un.h>

#include <array>
#include <cstdint>
#include <string_view>

namespace baton::notify::detail {

/// A unix socket address and the length to pass to bind(2) or sendmsg(2).
struct unix_address {
    sockaddr_un sa{};
    socklen_t length = 0;
};

/** Parse a `NOTIFY_SOCKET` value: `/absolute/path` (the length counts its NUL) or
    `@abstract` (a leading NUL, no trailing one). Fails with `invalid_socket_address` (empty,
    relative, NUL inside, `@` alone), `socket_address_too_long` (over 107 bytes) or
    `unsupported_socket_address` (`vsock:`); `errc{}` on success. */
errc parse_address(std::string_view text, unix_address& out) noexcept;

/// The `CLOCK_MONOTONIC` time now, in microseconds, as `MONOTONIC_USEC=` carries it.
std::uint64_t monotonic_usec() noexcept;

/// `RELOADING=1\nMONOTONIC_USEC=<usec>`, as systemd's `Type=notify-reload` requires it,
/// formatted without allocating (the notify calls are noexcept).
class reloading_message {
public:
    /// At the time now.
    reloading_message() noexcept;

    explicit reloading_message(std::uint64_t usec) noexcept;

    std::string_view text() const noexcept { return {buffer_.data(), size_}; }

private:
    std::array<char, 48> buffer_{};
    std::size_t size_ = 0;
};

} // namespace baton::notify::detail
