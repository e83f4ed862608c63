// SPDX-License-Identifier: MIT
#include "listeners.hpp"

#include "common/unique_fd.hpp"
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

// The address of a --port value: IPv6 numeric, or IPv4 (all interfaces when no host).
bool port_address(const port_spec& spec, sockaddr_storage& ss, socklen_t& len, setup_error& err)
{
    if (spec.is_ipv6) {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(spec.port);
        if (::inet_pton(AF_INET6, spec.host.c_str(), &sin6.sin6_addr) != 1) {
            err = {errc::resolve_failed,
                   "failed to resolve host:" + spec.host + ": not an IPv6 address"};
            return false;
        }
        std::memcpy(&ss, &sin6, sizeof sin6);
        len = sizeof sin6;
        return true;
    }
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(spec.port);
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    if (!spec.host.empty() && !resolve_ipv4(spec.host, sin.sin_addr, err))
        return false;
    std::memcpy(&ss, &sin, sizeof sin);
    len = sizeof sin;
    return true;
}

// Move `fd` to descriptor `target` (a --port value's =FD), first moving out of the way an
// earlier socket that got that number by chance.
bool pin_to(int target, baton::detail::unique_fd& fd, std::vector<listener_socket>& out,
            setup_error& err)
{
    for (auto& other : out) {
        if (other.fd != target)
            continue;
        const int moved = ::fcntl(other.fd, F_DUPFD_CLOEXEC, target + 1);
        if (moved < 0) {
            err = {errc::pin_failed,
                   "dup2(2) failed(" + std::to_string(target) + "): " + errstr(errno)};
            return false;
        }
        other.fd = moved; // `target` is still open: dup2 below replaces it
    }
    if (fd.get() != target) {
        if (::dup2(fd.get(), target) < 0) {
            err = {errc::pin_failed,
                   "dup2(2) failed(" + std::to_string(target) + "): " + errstr(errno)};
            return false;
        }
        fd.reset(target);
    }
    log_line::write(log_line::socket_duplicated(target));
    return true;
}

// --port and --path are bound here, not by listener::bind_address: their lines must match
// Server::Starter's verbatim, as must the host lookup, the =FD move and 0777 socket files.
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
    if (!port_address(*spec, ss, len, err))
        return false;
    const int type = spec->is_udp ? SOCK_DGRAM : SOCK_STREAM;
    baton::detail::unique_fd fd(::socket(ss.ss_family, type | SOCK_CLOEXEC, 0));
    if (!fd) {
        err = {errc::socket_failed, "failed to create socket:" + errstr(errno)};
        return false;
    }
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (spec->is_ipv6)
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
        err = {errc::bind_failed, "failed to bind to " + key + ":" + errstr(errno)};
        return false;
    }
    if (!spec->is_udp && ::listen(fd.get(), backlog) != 0) {
        err = {errc::listen_failed, "listen(2) failed:" + errstr(errno)};
        return false;
    }
    if (spec->fd && !pin_to(*spec->fd, fd, out, err))
        return false;
    out.push_back({fd.release(), key, std::nullopt});
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
    baton::detail::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        err = {errc::socket_failed, "failed to create socket:" + errstr(errno)};
        return false;
    }
    const mode_t saved = ::umask(0); // Server::Starter's socket files are mode 0777
    const int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun);
    const int bind_errno = errno;
    ::umask(saved);
    if (rc != 0 || ::listen(fd.get(), backlog) != 0) {
        err = {errc::listen_failed,
               "failed to listen to file " + path + ":" + errstr(rc != 0 ? bind_errno : errno)};
        if (rc == 0)
            ::unlink(path.c_str());
        return false;
    }
    out.push_back({fd.release(), path, path});
    return true;
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

std::optional<std::vector<listener_socket>> systemd_listeners(const baton::listener::env_view& env,
                                                              setup_error& err)
{
    // A SERVER_STARTER_PORT in start_server's own environment is not for it: it writes its own.
    baton::listener::env_view systemd = env;
    systemd.server_starter_port.reset();
    baton::listener::error lerr;
    const auto inherited = baton::listener::from_env(systemd, lerr);
    if (lerr) {
        err = {errc::listen_fds_invalid, lerr.message};
        return std::nullopt;
    }
    if (inherited.from != baton::listener::source::systemd)
        return std::nullopt;
    std::vector<listener_socket> out;
    for (const auto& s : inherited.sockets) {
        std::string key = baton::listener::make_key(s.info);
        if (key.empty()) {
            err = {errc::listen_fds_invalid,
                   "LISTEN_FDS descriptor " + std::to_string(s.fd) + " is not a bound socket"};
            return std::nullopt;
        }
        set_cloexec(s.fd, false);
        out.push_back({s.fd, std::move(key), std::nullopt});
    }
    return out;
}

std::optional<std::vector<listener_socket>> systemd_listeners(setup_error& err)
{
    return systemd_listeners(baton::listener::env_view::from_process(), err);
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
