#pragma once
// SPDX-License-Identifier: MIT

// The pid file: `PID\n`, flock(LOCK_EX)ed for the starter's whole life on a close-on-exec
// descriptor, unlinked before the lock is released (so `--stop`, which waits on the lock,
// is pid-reuse safe, and a second instance is refused instead of clobbering it).

#include "common/unique_fd.hpp"
#include "error.hpp"

#include <sys/types.h>

#include <string>
#include <utility>

namespace baton::starter {

class pid_file {
public:
    pid_file() = default;
    pid_file(const pid_file&) = delete;
    pid_file& operator=(const pid_file&) = delete;
    pid_file(pid_file&& other) noexcept;
    pid_file& operator=(pid_file&& other) noexcept;
    ~pid_file();

    /** Create or open `path`, lock it without blocking and write this process's pid.
        On failure returns false with `err` naming the file and the reason; a file this call
        created is removed again. */
    bool acquire(const std::string& path, setup_error& err);

    /// Take over `fd`, already locked, for `path` (an upgraded image: the lock is the open
    /// file description's, so it survived the execve).
    void adopt(std::string path, detail::unique_fd fd) noexcept
    {
        path_ = std::move(path);
        fd_ = std::move(fd);
    }

    int fd() const noexcept { return fd_.get(); }

    const std::string& path() const noexcept { return path_; }

    /// Rewrite the pid (after --daemonize forked).
    bool rewrite(setup_error& err);

    /// Unlink the file, then close (and so unlock) it. Idempotent.
    void release() noexcept;

    bool is_held() const noexcept { return fd_.is_open(); }

private:
    std::string path_;
    detail::unique_fd fd_;
};

/// A client's reading of a running start_server's pid file (`--stop`, `--restart`,
/// `--show-status`, `--upgrade`): the descriptor, kept open while the client waits, the pid
/// in it, and whether a process holds the file's lock (if not, the pid is stale and may be
/// someone else's by now). `err` is one line when the file cannot be opened or holds no pid.
struct pid_file_reading {
    detail::unique_fd fd;
    pid_t pid = 0;
    bool is_locked = false;
    std::string err;
};

pid_file_reading read_pid_file(const std::string& path);

} // namespace baton::starter
