#pragma once
// SPDX-License-Identifier: MIT
// Helpers for start_server's integration tests: run start_server in its own process group
// (ended by that pid in the destructor, workers included), bounded waits, loopback clients.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace starter_test {

using namespace std::chrono_literals;

inline std::string bin(const std::string& name)
{
    const char* dir = std::getenv("BATON_BIN_DIR");
    return std::string(dir ? dir : ".") + "/" + name;
}

inline std::string worker()
{
    return bin("starter_fixture_worker");
}

/// Poll `pred` every 10 ms until it holds or `timeout` passes.
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int i = 0; i < 100000; ++i) {
        if (pred())
            return true;
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        ::poll(nullptr, 0, 10);
    }
    return false;
}

inline std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline bool exists(const std::string& path)
{
    struct stat st {};

    return ::lstat(path.c_str(), &st) == 0;
}

inline bool is_alive(pid_t pid)
{
    return ::kill(pid, 0) == 0;
}

/// A fresh directory under /tmp, removed (with its files) at the end.
struct temp_dir {
    std::string path;

    temp_dir()
    {
        char t[] = "/tmp/baton-starter-XXXXXX";
        path = ::mkdtemp(t) ? t : "";
    }

    ~temp_dir()
    {
        if (!path.empty()) [[maybe_unused]]
            int rc = std::system(("rm -rf '" + path + "'").c_str());
    }

    std::string operator/(const std::string& name) const { return path + "/" + name; }
};

/// A free loopback TCP port: bind port 0, read it back, close.
inline int free_port(int family = AF_INET, int type = SOCK_STREAM)
{
    const int fd = ::socket(family, type, 0);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (family == AF_INET) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        std::memcpy(&ss, &sin, sizeof sin);
        len = sizeof sin;
    } else {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_addr = in6addr_loopback;
        std::memcpy(&ss, &sin6, sizeof sin6);
        len = sizeof sin6;
    }
    ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
    len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    const int port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    ::close(fd);
    return port;
}

inline std::string read_all(int fd)
{
    std::string out;
    char buf[256];
    for (int i = 0; i < 100; ++i) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 2000) <= 0)
            break;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.find('\n') != std::string::npos)
            break;
    }
    return out;
}

/// Connect to 127.0.0.1:port (or [::1]:port) and read the worker's "<pid> <gen>\n".
inline std::string ask(int port, int family = AF_INET)
{
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = -1;
    if (family == AF_INET) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(static_cast<std::uint16_t>(port));
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    } else {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(static_cast<std::uint16_t>(port));
        sin6.sin6_addr = in6addr_loopback;
        rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sin6), sizeof sin6);
    }
    const std::string out = rc == 0 ? read_all(fd) : "";
    ::close(fd);
    return out;
}

/// An HTTP/1.0 GET to 127.0.0.1:port; the body's last line ("<pid> <gen>") of the answer.
inline std::string ask_http(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<std::uint16_t>(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0) {
        const std::string req = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
            char buf[1024];
            for (int i = 0; i < 50; ++i) {
                pollfd p{fd, POLLIN, 0};
                if (::poll(&p, 1, 2000) <= 0)
                    break;
                const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
                if (n <= 0)
                    break;
                out.append(buf, static_cast<std::size_t>(n));
            }
        }
    }
    ::close(fd);
    const auto body = out.find("\r\n\r\n");
    return body == std::string::npos ? "" : out.substr(body + 4);
}

inline std::string ask_unix(const std::string& path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
    const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun);
    const std::string out = rc == 0 ? read_all(fd) : "";
    ::close(fd);
    return out;
}

inline std::string ask_udp(int port)
{
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<std::uint16_t>(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    std::string out;
    for (int attempt = 0; attempt < 20 && out.empty(); ++attempt) {
        ::send(fd, "?", 1, 0);
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 200) > 0) {
            char buf[128];
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0)
                out.assign(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return out;
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

/// A process (start_server or a client) with stdout+stderr captured to a file. It leads its
/// own process group; the destructor kills that group by its pid and reaps the leader.
class process {
public:
    process(const std::vector<std::string>& argv, const std::string& log_path,
            const std::vector<std::string>& extra_env = {}, int stdin_fd = -1)
        : log_(log_path)
    {
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::setpgid(0, 0);
            const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            if (stdin_fd >= 0)
                ::dup2(stdin_fd, 0);
            ::close_range(3, ~0U, 0); // start from a clean slate: no test descriptor leaks
            for (const auto& e : extra_env)
                ::putenv(const_cast<char*>(e.c_str()));
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::setpgid(pid_, pid_);
    }

    ~process()
    {
        if (pid_ > 0 && !status_) {
            ::kill(-pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (pid_ > 0)
            ::kill(-pid_, SIGKILL); // stray workers of a failed test
    }

    process(const process&) = delete;
    process& operator=(const process&) = delete;

    pid_t pid() const { return pid_; }

    void signal(int sig) const { ::kill(pid_, sig); }

    std::string log() const { return read_file(log_); }

    bool logged(const std::string& needle) const { return log().find(needle) != std::string::npos; }

    /// Wait for exit; the raw wait status, or nullopt at the timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout = 15s)
    {
        if (status_)
            return status_;
        wait_until(
            [&] {
                int st = 0;
                if (::waitpid(pid_, &st, WNOHANG) == pid_)
                    status_ = st;
                return status_.has_value();
            },
            timeout);
        return status_;
    }

    /// The exit code, or -1 when it did not exit normally in time.
    int exit_code(std::chrono::milliseconds timeout = 15s)
    {
        const auto st = wait_exit(timeout);
        return st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
    }

private:
    pid_t pid_ = -1;
    std::string log_;
    std::optional<int> status_;
};

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

} // namespace starter_test
