// SPDX-License-Identifier: MIT
#include "log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace baton::starter::log_line {

namespace {

std::string n(long long v)
{
    return std::to_string(v);
}

std::string ms(std::chrono::milliseconds d)
{
    return std::to_string(d.count()) + " ms";
}

} // namespace

std::string printable(std::string_view text)
{
    std::string out;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (u < 0x20 || u == 0x7f) {
            constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += c;
        }
    }
    return out;
}

std::string pid_list(std::vector<pid_t> pids)
{
    if (pids.empty())
        return "none";
    std::sort(pids.begin(), pids.end());
    std::string out;
    for (pid_t p : pids) {
        if (!out.empty())
            out += ','; // appended, not `"," + s`: GCC 12 -O3 misreports that (-Wrestrict)
        out += n(p);
    }
    return out;
}

std::string starting_now(pid_t self)
{
    return "start_server (pid:" + n(self) + ") starting now...";
}

std::string socket_duplicated(int fd)
{
    return "socket is duplicated to file descriptor " + n(fd);
}

std::string removing_socket(std::string_view path)
{
    return "removing existing socket file:" + std::string(path);
}

std::string starting_worker(pid_t pid)
{
    return "starting new worker " + n(pid);
}

std::string failed_to_start(pid_t pid, int raw_status)
{
    return "new worker " + n(pid) + " seems to have failed to start, exit status:" + n(raw_status);
}

std::string not_ready_in_time(pid_t pid, std::chrono::milliseconds waited)
{
    return "new worker " + n(pid) + " seems to have failed to start, not ready after " +
           ms(waited) + ", sending KILL";
}

std::string exec_failed(std::string_view argv0, std::string_view reason)
{
    // Server::Starter prints "failed to exec ARGV0ERRSTR" with no separator; kept so.
    return "failed to exec " + std::string(argv0) + std::string(reason);
}

std::string received_hup()
{
    return "received HUP, spawning a new worker";
}

std::string hup_coalesced()
{
    return "received HUP while a new worker is starting, one more restart will follow it";
}

std::string autorestart(std::chrono::seconds interval, bool is_forced)
{
    return std::string("autorestart triggered (") + (is_forced ? "forced, " : "") +
           "interval=" + n(interval.count()) + ")";
}

std::string worker_ready(pid_t pid, std::chrono::milliseconds after)
{
    return "new worker " + n(pid) + " is ready after " + ms(after);
}

std::string new_worker_running(std::string_view sig, const std::vector<pid_t>& old)
{
    return "new worker is now running, sending " + std::string(sig) +
           " to old workers:" + pid_list(old);
}

std::string sleeping_before_kill(std::chrono::seconds delay)
{
    return "sleeping " + n(delay.count()) + " secs before killing old workers";
}

std::string killing_old_workers()
{
    return "killing old workers";
}

std::string old_worker_died(pid_t pid, int raw_status)
{
    return "old worker " + n(pid) + " died, status:" + n(raw_status);
}

std::string worker_died_unexpectedly(pid_t pid, int raw_status)
{
    return "worker " + n(pid) + " died unexpectedly with status:" + n(raw_status) + ", restarting";
}

std::string retrying_in(std::chrono::milliseconds delay, unsigned failures)
{
    return "retrying in " + ms(delay) + " after " + n(failures) + " failed start" +
           (failures == 1 ? "" : "s") + " in a row";
}

std::string received_term(std::string_view received, std::string_view sent,
                          const std::vector<pid_t>& workers)
{
    return "received " + std::string(received) + ", sending " + std::string(sent) +
           " to all workers:" + pid_list(workers);
}

std::string draining_before_stop(std::string_view received, std::chrono::milliseconds delay)
{
    return "received " + std::string(received) + ", draining for " + n(delay.count()) +
           " ms before stopping workers";
}

std::string drain_delay_cut(std::string_view received)
{
    return "received " + std::string(received) + " during the drain delay, stopping workers now";
}

std::string worker_died(pid_t pid, int raw_status)
{
    return "worker " + n(pid) + " died, status:" + n(raw_status);
}

std::string killing_after_timeout(pid_t pid, std::chrono::milliseconds waited)
{
    return "worker " + n(pid) + " still alive " + ms(waited) + " after its signal, sending KILL";
}

std::string signal_ignored(std::string_view name, std::string_view why)
{
    return "received " + std::string(name) + ", ignored (" + std::string(why) + ")";
}

std::string exiting()
{
    return "exiting";
}

std::string stop_server_stopping(pid_t self, pid_t target)
{
    return "stop_server (pid:" + n(self) + ") stopping now (pid:" + n(target) + ")...";
}

void write(std::string_view line) noexcept
{
    std::string buf;
    try {
        buf.reserve(line.size() + 1);
        buf.append(line);
        buf.push_back('\n');
    } catch (...) {
        return;
    }
    const char* p = buf.data();
    std::size_t left = buf.size();
    while (left > 0) {
        const ssize_t w = ::write(STDERR_FILENO, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        left -= static_cast<std::size_t>(w);
    }
}

} // namespace baton::starter::log_line
