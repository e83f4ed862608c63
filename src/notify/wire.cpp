// SPDX-License-Identifier: MIT
#include "wire.hpp"

#include <time.h>

#include <charconv>
#include <cstddef>
#include <cstring>

namespace baton::notify::detail {

errc parse_address(std::string_view text, unix_address& out) noexcept
{
    constexpr std::size_t capacity = sizeof(out.sa.sun_path);
    constexpr std::size_t path_offset = offsetof(sockaddr_un, sun_path);
    out = {};
    if (text.starts_with("vsock:") || text.starts_with("vsock-"))
        return errc::unsupported_socket_address;
    if (text.empty() || text.find('\0') != std::string_view::npos)
        return errc::invalid_socket_address;
    out.sa.sun_family = AF_UNIX;
    if (text.front() == '@') {
        const std::string_view name = text.substr(1);
        if (name.empty())
            return errc::invalid_socket_address;
        if (name.size() > capacity - 1)
            return errc::socket_address_too_long;
        out.sa.sun_path[0] = '\0';
        std::memcpy(out.sa.sun_path + 1, name.data(), name.size());
        out.length = static_cast<socklen_t>(path_offset + 1 + name.size());
        return errc{};
    }
    if (text.front() != '/')
        return errc::invalid_socket_address;
    if (text.size() > capacity - 1) // room for the terminating NUL
        return errc::socket_address_too_long;
    std::memcpy(out.sa.sun_path, text.data(), text.size());
    out.sa.sun_path[text.size()] = '\0';
    out.length = static_cast<socklen_t>(path_offset + text.size() + 1);
    return errc{};
}

std::uint64_t monotonic_usec() noexcept
{
    timespec now{};
    (void)::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000U +
           static_cast<std::uint64_t>(now.tv_nsec) / 1'000U;
}

reloading_message::reloading_message() noexcept
    : reloading_message(monotonic_usec())
{}

reloading_message::reloading_message(std::uint64_t usec) noexcept
{
    constexpr std::string_view prefix = "RELOADING=1\nMONOTONIC_USEC=";
    static_assert(prefix.size() + 20 <= sizeof buffer_, "room for any 64-bit number");
    std::memcpy(buffer_.data(), prefix.data(), prefix.size());
    char* const first = buffer_.data() + prefix.size();
    const char* const end = std::to_chars(first, buffer_.data() + buffer_.size(), usec).ptr;
    size_ = static_cast<std::size_t>(end - buffer_.data());
}

} // namespace baton::notify::detail
