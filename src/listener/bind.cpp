// SPDX-License-Identifier: MIT

// Binding an address oneself, for a program that runs without a starter.
#include "common/unique_fd.hpp"
#include "error.hpp"

#include <baton/listener.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace baton::listener {

namespace {

std::string bind_context(std::string_view address)
{
    return "unable to bind " + std::string(address);
}

/// Resolve the address of a PORT or HOST:PORT key into `ss`.
error resolve(std::string_view address, const port_entry& key, bool is_datagram,
              sockaddr_storage& ss, socklen_t& len)
{
    ss = {};
    if (key.kind == key_kind::port) {
        // a bare port is all IPv4 interfaces, as Server::Starter binds it
        auto& sin = reinterpret_cast<sockaddr_in&>(ss);
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_ANY);
        sin.sin_port = htons(key.port);
        len = sizeof sin;
        return {};
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = is_datagram ? SOCK_DGRAM : SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    addrinfo* result = nullptr;
    const auto service = std::to_string(key.port);
    const int rc = ::getaddrinfo(key.host.c_str(), service.c_str(), &hints, &result);
    if (rc != 0 || result == nullptr) {
        const std::string why = rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
        return detail::make_error(errc::invalid_address, bind_context(address) +
                                                             ": cannot resolve " +
                                                             detail::quote(key.host) + ": " + why);
    }
    std::memcpy(&ss, result->ai_addr, result->ai_addrlen);
    len = result->ai_addrlen;
    ::freeaddrinfo(result);
    return {};
}

/// Replace a stale unix socket at `path`; never remove anything else.
error clear_unix_path(std::string_view address, const std::string& path)
{
    struct stat st {};

    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT)
            return {};
        return detail::system_error(errno, bind_context(address));
    }
    if (!S_ISSOCK(st.st_mode))
        return detail::make_error(errc::invalid_address,
                                  bind_context(address) + ": a file that is not a socket is there");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return detail::system_error(errno, bind_context(address) + ": unlink");
    return {};
}

} // namespace

inherited_socket bind_address(std::string_view address, const bind_options& opts, error& err)
{
    err = {};
    inherited_socket out;
    out.name.assign(address);
    port_entry key;
    if (auto ec = classify_key(address, key)) {
        err =
            detail::make_error(errc::invalid_address, bind_context(address) + ": " + ec.message());
        return out;
    }
    sockaddr_storage ss{};
    socklen_t len = 0;
    int type = opts.is_datagram ? SOCK_DGRAM : SOCK_STREAM;
    if (key.kind == key_kind::path) {
        auto& sun = reinterpret_cast<sockaddr_un&>(ss);
        if (address.size() >= sizeof sun.sun_path) {
            err = detail::make_error(errc::invalid_address,
                                     bind_context(address) + ": path is longer than " +
                                         std::to_string(sizeof sun.sun_path - 1) + " bytes");
            return out;
        }
        err = clear_unix_path(address, std::string(address));
        if (err)
            return out;
        sun.sun_family = AF_UNIX;
        std::memcpy(sun.sun_path, address.data(), address.size());
        len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + 1);
        type = SOCK_STREAM;
    } else {
        err = resolve(address, key, opts.is_datagram, ss, len);
        if (err)
            return out;
    }

    baton::detail::unique_fd fd(::socket(ss.ss_family, type | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        err = detail::system_error(errno, bind_context(address) + ": socket");
        return out;
    }
    const int one = 1;
    if (ss.ss_family != AF_UNIX &&
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
        err = detail::system_error(errno, bind_context(address) + ": setsockopt(SO_REUSEADDR)");
        return out;
    }
    if (ss.ss_family == AF_INET6 &&
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) {
        err = detail::system_error(errno, bind_context(address) + ": setsockopt(IPV6_V6ONLY)");
        return out;
    }
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
        err = detail::system_error(errno, bind_context(address));
        return out;
    }
    if (type == SOCK_STREAM && ::listen(fd.get(), opts.backlog) != 0) {
        err = detail::system_error(errno, "unable to listen on " + std::string(address));
        return out;
    }
    out.info = probe_socket(fd.get(), err);
    if (err)
        return out;
    out.fd = fd.release();
    return out;
}

inherited_socket bind_address(std::string_view address, const bind_options& opts)
{
    error err;
    auto sock = bind_address(address, opts, err);
    return detail::value_or_throw(std::move(sock), err);
}

} // namespace baton::listener
