#pragma once
// SPDX-License-Identifier: MIT

// start_server's command line: every Server::Starter 0.35 option, parsed as Perl's
// Getopt::Long does by default (`--opt=v`, `--opt v`, single dash, case-insensitive unique
// prefixes, options permuted with the program's arguments until `--`), plus baton's own.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::starter {

/// How a new generation counts as started.
enum class readiness {
    interval, ///< still alive `--interval` seconds after fork (Server::Starter's rule)
    notify,   ///< sent `READY=1` on the NOTIFY_SOCKET start_server passes it
};

/// What the command line asks for.
enum class mode { run, restart, stop, show_status, upgrade, help, version };

/// The parsed command line. Optional fields are unset when not given (defaults apply later,
/// some of them depending on the environment, as in Server::Starter).
struct options {
    mode what = mode::run;
    std::vector<std::string> ports;         ///< `--port`, in command-line order
    std::vector<std::string> paths;         ///< `--path`, in command-line order
    std::optional<std::string> dir;         ///< `--dir`
    std::chrono::seconds interval{1};       ///< `--interval`
    std::string signal_on_hup = "TERM";     ///< normalised: upper case, no `SIG` prefix
    std::string signal_on_term = "TERM";    ///< normalised
    std::optional<std::string> pid_file;    ///< `--pid-file`
    std::optional<std::string> status_file; ///< `--status-file`
    std::optional<std::string> envdir;      ///< `--envdir`
    std::optional<std::string> log_file;    ///< `--log-file` (a file, or `| command`)
    bool is_daemonize = false;              ///< `--daemonize`
    bool is_json = false;                   ///< `--json` (with `--show-status`)
    bool is_auto_restart = false;           ///< `--enable-auto-restart`
    std::optional<std::chrono::seconds> auto_restart_interval; ///< `--auto-restart-interval`
    std::optional<std::chrono::seconds> kill_old_delay;        ///< `--kill-old-delay`
    std::optional<long> backlog;                               ///< `--backlog`
    readiness ready_mode = readiness::interval;                ///< `--readiness`
    std::optional<std::chrono::milliseconds> ready_timeout;    ///< `--ready-timeout` (seconds)
    std::optional<std::chrono::milliseconds> shutdown_timeout; ///< `--shutdown-timeout`
    std::optional<std::chrono::milliseconds> drain_delay;      ///< `--drain-delay` (seconds)
    std::optional<std::string> health;                         ///< `--health=[HOST:]PORT`
    std::vector<std::string> command;                          ///< the server program and its args
    /// Lines for stderr about what was accepted as written but looks like a mistake (a value
    /// taken from the next word that starts with `--`).
    std::vector<std::string> warnings;
};

/// A parse failure: one line, as Getopt::Long or Server::Starter words it.
struct options_error {
    std::string message;
};

/** Parse `args` (argv without argv[0]). On failure returns nullopt and fills `err`.
    Checks what Server::Starter's script checks: `--daemonize` needs `--log-file`, a program
    is required unless a client mode, help or version is asked for. */
std::optional<options> parse_options(const std::vector<std::string>& args, options_error& err);

/// `TERM`, `sigterm`, `SIGTERM` → `TERM` (Server::Starter's normalisation).
std::string normalise_signal_name(std::string_view name);

/// Seconds as written on the command line (`5`, `0.25`) → milliseconds; nullopt if invalid.
std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text);

/// The `--help` text (kept in sync with docs/start_server.md by a test).
std::string_view help_text() noexcept;

/// The version `--version` prints (Server::Starter's, which scripts compare against).
inline constexpr std::string_view version_text = "0.35";

} // namespace baton::starter
