// SPDX-License-Identifier: MIT
#include "common/unique_fd.hpp"
#include "wire.hpp"

#include <baton/notify.hpp>

#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <span>
#include <string>

namespace baton::notify {
namespace {

class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "baton.notify"; }

    std::string message(int ev) const override
    {
        switch (static_cast<errc>(ev)) {
        case errc::invalid_socket_address:
            return "the notify socket address is neither an absolute path nor an @abstract "
                   "name; set NOTIFY_SOCKET to one (or unset it)";
        case errc::send_failed:
            return "the notification could not be sent: is the receiver (systemd, "
                   "start_server) still bound at the notify socket address, and may this "
                   "process write to it?";
        case errc::socket_address_too_long:
            return "the notify socket address does not fit a unix socket address (at most "
                   "107 bytes); use a shorter path or name";
        case errc::unsupported_socket_address:
            return "the notify socket address is an AF_VSOCK address (vsock:CID:PORT), which "
                   "baton::notify does not support; use a unix socket path or @name";
        case errc::socket_failed:
            return "no unix datagram socket could be created to send the notification (too "
                   "many open files?)";
        case errc::invalid_state:
            return "the notification is empty, contains a NUL byte, or a status text contains "
                   "a newline; send newline-separated KEY=VALUE lines";
        }
        return "unknown baton.notify error " + std::to_string(ev);
    }
};

const category_impl the_category;

/// Seconds a send may block on a receiver whose queue is full.
constexpr time_t send_timeout_seconds = 5;

/// What went wrong, with the errno behind it (0 if none) for the throwing overloads.
struct outcome {
    errc code{};
    int sys_errno = 0;

    explicit operator bool() const noexcept { return code != errc{}; }
};

/// The message's length, or 0 when it is empty or has a NUL (systemd drops such a message
/// silently; we say so instead).
std::size_t checked_length(std::span<const std::string_view> parts) noexcept
{
    std::size_t total = 0;
    for (const std::string_view part : parts) {
        if (part.find('\0') != std::string_view::npos)
            return 0;
        total += part.size();
    }
    return total;
}

/// Send the concatenation of `parts` as one datagram to `address`.
outcome send_parts(std::string_view address, std::span<const std::string_view> parts) noexcept
{
    const std::size_t total = checked_length(parts);
    std::array<iovec, 4> iov{};
    if (total == 0 || parts.size() > iov.size())
        return {errc::invalid_state};

    detail::unix_address to;
    if (const errc e = detail::parse_address(address, to); e != errc{})
        return {e};

    const baton::detail::unique_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd)
        return {errc::socket_failed, errno};

    // Bound the wait on a full receive queue (a stopped receiver must not hang us forever).
    const timeval timeout{send_timeout_seconds, 0};
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

    std::size_t count = 0;
    for (const std::string_view part : parts) {
        if (part.empty())
            continue;
        // iovec's base is non-const by POSIX's signature; sendmsg only reads it.
        iov[count].iov_base = const_cast<char*>(part.data());
        iov[count].iov_len = part.size();
        ++count;
    }
    msghdr msg{};
    msg.msg_name = &to.sa;
    msg.msg_namelen = to.length;
    msg.msg_iov = iov.data();
    msg.msg_iovlen = count;

    ssize_t sent = 0;
    do {
        sent = ::sendmsg(fd.get(), &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
        return {errc::send_failed, errno};
    if (static_cast<std::size_t>(sent) != total) // a datagram goes whole or not at all
        return {errc::send_failed, EMSGSIZE};
    return {};
}

/// The address `send` uses: `NOTIFY_SOCKET`, or empty when unset.
std::string_view env_address() noexcept
{
    const char* value = std::getenv("NOTIFY_SOCKET");
    return value != nullptr ? std::string_view{value} : std::string_view{};
}

outcome send_env(std::span<const std::string_view> parts) noexcept
{
    // A bad message is a bug whether or not anyone listens: report it in both cases.
    if (checked_length(parts) == 0)
        return {errc::invalid_state};
    const std::string_view address = env_address();
    if (address.empty())
        return {};
    return send_parts(address, parts);
}

void assign(std::error_code& ec, outcome o) noexcept
{
    if (o)
        ec = make_error_code(o.code);
    else
        ec.clear();
}

[[noreturn]] void throw_outcome(std::string_view what, std::string_view address, outcome o)
{
    std::string context{what};
    if (!address.empty()) {
        context += " to notify socket \"";
        context += address;
        context += '"';
    }
    if (o.sys_errno != 0) {
        context += " (";
        context += std::generic_category().message(o.sys_errno);
        context += ')';
    }
    throw std::system_error(make_error_code(o.code), context);
}

/// Throwing form of a send to `NOTIFY_SOCKET`.
void send_env_or_throw(std::string_view what, std::span<const std::string_view> parts)
{
    if (const outcome o = send_env(parts))
        throw_outcome(what, env_address(), o);
}

outcome status_parts(std::string_view text, std::array<std::string_view, 2>& parts) noexcept
{
    if (text.find('\n') != std::string_view::npos)
        return {errc::invalid_state};
    parts = {"STATUS=", text};
    return {};
}

} // namespace

const std::error_category& category() noexcept
{
    return the_category;
}

std::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), the_category};
}

bool is_enabled() noexcept
{
    return !env_address().empty();
}

void send(std::string_view state, std::error_code& ec) noexcept
{
    const std::array parts{state};
    assign(ec, send_env(parts));
}

void send(std::string_view state)
{
    const std::array parts{state};
    send_env_or_throw("sending a notification", parts);
}

void send_to(std::string_view socket_address, std::string_view state, std::error_code& ec) noexcept
{
    const std::array parts{state};
    assign(ec, send_parts(socket_address, parts));
}

void send_to(std::string_view socket_address, std::string_view state)
{
    const std::array parts{state};
    if (const outcome o = send_parts(socket_address, parts))
        throw_outcome("sending a notification", socket_address, o);
}

void ready(std::error_code& ec) noexcept
{
    send("READY=1", ec);
}

void ready()
{
    const std::array<std::string_view, 1> parts{"READY=1"};
    send_env_or_throw("sending READY=1", parts);
}

void stopping(std::error_code& ec) noexcept
{
    send("STOPPING=1", ec);
}

void stopping()
{
    const std::array<std::string_view, 1> parts{"STOPPING=1"};
    send_env_or_throw("sending STOPPING=1", parts);
}

void reloading(std::error_code& ec) noexcept
{
    const detail::reloading_message message;
    send(message.text(), ec);
}

void reloading()
{
    const detail::reloading_message message;
    const std::array parts{message.text()};
    send_env_or_throw("sending RELOADING=1", parts);
}

void status(std::string_view text, std::error_code& ec) noexcept
{
    std::array<std::string_view, 2> parts{};
    if (const outcome o = status_parts(text, parts)) {
        assign(ec, o);
        return;
    }
    assign(ec, send_env(parts));
}

void status(std::string_view text)
{
    std::array<std::string_view, 2> parts{};
    if (const outcome o = status_parts(text, parts))
        throw_outcome("sending STATUS=", env_address(), o);
    send_env_or_throw("sending STATUS=", parts);
}

} // namespace baton::notify
