// SPDX-License-Identifier: MIT
#include "clients.hpp"

#include "log.hpp"
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
#include <fstream>
#include <map>
#include <set>
#include <sstream>
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
    int fd = -1;
    pid_t pid = 0;
    std::string err;

    explicit held_pid_file(const std::string& path)
    {
        fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            err = "failed to open file:" + path + ":" + std::strerror(errno);
            return;
        }
        char buf[32] = {};
        const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
        pid = n > 0 ? static_cast<pid_t>(std::atol(buf)) : 0;
        if (pid <= 0) {
            err = "no pid in file:" + path;
            return;
        }
        // An unlocked pid file is stale: that pid may belong to someone else by now.
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
            ::flock(fd, LOCK_UN);
            err = "no start_server holds " + path + " (stale pid " + std::to_string(pid) +
                  "), nothing signalled";
        }
    }

    ~held_pid_file()
    {
        if (fd >= 0)
            ::close(fd);
    }

    held_pid_file(const held_pid_file&) = delete;
    held_pid_file& operator=(const held_pid_file&) = delete;

    bool is_released() const { return ::flock(fd, LOCK_EX | LOCK_NB) == 0; }
};

// The children of `pid` (a one-thread process), from /proc.
std::vector<pid_t> children_of(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    std::vector<pid_t> out;
    for (long child = 0; in >> child;)
        out.push_back(static_cast<pid_t>(child));
    return out;
}

// SERVER_STARTER_GENERATION in the environment `pid` was exec'd with (0: none or unreadable;
// a child forked but not yet exec'd still shows start_server's own 0).
unsigned long generation_of_process(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    constexpr std::string_view key = "SERVER_STARTER_GENERATION=";
    for (std::string var; std::getline(in, var, '\0');)
        if (var.starts_with(key))
            return std::strtoul(var.c_str() + key.size(), nullptr, 10);
    return 0;
}

std::string read_file(const std::string& path, bool& ok)
{
    std::ifstream in(path);
    ok = static_cast<bool>(in);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
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
    const milliseconds limit = opts.shutdown_timeout ? *opts.shutdown_timeout + milliseconds(30'000)
                                                     : milliseconds(120'000);
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
    const milliseconds interval(std::max(0L, opts.interval) * 1000);
    return interval + opts.ready_timeout.value_or(milliseconds(10'000)) +
           opts.shutdown_timeout.value_or(milliseconds(0)) +
           milliseconds(std::max(0L, opts.kill_old_delay.value_or(0)) * 1000) + milliseconds(3'000);
}

int run_restart(const options& opts)
{
    held_pid_file pf(*opts.pid_file);
    if (!pf.err.empty()) {
        log_line::write(pf.err);
        return exit_client;
    }
    bool ok = false;
    const auto before = parse_status_generations(read_file(*opts.status_file, ok));
    if (!ok) {
        log_line::write("failed to open file:" + *opts.status_file + ":" + std::strerror(errno));
        return exit_client;
    }
    if (before.empty()) {
        log_line::write("no active process found in the status file");
        return exit_client;
    }
    const unsigned long newest = before.back();
    if (::kill(pf.pid, SIGHUP) != 0) {
        log_line::write(std::string("failed to send SIGHUP to the server process:") +
                        std::strerror(errno));
        return exit_client;
    }
    const milliseconds limit = restart_timeout(opts);
    const auto deadline = steady::now() + limit;
    std::vector<unsigned long> gens;
    // New workers seen as start_server's children: pid -> generation (0: not exec'd yet).
    // One that disappears before its generation ever shows in the status file failed to
    // start; report it at once instead of waiting for the deadline.
    std::map<pid_t, unsigned long> candidates;
    std::set<unsigned long> seen_in_status;
    while (steady::now() < deadline) {
        const std::vector<pid_t> kids = children_of(pf.pid);
        gens = parse_status_generations(read_file(*opts.status_file, ok));
        seen_in_status.insert(gens.begin(), gens.end());
        if (!gens.empty() && gens.front() > newest)
            return exit_ok; // a newer generation runs and every older one is gone
        if (pf.is_released()) {
            log_line::write("start_server (pid:" + std::to_string(pf.pid) +
                            ") exited before the restart completed");
            return exit_client;
        }
        for (auto it = candidates.begin(); it != candidates.end();) {
            const auto [pid, gen] = *it;
            const bool is_gone = std::find(kids.begin(), kids.end(), pid) == kids.end();
            const bool was_up = gen != 0
                                    ? seen_in_status.contains(gen)
                                    : seen_in_status.upper_bound(newest) != seen_in_status.end();
            if (is_gone && !was_up) {
                log_line::write("new worker " + std::to_string(pid) +
                                (gen ? " (generation " + std::to_string(gen) + ")" : "") +
                                " failed to start; start_server (pid:" + std::to_string(pf.pid) +
                                ") keeps the old generation serving and retries");
                return exit_client;
            }
            it = is_gone ? candidates.erase(it) : std::next(it);
        }
        for (pid_t kid : kids) {
            const unsigned long gen = generation_of_process(kid);
            const auto known = candidates.find(kid);
            if (known != candidates.end())
                known->second = gen;
            else if (gen == 0 || gen > newest)
                candidates.emplace(kid, gen);
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
