#pragma once
// SPDX-License-Identifier: MIT

// start_server's in-place upgrade (SIGUSR2, deploy.md §1): the running image writes its
// state (state_record.hpp) into a memfd, lets the descriptors it carries survive the
// execve, and executes the binary it was started from under the same pid; the new image
// finds `--baton-state-fd=N` first in its arguments and resumes from the record instead of
// setting up. These are the process-level pieces; supervisor.cpp decides when.

#include "common/unique_fd.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::starter {

/// baton's own version (the project's), named in every upgrade log line.
std::string_view baton_version() noexcept;

/// How this process was started: what a later upgrade executes again.
struct invocation {
    std::string exe;               ///< absolute path of the executable, resolved at start-up
    std::vector<std::string> argv; ///< as given, argv[0] included, hidden options removed
    std::vector<std::string> env;  ///< environ at start-up, before start_server changed it
};

/// The hidden option an upgraded image gets first in its arguments.
inline constexpr std::string_view state_fd_option = "--baton-state-fd=";

/** `argv` and `environ` as this process got them, and its executable: `argv[0]` made
    absolute when it names a path, else /proc/self/exe's target (a PATH lookup's result).
    Resolved now because after a package upgrade the same path holds the new version. */
invocation current_invocation(int argc, char** argv);

/// When `inv.argv[1]` is `--baton-state-fd=N`: N, and the option removed. -1 when absent,
/// -2 (with `error`) when N is not a descriptor number.
int take_state_fd(invocation& inv, std::string& error);

/// The whole content of `fd` from offset 0 (at most `limit` bytes); nullopt + `error`.
std::optional<std::string> read_state(int fd, std::size_t limit, std::string& error);

/// An anonymous file holding `text`, close-on-exec; an empty descriptor + `error`.
detail::unique_fd state_memfd(std::string_view text, std::string& error);

/// Set or clear FD_CLOEXEC on `fd`.
bool set_cloexec(int fd, bool on) noexcept;

/// execve(2) `inv.exe` with `--baton-state-fd=state_fd` before the original arguments.
/// Returns only when the exec failed: the reason (strerror).
std::string exec_upgraded(const invocation& inv, int state_fd);

} // namespace baton::starter
