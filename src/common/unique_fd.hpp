#pragma once
// SPDX-License-Identifier: MIT

// baton::detail::unique_fd: the one owner of a file descriptor, for every library and
// start_server (private: not installed). Closing never changes errno, so an error path can
// drop its descriptors and still report the errno of the call that failed.

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace baton::detail {

class unique_fd {
public:
    unique_fd() noexcept = default;

    explicit unique_fd(int fd) noexcept
        : fd_(fd)
    {}

    unique_fd(unique_fd&& other) noexcept
        : fd_(other.release())
    {}

    unique_fd& operator=(unique_fd&& other) noexcept
    {
        reset(other.release());
        return *this;
    }

    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;

    ~unique_fd() { reset(); }

    [[nodiscard]] int get() const noexcept { return fd_; }

    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }

    explicit operator bool() const noexcept { return is_open(); }

    /// Gives the descriptor up without closing it; the object is empty afterwards.
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

    /// Closes the descriptor held (if any, and if it is not `fd`) and holds `fd` instead.
    void reset(int fd = -1) noexcept
    {
        const int old = std::exchange(fd_, fd);
        if (old >= 0 && old != fd) {
            const int saved = errno;
            ::close(old);
            errno = saved;
        }
    }

    friend void swap(unique_fd& a, unique_fd& b) noexcept { std::swap(a.fd_, b.fd_); }

private:
    int fd_ = -1;
};

} // namespace baton::detail
