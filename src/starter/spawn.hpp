#pragma once
// SPDX-License-Identifier: MIT

// Fork and exec one worker.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace baton::starter {

/** Fork; in the child: default signal dispositions and an empty signal mask (SIGPIPE is
    not left ignored), chdir to `dir` if given, execvp `argv` with `env`. A child that cannot
    chdir or exec prints Server::Starter's line (`failed to chdir:DIR:ERR`,
    `failed to exec ARGV0ERRSTR`) and exits 255. Returns the pid, or -1 if fork failed. */
pid_t spawn_worker(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   const std::optional<std::string>& dir);

} // namespace baton::starter
