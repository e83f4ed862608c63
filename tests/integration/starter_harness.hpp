#pragma once
// SPDX-License-Identifier: MIT
// What start_server's integration and interop tests share on top of tests/support: asking
// the fixture worker for "<pid> <gen>" over each kind of socket, learning the port a
// start_server told port 0 bound, and reading its log. Processes, waits, sockets, files and
// the fixture programs' paths are tests/support's (namespace baton::test).

#include "support/child_process.hpp"
#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace starter_test {

using namespace baton::test;
using namespace std::chrono_literals;

/// A fixture program (start_server, starter_fixture_worker, ...) as a command-line word.
inline std::string program(std::string_view name)
{
    return fixture_program(name).string();
}

/// The fixture worker: answers "<pid> <gen>\n" on every socket start_server hands it.
inline std::string worker()
{
    return program("starter_fixture_worker");
}

/// The port of the first listening socket that `pid` (a start_server, a daemonized one, or
/// Perl's, told `--port=127.0.0.1:0`) holds: it binds before it starts a worker, so this waits
/// for the bind. 0 when there is none by the timeout.
inline std::uint16_t listening_port(pid_t pid)
{
    const auto sockets = wait_for_listening_sockets(pid, 1, default_wait_timeout);
    return sockets.empty() ? 0 : sockets.front().port;
}

/// Start `argv`, a start_server told `--port=127.0.0.1:0` (its first port), and set `port`
/// to the port it bound (0, and a test failure, when it binds none).
inline child_process start_and_learn_port(std::vector<std::string> argv, std::uint16_t& port)
{
    child_process s(std::move(argv));
    port = listening_port(s.pid());
    EXPECT_NE(port, 0) << "start_server bound no port:\n" << s.output();
    return s;
}

/// What the worker wrote before it closed the connection (empty when `ec` says none was made).
inline std::string reply_on(unique_fd fd, const std::error_code& ec)
{
    return ec ? std::string{} : raw_connection{std::move(fd)}.read_until_eof().data;
}

/// Connect to loopback `port` and read the worker's "<pid> <gen>\n".
inline std::string ask(std::uint16_t port, ip_family family = ip_family::v4)
{
    std::error_code ec;
    unique_fd fd = connect_tcp(loopback_host(family), port, ec);
    return reply_on(std::move(fd), ec);
}

inline std::string ask_unix(const std::string& path)
{
    std::error_code ec;
    unique_fd fd = connect_unix(path, ec);
    return reply_on(std::move(fd), ec);
}

/// An HTTP/1.0 GET to 127.0.0.1:port; the body of a complete response, else empty.
inline std::string ask_http(std::uint16_t port)
{
    std::error_code ec;
    unique_fd fd = connect_tcp("127.0.0.1", port, ec);
    if (ec)
        return {};
    const read_result r = exchange(std::move(fd), "GET / HTTP/1.0\r\nHost: x\r\n\r\n");
    return r.is_complete() ? r.response.body : std::string{};
}

/// A datagram to 127.0.0.1:port; the worker's reply. Asked again every 200 ms (a datagram
/// may be lost) until an answer or default_io_timeout.
inline std::string ask_udp(std::uint16_t port)
{
    const unique_fd fd = connect_udp("127.0.0.1", port);
    std::string reply;
    const bool is_answered = wait_until(
        [&] {
            (void)::send(fd.get(), "?", 1, 0);
            return receive_datagram(fd.get(), reply, 200ms);
        },
        default_io_timeout);
    return is_answered ? reply : std::string{};
}

/// The generation in a "<pid> <gen>\n" reply (-1 when none).
inline long generation_of(const std::string& reply)
{
    const auto sp = reply.find(' ');
    return sp == std::string::npos ? -1 : std::atol(reply.c_str() + sp + 1);
}

inline pid_t pid_of(const std::string& reply)
{
    return static_cast<pid_t>(std::atol(reply.c_str()));
}

/// True while `pid` exists, a zombie included: start_server must reap its workers.
inline bool is_alive(pid_t pid)
{
    return ::kill(pid, 0) == 0;
}

/// True when something (a file, a socket, a dangling link) is at `path`.
inline bool exists(const std::string& path)
{
    struct stat st {};

    return ::lstat(path.c_str(), &st) == 0;
}

/// The last non-empty line of `text`.
inline std::string last_line(const std::string& text)
{
    std::string t = text;
    while (!t.empty() && t.back() == '\n')
        t.pop_back();
    const auto nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
}

inline std::size_t count_of(const std::string& text, const std::string& needle)
{
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
        ++n;
    return n;
}

/// Ends what a daemonized start_server left running if the test stops before it does: the
/// daemon left the test's process group, so its own group is killed, found from its pid.
struct daemon_guard {
    pid_t pid = 0;

    explicit daemon_guard(pid_t daemon)
        : pid(daemon)
    {}

    daemon_guard(const daemon_guard&) = delete;
    daemon_guard& operator=(const daemon_guard&) = delete;

    ~daemon_guard()
    {
        const pid_t group = pid > 1 && !is_process_gone(pid) ? ::getpgid(pid) : -1;
        if (group > 1 && group != ::getpgrp())
            ::kill(-group, SIGKILL);
    }
};

/// The pid a daemonized start_server wrote to `pid_file`, read once its `log` says it started
/// a worker: the foreground process writes its own pid first, and the daemon rewrites the
/// file before it starts the worker. 0 when the log never says so.
inline pid_t daemon_pid(const std::string& pid_file, const std::string& log)
{
    if (!wait_until(
            [&] { return read_file(log).find("starting new worker") != std::string::npos; }))
        return 0;
    return static_cast<pid_t>(std::atol(read_file(pid_file).c_str()));
}

} // namespace starter_test
