#pragma once
// SPDX-License-Identifier: MIT

// start_server's in-place upgrade (SIGUSR2, deploy.md §1): the running image writes its
// state (state_record.hpp) into a memfd, lets the descriptors it carries survive the
// execve, and executes the binary it was started from under the same pid; the new image
// finds `--baton-state-fd=N` first in its arguments and resumes from the record instead of
// setting up. These are the process-level pieces; supervisor.cpp decides when.

#include "common/unique_fd.hpp"
#include "machine.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::starter {

/// How this process was started: what a later upgrade executes again.
struct invocation {
    std::string exe;               ///< absolute path of the executable, resolved at start-up
    std::vector<std::string> argv; ///< as given, argv[0] included, hidden options removed
    std::vector<std::string> env;  ///< environ at start-up, before start_server changed it
    /// A rolled-back image: why the upgraded one could not take the state over.
    std::optional<std::string> failed_upgrade;
};

/// The preflight: the new image, run as a child with only this option and the state fd,
/// reads and validates the record, prints one line and exits 0, touching nothing else.
inline constexpr std::string_view check_option = "--baton-upgrade-check";

/// How long a preflight may take before it counts as failed (and is killed); the
/// `--upgrade` client waits this long and more.
inline constexpr std::chrono::milliseconds preflight_timeout{10'000};

/** The preflight child's part (preflight.hpp forks it): its stdout and stderr to `out`, then
    `inv.exe --baton-upgrade-check --baton-state-fd=3` with `state_fd` as descriptor 3 and
    nothing else of start_server's (the listeners, the health socket: a check that hangs must
    not hold them). Exits 127 with `exec: WHY` on `out` when the exec fails. */
[[noreturn]] void exec_check(const invocation& inv, int state_fd, int out);

/// The hidden options an upgraded image gets first in its arguments, in this order.
inline constexpr std::string_view state_fd_option = "--baton-state-fd=";
inline constexpr std::string_view rollback_fd_option = "--baton-rollback-fd=";
inline constexpr std::string_view failed_option = "--baton-upgrade-failed=";

/** `argv` and `environ` as this process got them, and its executable: `argv[0]` made
    absolute when it names a path, else /proc/self/exe's target (a PATH lookup's result).
    Resolved now because after a package upgrade the same path holds the new version. */
invocation current_invocation(int argc, char** argv);

/// When `inv.argv[1]` is `OPTION=N` (`option` ends with `=`): N, and the option removed.
/// -1 when absent, -2 (with `error`) when N is not a descriptor number.
int take_fd_option(invocation& inv, std::string_view option, std::string& error);

inline int take_state_fd(invocation& inv, std::string& error)
{
    return take_fd_option(inv, state_fd_option, error);
}

/// When `inv.argv[1]` is `--baton-upgrade-failed=REASON`: REASON, and the option removed.
std::optional<std::string> take_failed_option(invocation& inv);

/// The running executable, close-on-exec: what a rollback executes, even once the file on
/// disk was replaced or removed.
detail::unique_fd open_running_executable() noexcept;

/// The whole content of `fd` from offset 0 (at most `limit` bytes); nullopt + `error`.
std::optional<std::string> read_state(int fd, std::size_t limit, std::string& error);

/// An anonymous file holding `text`, close-on-exec; an empty descriptor + `error`.
detail::unique_fd state_memfd(std::string_view text, std::string& error);

/// Set or clear FD_CLOEXEC on `fd`.
bool set_cloexec(int fd, bool on) noexcept;

/// execve(2) `inv.exe` with `--baton-state-fd=state_fd --baton-rollback-fd=rollback_fd`
/// before the original arguments. Returns only when the exec failed: the reason (strerror).
std::string exec_upgraded(const invocation& inv, int state_fd, int rollback_fd);

/// fexecve(2) `rollback_fd` (the image before) with the state and why it came back.
/// Returns only when the exec failed: the reason.
std::string exec_rollback(const invocation& inv, int rollback_fd, int state_fd,
                          std::string_view why);

struct upgrade_state;

/// An upgraded (or rolled-back) image's first acts, once its machine resumed from `r`:
/// workers that exited in the window are reaped (their SIGCHLD may have come before the
/// signalfd), the result is logged, and systemd hears the reload ended.
void finish_upgrade(const upgrade_state& r, const invocation& self, effects& fx, machine& m);

} // namespace baton::starter
