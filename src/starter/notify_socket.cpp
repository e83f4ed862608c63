// SPDX-License-Identifier: MIT
#include "notify_socket.hpp"

#include "file_text.hpp"
#include "notify/wire.hpp"

#include <baton/notify.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace baton::starter {

namespace {

bool has_line(std::string_view text, std::string_view line)
{
    while (!text.empty()) {
        const auto nl = text.find('\n');
        if (text.substr(0, nl) == line)
            return true;
        if (nl == std::string_view::npos)
            break;
        text.remove_prefix(nl + 1);
    }
    return false;
}

pid_t main_pid_of(std::string_view text)
{
    constexpr std::string_view key = "MAINPID=";
    for (std::size_t pos = 0; pos < text.size();) {
        const auto nl = text.find('\n', pos);
        const auto line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
        if (line.starts_with(key))
            return static_cast<pid_t>(std::atol(std::string(line.substr(key.size())).c_str()));
        if (nl == std::string_view::npos)
            break;
        pos = nl + 1;
    }
    return 0;
}

} // namespace

bool notify_socket::open(setup_error& err)
{
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd_) {
        err = {errc::notify_socket_failed,
               std::string("failed to create the notify socket: ") + std::strerror(errno)};
        return false;
    }
    const int one = 1;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    for (int attempt = 0; attempt < 16; ++attempt) {
        address_ =
            "@baton-start_server/" + std::to_string(::getpid()) + "/" + std::to_string(attempt);
        baton::notify::detail::unix_address sun;
        (void)baton::notify::detail::parse_address(address_, sun); // always a valid @name
        if (::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&sun.sa), sun.length) == 0)
            return true;
        if (errno != EADDRINUSE)
            break;
    }
    err = {errc::notify_socket_failed,
           "failed to bind the notify socket " + address_ + ": " + std::strerror(errno)};
    return false;
}

std::vector<ready_message> notify_socket::drain()
{
    std::vector<ready_message> out;
    for (int i = 0; i < 256; ++i) {
        char buf[4096];
        iovec iov{buf, sizeof buf};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        pid_t sender = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                ucred cred{};
                std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
                sender = cred.pid;
            }
        }
        const std::string_view text(buf, static_cast<std::size_t>(n));
        if (has_line(text, "READY=1"))
            out.push_back({sender, main_pid_of(text)});
    }
    return out;
}

bool tell_systemd(const std::string& address, std::string_view state)
{
    std::error_code ec;
    if (state == "RELOADING=1") {
        const baton::notify::detail::reloading_message message;
        baton::notify::send_to(address, message.text(), ec);
    } else {
        baton::notify::send_to(address, state, ec);
    }
    return !ec;
}

pid_t parent_of(pid_t pid)
{
    const auto text = read_text_file("/proc/" + std::to_string(pid) + "/stat", 4096);
    if (!text)
        return 0;
    // "pid (comm) S ppid ...": comm may hold spaces and parentheses; the last ')' ends it.
    const auto close = text->rfind(')');
    if (close == std::string::npos || close + 3 >= text->size())
        return 0;
    // ") S ppid": skip the space and the one-letter state
    return static_cast<pid_t>(std::strtol(text->c_str() + close + 4, nullptr, 10));
}

} // namespace baton::starter
