#pragma once
// SPDX-License-Identifier: MIT

// Every line start_server writes. The Server::Starter 0.35 lines are verbatim (scripts grep
// them); baton's own lines use the same voice. Each function returns the line without `\n`.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace baton::starter::log_line {

std::string starting_now(pid_t self);                   ///< boot
std::string socket_duplicated(int fd);                  ///< `=FD` pin
std::string removing_socket(std::string_view path);     ///< stale unix socket
std::string starting_worker(pid_t pid);                 ///< after fork
std::string failed_to_start(pid_t pid, int raw_status); ///< candidate exited
std::string not_ready_in_time(pid_t pid, std::chrono::milliseconds waited);
std::string exec_failed(std::string_view argv0, std::string_view reason); ///< in the child
std::string received_hup();
std::string hup_coalesced();
std::string autorestart(std::chrono::seconds interval, bool is_forced);
std::string worker_ready(pid_t pid, std::chrono::milliseconds after);
std::string new_worker_running(std::string_view sig, const std::vector<pid_t>& old);
std::string sleeping_before_kill(std::chrono::seconds delay);
std::string killing_old_workers();
std::string old_worker_died(pid_t pid, int raw_status);
std::string worker_died_unexpectedly(pid_t pid, int raw_status);
std::string retrying_in(std::chrono::milliseconds delay, unsigned failures);
std::string received_term(std::string_view received, std::string_view sent,
                          const std::vector<pid_t>& workers);
/// A stop with --drain-delay: readiness is off, the workers serve on for `delay`.
std::string draining_before_stop(std::string_view received, std::chrono::milliseconds delay);
/// A second stop signal during the drain delay ends it.
std::string drain_delay_cut(std::string_view received);
std::string worker_died(pid_t pid, int raw_status);
std::string killing_after_timeout(pid_t pid, std::chrono::milliseconds waited);
std::string signal_ignored(std::string_view name, std::string_view why);
std::string exiting();
std::string stop_server_stopping(pid_t self, pid_t target);

/// `text` with control characters written as `\n`, `\t`, `\xNN`, so an echoed input never
/// breaks a log line in two.
std::string printable(std::string_view text);

/// `4720,4750`, or `none` when empty (Server::Starter's list shape).
std::string pid_list(std::vector<pid_t> pids);

/// Write `line` and a newline to stderr in one write(2) (lines from several processes
/// sharing the log never interleave mid-line).
void write(std::string_view line) noexcept;

} // namespace baton::starter::log_line
