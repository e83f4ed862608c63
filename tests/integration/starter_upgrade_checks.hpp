#pragma once
// SPDX-License-Identifier: MIT
// What the upgrade tests (starter_upgrade_load_test, starter_upgrade_restart_test) observe of
// a running start_server from outside: its children as the kernel lists them, the socket a
// descriptor of it links to, its upgrade log lines, and whether its status file is Perl's.
// (starter_upgrade_test uses its descriptor and memory readings too.)

#include "starter_harness.hpp"

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace starter_test {

/// The children of single-threaded `pid`, sorted, from /proc (zombies included: the kernel
/// lists a child until it is reaped).
inline std::vector<pid_t> children_of(pid_t pid)
{
    const std::string p = std::to_string(pid);
    std::istringstream in(read_file("/proc/" + p + "/task/" + p + "/children"));
    std::vector<pid_t> out;
    for (long child = 0; out.size() < 1000 && in >> child;)
        out.push_back(static_cast<pid_t>(child));
    std::sort(out.begin(), out.end());
    return out;
}

/// What /proc/PID/fd/FD links to: `socket:[INODE]` for a socket, the same inode as long as
/// the socket is the same one (not bound again).
inline std::string socket_link(pid_t pid, int fd)
{
    std::error_code ec;
    return std::filesystem::read_symlink(
               "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd), ec)
        .string();
}

/// Every upgrade logs one line when it is done; wait for the `n`th.
inline bool upgraded(const child_process& s, std::size_t n)
{
    return wait_until([&] { return count_of(s.output(), "start_server upgraded in ") >= n; });
}

/// The status file's `GEN:PID\n` lines (Server::Starter's format, byte for byte): at least one
/// line, each two decimal numbers, generations ascending. Empty when `text` is not that.
inline std::vector<std::pair<long, pid_t>> status_entries(const std::string& text)
{
    std::vector<std::pair<long, pid_t>> out;
    const auto is_number = [](const std::string& s) {
        return !s.empty() && s.size() < 12 &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    std::size_t start = 0;
    while (start < text.size()) {
        const auto nl = text.find('\n', start);
        if (nl == std::string::npos)
            return {}; // every line ends in a newline
        const std::string line = text.substr(start, nl - start);
        const auto colon = line.find(':');
        if (colon == std::string::npos || !is_number(line.substr(0, colon)) ||
            !is_number(line.substr(colon + 1)))
            return {};
        const long gen = std::atol(line.c_str());
        if (!out.empty() && gen <= out.back().first)
            return {};
        out.emplace_back(gen, static_cast<pid_t>(std::atol(line.c_str() + colon + 1)));
        start = nl + 1;
    }
    return out;
}

/// Once a restart is over: the status file at `status` names generation `gen` alone, and its
/// worker is `server`'s only child (the old one drained, exited and was reaped).
inline bool is_settled_on(pid_t server, const std::string& status, long gen)
{
    return wait_until([&] {
        const auto entries = status_entries(read_file(status));
        return entries.size() == 1 && entries[0].first == gen &&
               children_of(server) == std::vector<pid_t>{entries[0].second};
    });
}

/// How many descriptors `pid` has open now.
inline std::size_t descriptors_of(pid_t pid)
{
    std::error_code ec;
    const std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
    return ec ? 0 : static_cast<std::size_t>(std::distance(it, {}));
}

/// `pid`'s descriptors as "FD -> TARGET" lines in descriptor order, from /proc: a socket or
/// pipe shows its inode, so the same list means the same descriptors, not just as many.
inline std::string descriptor_links(pid_t pid)
{
    const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/fd";
    std::error_code ec;
    std::vector<int> fds;
    for (std::filesystem::directory_iterator it(dir, ec), end;
         !ec && it != end && fds.size() < 4096; it.increment(ec))
        fds.push_back(std::atoi(it->path().filename().c_str()));
    std::sort(fds.begin(), fds.end());
    std::string out;
    for (const int fd : fds)
        out += std::to_string(fd) + " -> " + socket_link(pid, fd) + "\n";
    return out;
}

/// `pid`'s descriptor_links() once it is idle: asleep (state S, in poll(2)) with the same
/// descriptors either side, every one readable. A turn's snapshot and status-file writes hold
/// one more for a moment. Empty when it is not so within 5 s.
inline std::string idle_descriptor_links(pid_t pid)
{
    std::string links;
    const bool is_idle = wait_until([&] {
        links = descriptor_links(pid);
        const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
        const auto paren = stat.rfind(')');
        const bool is_sleeping = paren != std::string::npos && stat.compare(paren, 3, ") S") == 0;
        return is_sleeping && !links.empty() && links.find(" -> \n") == std::string::npos &&
               descriptor_links(pid) == links;
    });
    return is_idle ? links : std::string{};
}

/// Its resident memory in kB (VmRSS), -1 when unreadable.
inline long resident_kb(pid_t pid)
{
    const std::string text = read_file("/proc/" + std::to_string(pid) + "/status");
    const auto at = text.find("VmRSS:");
    return at == std::string::npos ? -1 : std::atol(text.c_str() + at + 6);
}

} // namespace starter_test
