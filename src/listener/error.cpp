// SPDX-License-Identifier: MIT

#include "error.hpp"

#include <cstdio>

namespace baton::listener {

namespace {

class category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "baton.listener"; }

    std::string message(int value) const override
    {
        switch (static_cast<errc>(value)) {
        case errc::missing_fd:
            return "missing \"=FD\"";
        case errc::empty_key:
            return "empty key before \"=\"";
        case errc::invalid_fd:
            return "FD is not a non-negative decimal number";
        case errc::empty_entry:
            return "empty entry";
        case errc::unbalanced_bracket:
            return "unbalanced \"[\" in key";
        case errc::trailing_junk:
            return "trailing characters";
        case errc::invalid_port:
            return "port is not a number in 0..65535";
        case errc::invalid_key:
            return "key is empty or contains \";\" or \"=\"";
        case errc::not_a_socket:
            return "descriptor is not a socket";
        case errc::invalid_listen_fds:
            return "LISTEN_FDS/LISTEN_FDNAMES are malformed";
        case errc::invalid_address:
            return "address cannot be parsed or resolved";
        }
        return "unknown baton.listener error";
    }
};

} // namespace

const std::error_category& category() noexcept
{
    static const category_impl instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), category()};
}

listener_error::listener_error(const error& e)
    : std::system_error(e.code)
    , message_(e.message.empty() ? e.code.message() : e.message)
{}

const char* listener_error::what() const noexcept
{
    return message_.c_str();
}

namespace detail {

error make_error(std::error_code code, std::string message)
{
    return error{code, std::move(message)};
}

error system_error(int errno_value, std::string message)
{
    std::error_code code(errno_value, std::system_category());
    message += ": ";
    message += code.message();
    return error{code, std::move(message)};
}

std::string quote(std::string_view text)
{
    std::string out = "\"";
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

} // namespace detail

} // namespace baton::listener
