#pragma once
// SPDX-License-Identifier: MIT

// The sd_notify side of start_server. `notify_socket` is the unix datagram socket workers
// get as NOTIFY_SOCKET under --readiness=notify (SO_PASSCRED: each datagram carries the
// sender's pid, so READY=1 is attributed to the right worker). `tell_systemd` reports
// start_server's own state to the service manager that started it.

#include "common/unique_fd.hpp"
#include "error.hpp"

#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::starter {

/// One READY=1 datagram: the sender's pid and MAINPID= if the message named one.
struct ready_message {
    pid_t sender = 0;
    pid_t main_pid = 0;
};

class notify_socket {
public:
    notify_socket() = default;
    notify_socket(const notify_socket&) = delete;
    notify_socket& operator=(const notify_socket&) = delete;

    /// Bind an abstract-namespace socket (nothing to clean up on disk). False + `err` on failure.
    bool open(setup_error& err);

    /// Take over a socket bound by the image this one replaced (an in-place upgrade).
    void adopt(baton::detail::unique_fd fd, std::string address) noexcept
    {
        fd_ = std::move(fd);
        address_ = std::move(address);
    }

    int fd() const noexcept { return fd_.get(); }

    /// The NOTIFY_SOCKET value for workers (`@baton-start_server/PID/N`).
    const std::string& address() const noexcept { return address_; }

    /// Read every pending datagram; the ones that say READY=1.
    std::vector<ready_message> drain();

private:
    baton::detail::unique_fd fd_;
    std::string address_;
};

/** Send `state` to the sd_notify socket at `address` (a path, or `@abstract`); `RELOADING=1`
    goes with `MONOTONIC_USEC=<now>`, as systemd's Type=notify-reload wants it. Best effort:
    returns false when the address is unusable or the send failed. */
bool tell_systemd(const std::string& address, std::string_view state);

/// The parent of `pid` from /proc (0 when unknown).
pid_t parent_of(pid_t pid);

} // namespace baton::starter
