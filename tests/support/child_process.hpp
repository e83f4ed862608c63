#pragma once
// SPDX-License-Identifier: MIT

// Processes a test starts, and bounded waiting.
//
// A `child_process` runs in its own process group (its pgid is its pid), so its destructor
// can `kill(-pgid, SIGKILL)` (the child and everything it forked that stayed in the group)
// and then reap the child by pid. Every process a test starts ends; none is found by name.
// Output (stdout and stderr together) goes to an unlinked temp file that `output()` reads
// at any time, so a test can wait for a log line. The child inherits stdio and the listed
// descriptors only: nothing the test opened leaks into it, close-on-exec or not.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::test {

/// How long a test waits, by default, for something a child process does: generous, so a
/// slow start (a sanitizer build on a loaded machine) is not mistaken for a failure.
inline constexpr std::chrono::milliseconds default_wait_timeout{20000};

/** Call `predicate` until it returns true or `timeout` has passed, pausing `poll_interval`
    between calls; it is called at least once and at most timeout / poll_interval + 2 times.
    @return true when `predicate` returned true. */
bool wait_until(const std::function<bool()>& predicate,
                std::chrono::milliseconds timeout = default_wait_timeout,
                std::chrono::milliseconds poll_interval = std::chrono::milliseconds{5});

/// How to start a child.
struct child_options {
    /// argv[0] is the program: a path, or a name looked up in `PATH`.
    std::vector<std::string> argv{};

    /// Environment changes over the test's own environment: a value sets or overrides the
    /// variable, `std::nullopt` removes it.
    std::map<std::string, std::optional<std::string>> env{};

    /// False: start from an empty environment, so the child sees `env`'s values alone.
    bool is_env_inherited = true;

    /// Working directory of the child; empty keeps the test's.
    std::filesystem::path working_dir{};

    /// Descriptors the child inherits under the same number (their close-on-exec flag is
    /// cleared in the child only). Every other descriptor above 2 is closed on exec.
    std::vector<int> inherit_fds{};

    /// Descriptors the child inherits under another number: {parent fd, child fd}, e.g.
    /// {listener, 3} for systemd's LISTEN_FDS.
    std::vector<std::pair<int, int>> map_fds{};

    /// Capture stdout and stderr into the output file; false leaves the test's own.
    bool is_output_captured = true;
};

/// A started process; killed (with its process group) and reaped on destruction.
class child_process {
public:
    /// Start `options.argv`. stdin is /dev/null; signal mask and the common signal
    /// dispositions are reset. @throws std::system_error when fork or exec fails.
    explicit child_process(child_options options);

    /// Convenience: `argv` with the test's environment.
    explicit child_process(std::vector<std::string> argv);

    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&& other) noexcept;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    /// SIGKILL the process group, reap the child. Never throws.
    /// The child is only observed (not reaped) before this, so its pid, which is also the
    /// process group id, cannot be reused while this object lives: signalling the group is
    /// always safe.
    ~child_process();

    pid_t pid() const noexcept { return pid_; }

    /// Send `signo` to the child (not its group). Returns false if it has already exited
    /// or kill() failed.
    bool signal(int signo) noexcept;

    /// Send `signo` to the child's whole process group.
    bool signal_group(int signo) noexcept;

    /// Wait for the child to exit until `deadline`. Returns the raw wait status
    /// (as `waitpid` gives it; see `describe_wait_status`), or nothing on timeout.
    /// Once it has exited, returns the same status again at once.
    std::optional<int> wait_for_exit(std::chrono::steady_clock::time_point deadline);

    /// Same, with a timeout from now.
    std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);

    /// The exit status (0-255) once the child has exited normally within `timeout`; nothing
    /// when it is still running at the timeout or was killed by a signal.
    std::optional<int> wait_for_exit_code(std::chrono::milliseconds timeout = default_wait_timeout);

    /// True while the child has not exited.
    bool is_running();

    /// The raw wait status once the child has exited.
    std::optional<int> wait_status() const noexcept { return status_; }

    /// Everything the child (and its descendants) wrote to stdout and stderr so far.
    std::string output() const;

    /// True when `output()` contains `needle` now.
    bool has_output(std::string_view needle) const;

    /// Wait until `output()` contains `needle`.
    bool wait_for_output(std::string_view needle,
                         std::chrono::milliseconds timeout = default_wait_timeout);

    /// Kill the process group now and reap the child; the destructor's work, made explicit.
    void kill_and_reap() noexcept;

private:
    bool observe_exit() noexcept;

    pid_t pid_ = -1;
    int pidfd_ = -1;  ///< readable when the child exits; -1 when pidfd_open is unavailable
    int output_ = -1; ///< the unlinked capture file
    std::optional<int> status_;
};

/// "exited with status 3", "killed by signal 9 (Killed)", ... for assertion messages.
std::string describe_wait_status(int raw_status);

/// True when `pid` no longer runs: no such process, or a zombie (whoever its parent is).
bool is_process_gone(pid_t pid);

/// True when bit `signo` is set in the `field` mask (`SigIgn:`, `SigBlk:`, ...) of
/// /proc/PID/status: is the signal ignored / blocked by that process.
bool is_signal_in_mask(pid_t pid, std::string_view field, int signo);

} // namespace baton::test
