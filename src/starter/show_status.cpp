// SPDX-License-Identifier: MIT
#include "show_status.hpp"

#include "file_text.hpp"
#include "log.hpp"
#include "pid_file.hpp"
#include "status_report.hpp"
#include "supervisor.hpp"
#include "upgrade.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>

namespace baton::starter {

namespace {

// The pid in the pid file when a live start_server holds it; else 0 and `err` says why.
pid_t running_pid(const std::string& path, std::string& err)
{
    const auto r = read_pid_file(path);
    if (!r.err.empty()) {
        err = r.err;
        return 0;
    }
    // The lock says a start_server still runs (the pid alone may have been reused); kill 0
    // says the pid it wrote is that one (EPERM: alive, another user's).
    if (!r.is_locked || (::kill(r.pid, 0) != 0 && errno != EPERM)) {
        err = "start_server is not running (" + path + ": stale pid " + std::to_string(r.pid) + ")";
        return 0;
    }
    return r.pid;
}

std::int64_t monotonic_now_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// The snapshot of the start_server running as `pid`; nullopt and `err` (one line) when it
// has none that is its own.
std::optional<status_snapshot> snapshot_of(const std::string& pid_file, pid_t pid, std::string& err)
{
    const std::string path = status_snapshot_path(pid_file);
    const auto text = read_text_file(path);
    const std::string who = "no status from start_server (pid " + std::to_string(pid) + "): ";
    if (!text) {
        err = who + "failed to read " + path + ":" + std::strerror(errno);
        return std::nullopt;
    }
    auto snapshot = read_snapshot(*text, err);
    if (!snapshot) {
        err = who + path + ": " + err;
        return std::nullopt;
    }
    if (snapshot->starter.pid != pid) {
        err = who + path + " is pid " + std::to_string(snapshot->starter.pid) + "'s, stale";
        return std::nullopt;
    }
    return snapshot;
}

} // namespace

int run_upgrade(const options& opts)
{
    std::string err;
    const pid_t pid = running_pid(*opts.pid_file, err);
    const auto before = pid != 0 ? snapshot_of(*opts.pid_file, pid, err) : std::nullopt;
    if (!before) {
        log_line::write(err);
        return exit_client;
    }
    if (::kill(pid, SIGUSR2) != 0) {
        log_line::write(std::string("failed to send SIGUSR2 to the server process:") +
                        std::strerror(errno));
        return exit_client;
    }
    const auto limit = preflight_timeout + std::chrono::seconds(10);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        const timespec step{0, 20'000'000};
        ::nanosleep(&step, nullptr);
        if (running_pid(*opts.pid_file, err) != pid) {
            log_line::write("upgrade failed: start_server (pid " + std::to_string(pid) +
                            ") is gone");
            return exit_client;
        }
        const auto now = snapshot_of(*opts.pid_file, pid, err); // between two writes: retry
        if (!now)
            continue;
        if (now->starter.upgrades_failed > before->starter.upgrades_failed) {
            const std::string& last = now->starter.last_upgrade;
            log_line::write("upgrade failed: " +
                            (last.starts_with("failed: ") ? last.substr(8) : last));
            return exit_client;
        }
        // An image that resumed from an older format's record, which lacks the counters,
        // counts from 0 again: another version saying its upgrade is done has taken over too.
        if (now->starter.upgrades_done > before->starter.upgrades_done ||
            (now->starter.version != before->starter.version &&
             now->starter.last_upgrade == "done")) {
            log_line::write("start_server (pid " + std::to_string(pid) + ") upgraded to baton " +
                            now->starter.version + ", " + std::to_string(now->workers.size()) +
                            " workers kept");
            return exit_ok;
        }
    }
    log_line::write("upgrade failed: no result from start_server (pid " + std::to_string(pid) +
                    ") in " + std::to_string(limit.count()) + " ms");
    return exit_client;
}

int run_show_status(const options& opts)
{
    std::string err;
    const pid_t pid = running_pid(*opts.pid_file, err);
    if (pid == 0) {
        log_line::write(err);
        return exit_client;
    }
    const auto snapshot = snapshot_of(*opts.pid_file, pid, err);
    if (!snapshot) {
        log_line::write(err);
        return exit_no_status;
    }
    const std::int64_t now = monotonic_now_ns();
    const std::string out =
        opts.is_json ? format_status_json(*snapshot, now) : format_status_text(*snapshot, now);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? exit_ok : exit_client;
}

} // namespace baton::starter
