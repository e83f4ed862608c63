// SPDX-License-Identifier: MIT
#include "listeners.hpp"

#include "log.hpp"
#include "port_spec.hpp"

#include <baton/listener.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace baton::starter {

namespace {

std::string errstr(int e)
{
    return std::strerror(e);
}

bool set_cloexec(int fd, bool on)
{
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0)
        return false;
    return ::fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC)) == 0;
}

// Server::Starter's IPv4 host lookup is gethostbyname (first A record).
bool resolve_ipv4(const std::string& host, in_addr& out, setup_error& err)
{
    addrinfo hints{};
    hints.ai_family = AF_INET;
    addrinfo* res = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || !res) {
        err = {errc::resolve_failed, "failed to resolve host:" + host + ":" + ::gai_strerror(rc)};
        return false;
    }
    sockaddr_in sin{};
    std::memcpy(&sin, res->ai_addr, sizeof sin);
    out = sin.sin_addr;
    ::freeaddrinfo(res);
    return true;
}

bool bind_port(const std::string& text, int backlog, std::vector<listener_socket>& out,
               setup_error& err)
{
    const auto spec = parse_port_spec(text);
    if (!spec) {
        err = {errc::bad_port_spec, "invalid ``port'' value:" + log_line::printable(text)};
        return false;
    }
    const std::string key = port_key(*spec);
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    if (spec->is_ipv6) {
        family = AF_INET6;
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(spec->port);
        if (::inet_pton(AF_INET6, spec->host.c_str(), &sin6.sin6_addr) != 1) {
            err = {errc::resolve_failed,
                   "failed to resolve host:" + spec->host + ": not an IPv6 address"};
            return false;
        }
        std::memcpy(&ss, &sin6, sizeof sin6);
        len = sizeof sin6;
    } else {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(spec->port);
        sin.sin_addr.s_addr = htonl(INADDR_ANY);
        if (!spec->host.empty() && !resolve_ipv4(spec->host, sin.sin_addr, err))
            return false;
        std::memcpy(&ss, &sin, sizeof sin);
        len = sizeof sin;
    }
    const int type = spec->is_udp ? SOCK_DGRAM : SOCK_STREAM;
    int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = {errc::socket_failed, "failed to create socket:" + errstr(errno)};
        return false;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (spec->is_ipv6)
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
        err = {errc::bind_failed, "failed to bind to " + key + ":" + errstr(errno)};
        ::close(fd);
        return false;
    }
    if (!spec->is_udp && ::listen(fd, backlog) != 0) {
        err = {errc::listen_failed, "listen(2) failed:" + errstr(errno)};
        ::close(fd);
        return false;
    }
    if (spec->fd) {
        const int target = *spec->fd;
        for (auto& other : out) {
            if (other.fd != target)
                continue;
            // An earlier socket got this number by chance: move it out of the way.
            const int moved = ::fcntl(other.fd, F_DUPFD_CLOEXEC, target + 1);
            if (moved < 0) {
                err = {errc::pin_failed,
                       "dup2(2) failed(" + std::to_string(target) + "): " + errstr(errno)};
                ::close(fd);
                return false;
            }
            other.fd = moved;
        }
        if (fd != target) {
            if (::dup2(fd, target) < 0) {
                err = {errc::pin_failed,
                       "dup2(2) failed(" + std::to_string(target) + "): " + errstr(errno)};
                ::close(fd);
                return false;
            }
            ::close(fd);
            fd = target;
        }
        log_line::write(log_line::socket_duplicated(target));
    }
    out.push_back({fd, key, std::nullopt});
    return true;
}

bool bind_path(const std::string& path, int backlog, std::vector<listener_socket>& out,
               setup_error& err)
{
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof sun.sun_path) {
        err = {errc::listen_failed,
               "failed to listen to file " + path + ":" + errstr(ENAMETOOLONG)};
        return false;
    }
    std::memcpy(sun.sun_path, path.data(), path.size());

    struct stat st {};

    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            err = {errc::path_not_a_socket, "failed to listen to file " + path + ":" +
                                                errstr(EEXIST) + " (not a socket; not removed)"};
            return false;
        }
        log_line::write(log_line::removing_socket(path));
        if (::unlink(path.c_str()) != 0) {
            err = {errc::stale_socket,
                   "failed to remove existing socket file:" + path + ":" + errstr(errno)};
            return false;
        }
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = {errc::socket_failed, "failed to create socket:" + errstr(errno)};
        return false;
    }
    const mode_t saved = ::umask(0); // Server::Starter's socket files are mode 0777
    const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&sun), sizeof sun);
    const int bind_errno = errno;
    ::umask(saved);
    if (rc != 0 || ::listen(fd, backlog) != 0) {
        err = {errc::listen_failed,
               "failed to listen to file " + path + ":" + errstr(rc != 0 ? bind_errno : errno)};
        if (rc == 0)
            ::unlink(path.c_str());
        ::close(fd);
        return false;
    }
    out.push_back({fd, path, path});
    return true;
}

