#pragma once
// SPDX-License-Identifier: MIT

// Leaving the terminal: `--log-file` (a file, or `| command` fed through a pipe) and
// `--daemonize` (fork, setsid, fork, as Server::Starter does).

#include "common/unique_fd.hpp"
#include "error.hpp"

#include <string>

namespace baton::starter {

/// What `--log-file spec` writes to: `spec` opened for appending, or the write end of a pipe
/// into `| command`, which runs under /bin/sh in a session of its own (so a Ctrl-C aimed at
/// start_server's group leaves it to read the last lines). Empty, with `err` set, on failure.
detail::unique_fd open_log_target(const std::string& spec, setup_error& err);

/// stdout and stderr to `open_log_target(spec)`. False, with `err` set, on failure.
bool open_log(const std::string& spec, setup_error& err);

/// Detach: fork, setsid, fork; the parents exit 0 at once. stdin becomes /dev/null unless it
/// is one of the listening sockets (`is_stdin_pinned`). False, with `err` set, on failure.
bool daemonize(bool is_stdin_pinned, setup_error& err);

} // namespace baton::starter
