#pragma once
// SPDX-License-Identifier: MIT

// An upgrade's preflight (docs/design.md §2.6): the new image run as a child in check mode on
// a copy of the state, watched by the supervisor's loop instead of waited for. Its output pipe
// is one more descriptor the loop polls, its deadline one more poll deadline; meanwhile
// signals, READY=1 and the health endpoint are served as usual.

#include "common/unique_fd.hpp"
#include "machine.hpp"
#include "upgrade.hpp"

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace baton::starter {

/// The preflight's time limit: preflight_timeout, or for tests BATON_TEST_PREFLIGHT_TIMEOUT_MS.
std::chrono::milliseconds preflight_time_limit();

/// One preflight child. Never left behind: the destructor kills and reaps one still running.
class preflight {
public:
    /** Fork `inv.exe --baton-upgrade-check --baton-state-fd=3` with `state_fd` (the state's
        memfd: the child reads it with pread) as its descriptor 3, its output on a pipe.
        Nullopt and `error` (`pipe: ...`, `fork: ...`) when there is no child. */
    static std::optional<preflight> start(const invocation& inv, int state_fd,
                                          std::chrono::milliseconds timeout, std::string& error);

    preflight(preflight&& other) noexcept;
    preflight& operator=(preflight&& other) noexcept;
    preflight(const preflight&) = delete;
    preflight& operator=(const preflight&) = delete;
    ~preflight();

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

    /// Its output pipe, for poll(2); -1 once the child's end closed.
    [[nodiscard]] int fd() const noexcept { return out_.get(); }

    [[nodiscard]] clock::time_point deadline() const noexcept { return deadline_; }

    /// Read what the child wrote. At end of file the pipe is closed and the child reaped, by
    /// its pid, if it has exited.
    void on_readable();

    /// The child's wait status, when the supervisor's waitpid(-1) reaped it: its exit is the
    /// upgrade's to judge, never the machine's.
    void on_exit(int status) noexcept { status_ = status; }

    /// True once there is a verdict: the child exited and its pipe closed, or `now` is past
    /// the deadline.
    [[nodiscard]] bool is_done(clock::time_point now) const noexcept;
    /** Once is_done: empty when the child exited 0; else the reason, one line (`exec: ...`,
        what the new image printed, `exit status N`, `killed by signal N`, `timed out after N
        ms`). A child still running at its deadline is killed and reaped first. */
    std::string verdict();
    /// Kill the child and reap it (the upgrade is cancelled).
    void cancel() noexcept;

private:
    preflight(pid_t pid, detail::unique_fd out, std::chrono::milliseconds timeout);

    pid_t pid_ = -1;
    detail::unique_fd out_;
    std::string output_; ///< its first 4 kB
    std::optional<int> status_;
    std::chrono::milliseconds timeout_;
    clock::time_point deadline_;
};

} // namespace baton::starter
