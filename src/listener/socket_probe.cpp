// SPDX-License-Identifier: MIT

// What a descriptor is, asked to the kernel: the key it came with is only a name.
#include "error.hpp"

#include <baton/listener.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <string>

namespace baton::listener {

namespace {

std::string fd_context(int fd)
{
    return "descriptor " + std::to_string(fd);
}

const char* file_kind(mode_t mode) noexcept
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a pipe";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "not a socket";
}

std::string unix_address(const sockaddr_un& sun, socklen_t len)
{
    const auto offset = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path));
    if (len <= offset)
        return {}; // unnamed
    const auto path_len = static_cast<std::size_t>(len - offset);
    if (sun.sun_path[0] == '\0') { // abstract namespace, shown as systemd does: @name
        std::string name(1, '@');
        name.append(sun.sun_path + 1, path_len - 1);
        return name;
    }
    std::string path(sun.sun_path, path_len);
    if (const auto nul = path.find('\0'); nul != std::string::npos)
        path.resize(nul);
    return path;
}

/// The socket_type of an SO_TYPE value.
socket_type type_of(int so_type) noexcept
{
    switch (so_type) {
    case SOCK_STREAM:
        return socket_type::stream;
    case SOCK_DGRAM:
        return socket_type::datagram;
    case SOCK_SEQPACKET:
        return socket_type::seqpacket;
    default:
        return socket_type::other;
    }
}

/// The family, port and printable address of a getsockname(2) result.
void describe_address(const sockaddr_storage& ss, socklen_t len, socket_info& info)
{
    info.family = ss.ss_family;
    char text[INET6_ADDRSTRLEN] = {};
    switch (ss.ss_family) {
    case AF_INET: {
        const auto& sin = reinterpret_cast<const sockaddr_in&>(ss);
        ::inet_ntop(AF_INET, &sin.sin_addr, text, sizeof text);
        info.port = ntohs(sin.sin_port);
        info.address = std::string(text) + ":" + std::to_string(info.port);
        break;
    }
    case AF_INET6: {
        const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(ss);
        ::inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof text);
        info.port = ntohs(sin6.sin6_port);
        std::string host = text;
        if (sin6.sin6_scope_id != 0) {
            char ifname[IF_NAMESIZE] = {};
            host += '%';
            host += ::if_indextoname(sin6.sin6_scope_id, ifname) != nullptr
                        ? std::string(ifname)
                        : std::to_string(sin6.sin6_scope_id);
        }
        info.address = "[" + host + "]:" + std::to_string(info.port);
        break;
    }
    case AF_UNIX:
        info.address = unix_address(reinterpret_cast<const sockaddr_un&>(ss), len);
        break;
    default:
        break;
    }
}

} // namespace

socket_info probe_socket(int fd, error& err)
{
    err = {};
    socket_info info;

    struct stat st {};

    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        err = detail::make_error(e == EBADF ? make_error_code(errc::not_a_socket)
                                            : std::error_code(e, std::system_category()),
                                 fd_context(fd) + " is not open");
        return info;
    }
    if (!S_ISSOCK(st.st_mode)) {
        err = detail::make_error(errc::not_a_socket, fd_context(fd) + " is not a socket (it is " +
                                                         file_kind(st.st_mode) + ")");
        return info;
    }
    int type = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
        err = detail::system_error(errno, fd_context(fd) + ": getsockopt(SO_TYPE)");
        return info;
    }
    info.type = type_of(type);
    int accepting = 0;
    len = sizeof accepting;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0) {
        err = detail::system_error(errno, fd_context(fd) + ": getsockopt(SO_ACCEPTCONN)");
        return info;
    }
    info.is_listening = accepting != 0;

    sockaddr_storage ss{};
    len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        err = detail::system_error(errno, fd_context(fd) + ": getsockname");
        return info;
    }
    describe_address(ss, len, info);
    return info;
}

socket_info probe_socket(int fd)
{
    error err;
    auto info = probe_socket(fd, err);
    return detail::value_or_throw(std::move(info), err);
}

} // namespace baton::listener
