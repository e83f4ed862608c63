// SPDX-License-Identifier: MIT
#include "clients.hpp"

#include "common/unique_fd.hpp"
#include "file_text.hpp"
#include "log.hpp"
#include "pid_file.hpp"
#include "restart_record.hpp"
#include "status_file.hpp"
#include "supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

namespace baton::starter {

namespace {

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

constexpr milliseconds poll_step{20};

void pause_briefly()
{
    ::poll(nullptr, 0, static_cast<int>(poll_step.count()));
}

// Opens the pid file, checks that a start_server holds its lock, reads the pid.
struct held_pid_file {
    detail::unique_fd fd;
    pid_t pid = 0;
    std::string err;

    explicit held_pid_file(const std::string& path)
    {
        auto r = read_pid_file(path);
        fd = std::move(r.fd);
        pid = r.pid;
        err = std::move(r.err);
        if (err.empty() && !r.is_locked) // stale: that pid may belong to someone else by now
            err = "no start_server holds " + path + " (stale pid " + std::to_string(pid) +
                  "), nothing signalled";
    }

    bool is_released() const { return ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0; }
};

std::string read_or_empty(const std::string& path)
{
    return read_text_file(path).value_or(std::string());
}

} // namespace

int run_stop(const options& opts)
{
    held_pid_file pf(*opts.pid_file);
    if (!pf.err.empty()) {
        log_line::write(pf.err);
        return exit_client;
    }
    log_line::write(log_line::stop_server_stopping(::getpid(), pf.pid));
    if (::kill(pf.pid, SIGTERM) != 0) {
        log_line::write(std::string("failed to send SIGTERM to the server process:") +
                        std::strerror(errno));
        return exit_client;
    }
    // The server's drain delay (when this command line repeats it) comes before the drain.
    const milliseconds limit =
        opts.drain_delay.value_or(milliseconds(0)) +
        (opts.shutdown_timeout ? *opts.shutdown_timeout + milliseconds(30'000)
                               : milliseconds(120'000));
    const auto deadline = steady::now() + limit;
    while (steady::now() < deadline) {
        if (pf.is_released())
            return exit_ok;
        pause_briefly();
    }
    log_line::write("start_server (pid:" + std::to_string(pf.pid) + ") still running " +
                    std::to_string(limit.count()) + " ms after SIGTERM");
    return exit_client;
}

milliseconds restart_timeout(const options& opts)
{
    // The time a new generation may take to count as started, plus the old one's exit.
    using std::chrono::seconds;
    return std::max(opts.interval, seconds(0)) + opts.ready_timeout.value_or(milliseconds(10'000)) +
           opts.shutdown_timeout.value_or(milliseconds(0)) +
           std::max(opts.kill_old_delay.value_or(seconds(0)), seconds(0)) + milliseconds(3'000);
}

int run_restart(const options& opts)
{
    held_pid_file pf(*opts.pid_file);
    if (!pf.err.empty()) {
        log_line::write(pf.err);
        return exit_client;
    }
    const auto status_text = read_text_file(*opts.status_file);
    if (!status_text) {
        log_line::write("failed to open file:" + *opts.status_file + ":" + std::strerror(errno));
        return exit_client;
    }
    const auto before = parse_status_generations(*status_text);
    if (before.empty()) {
        log_line::write("no active process found in the status file");
        return exit_client;
    }
    const unsigned long newest = before.back();
    // The restart record (restart_record.hpp): attempts spawned after this HUP count more
    // HUPs than it does now. A start_server that keeps none (Perl's) is judged by the status
    // file alone, and a failed attempt there shows only as the deadline passing.
    const std::string record_path = restart_record_path(*opts.status_file);
    const auto record_before = read_text_file(record_path);
    const unsigned long hups_before = record_before ? parse_restart_record(*record_before).hups : 0;
    if (::kill(pf.pid, SIGHUP) != 0) {
        log_line::write(std::string("failed to send SIGHUP to the server process:") +
                        std::strerror(errno));
        return exit_client;
    }
    const milliseconds limit = restart_timeout(opts);
    const auto deadline = steady::now() + limit;
    std::vector<unsigned long> gens;
    while (steady::now() < deadline) {
        const auto record_text = read_text_file(record_path);
        const restart_record rec = parse_restart_record(record_text.value_or(std::string()));
        gens = parse_status_generations(read_or_empty(*opts.status_file));
        // A failure is checked first: it stays in the record, so it is never missed, however
        // fast the worker died and however late this loop looks.
        if (rec.failed && rec.failed->hups > hups_before) {
            const auto& f = *rec.failed;
            log_line::write("new worker " + (f.pid > 0 ? std::to_string(f.pid) + " " : "") +
                            "(generation " + std::to_string(f.generation) +
                            ") failed to start; start_server (pid:" + std::to_string(pf.pid) +
                            ") keeps the old generation serving and retries (" + f.why + ")");
            return exit_client;
        }
        const bool is_done = record_text
                                 ? rec.ready && rec.ready->hups > hups_before && !gens.empty() &&
                                       gens.front() >= rec.ready->generation
                                 : !gens.empty() && gens.front() > newest;
        if (is_done)
            return exit_ok; // a newer generation runs and every older one is gone
        if (pf.is_released()) {
            log_line::write("start_server (pid:" + std::to_string(pf.pid) +
                            ") exited before the restart completed");
            return exit_client;
        }
        pause_briefly();
    }
    std::string shown;
    for (auto g : gens) {
        if (!shown.empty())
            shown += ',';
        shown += std::to_string(g);
    }
    log_line::write("restart did not complete in " + std::to_string(limit.count()) +
                    " ms: status file shows generations " + (shown.empty() ? "none" : shown) +
                    ", waiting for one newer than " + std::to_string(newest) +
                    " and no older (the new worker failed to start, or an old one is still "
                    "draining)");
    return exit_client;
}

} // namespace baton::starter
