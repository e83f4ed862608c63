#pragma once
// SPDX-License-Identifier: MIT

// Systemd socket activation for one test: sockets where systemd puts them (descriptors 3,
// 4, ...) and the variables that say so. The worker's tests and start_server's use it, as
// both read LISTEN_FDS through the same baton::listener code.

#include <baton/listener.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <optional>
#include <string>

namespace baton::test {

/// Moves descriptors onto fixed numbers (systemd passes 3, 4, ...) and puts back what was there.
class fd_placement {
public:
    fd_placement(int target, int source)
        : target_(target)
    {
        saved_ = ::fcntl(target, F_DUPFD_CLOEXEC, 100);
        ::dup2(source, target);
    }

    fd_placement(const fd_placement&) = delete;
    fd_placement& operator=(const fd_placement&) = delete;

    ~fd_placement()
    {
        if (saved_ >= 0) {
            ::dup2(saved_, target_);
            ::close(saved_);
        } else {
            ::close(target_);
        }
    }

private:
    int target_;
    int saved_;
};

/// The variables systemd sets for `count` descriptors; LISTEN_PID is this process by default.
inline baton::listener::env_view systemd_env(int count, std::optional<std::string> names,
                                             std::string pid = std::to_string(::getpid()))
{
    baton::listener::env_view env;
    env.listen_fds = std::to_string(count);
    env.listen_pid = std::move(pid);
    env.listen_fdnames = std::move(names);
    return env;
}

} // namespace baton::test