std::string address_key(int fd)
{
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return {};
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        sockaddr_in sin{};
        std::memcpy(&sin, &ss, sizeof sin);
        if (sin.sin_addr.s_addr == htonl(INADDR_ANY))
            return baton::listener::make_key("", ntohs(sin.sin_port));
        ::inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof buf);
        return baton::listener::make_key(buf, ntohs(sin.sin_port));
    }
    if (ss.ss_family == AF_INET6) {
        sockaddr_in6 sin6{};
        std::memcpy(&sin6, &ss, sizeof sin6);
        ::inet_ntop(AF_INET6, &sin6.sin6_addr, buf, sizeof buf);
        return baton::listener::make_key(buf, ntohs(sin6.sin6_port));
    }
    if (ss.ss_family == AF_UNIX) {
        sockaddr_un sun{};
        std::memcpy(&sun, &ss, sizeof sun);
        const auto n = static_cast<std::size_t>(len) - offsetof(sockaddr_un, sun_path);
        if (n > 0 && sun.sun_path[0] == '\0')
            return std::string("@").append(sun.sun_path + 1, n - 1);
        return std::string(sun.sun_path, ::strnlen(sun.sun_path, n));
    }
    return {};
}

} // namespace

bool bind_listeners(const std::vector<std::string>& ports, const std::vector<std::string>& paths,
                    int backlog, std::vector<listener_socket>& out, setup_error& err)
{
    for (const auto& p : ports)
        if (!bind_port(p, backlog, out, err)) {
            close_listeners(out);
            return false;
        }
    for (const auto& p : paths)
        if (!bind_path(p, backlog, out, err)) {
            close_listeners(out);
            return false;
        }
    for (const auto& s : out)
        if (!set_cloexec(s.fd, false)) {
            err = {errc::socket_failed, "fcntl(F_SETFD, 0) failed:" + errstr(errno)};
            close_listeners(out);
            return false;
        }
    return true;
}

std::optional<std::vector<listener_socket>> systemd_listeners(setup_error& err)
{
    const char* fds = std::getenv("LISTEN_FDS");
    const char* pid = std::getenv("LISTEN_PID");
    if (!fds || !pid || std::to_string(::getpid()) != pid)
        return std::nullopt;
    char* end = nullptr;
    const long n = std::strtol(fds, &end, 10);
    if (*fds == '\0' || *end != '\0' || n < 0 || n > 4096) {
        err = {errc::listen_fds_invalid, "invalid LISTEN_FDS value:" + std::string(fds)};
        return std::nullopt;
    }
    std::vector<listener_socket> out;
    for (int fd = 3; fd < 3 + static_cast<int>(n); ++fd) {
        std::string key = address_key(fd);
        if (key.empty()) {
            err = {errc::listen_fds_invalid,
                   "LISTEN_FDS descriptor " + std::to_string(fd) + " is not a bound socket"};
            return std::nullopt;
        }
        set_cloexec(fd, false);
        out.push_back({fd, std::move(key), std::nullopt});
    }
    return out;
}

std::string port_env_value(const std::vector<listener_socket>& sockets, setup_error& err)
{
    std::vector<baton::listener::port_entry> entries;
    for (const auto& s : sockets) {
        baton::listener::port_entry e;
        e.key = s.key;
        e.fd = s.fd;
        entries.push_back(std::move(e));
    }
    baton::listener::error lerr;
    std::string value = baton::listener::format_port_env(entries, lerr);
    if (lerr)
        err = {errc::port_env_invalid, lerr.message};
    return value;
}

void close_listeners(std::vector<listener_socket>& sockets) noexcept
{
    for (auto& s : sockets) {
        if (s.socket_path) {
            struct stat st {};

            if (::lstat(s.socket_path->c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
                ::unlink(s.socket_path->c_str());
        }
        if (s.fd >= 0)
            ::close(s.fd);
        s.fd = -1;
    }
    sockets.clear();
}

} // namespace baton::starter
