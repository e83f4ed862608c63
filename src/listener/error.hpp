#pragma once
// SPDX-License-Identifier: MIT

// Building `baton::listener::error` values: one place for the messages' shape.

#include <baton/listener.hpp>

#include <string>
#include <string_view>

namespace baton::listener::detail {

/// An error with `code` and a message `context: detail`.
error make_error(std::error_code code, std::string message);

/// An error from `errno` (captured by the caller right after the failing call).
error system_error(int errno_value, std::string message);

/// `"text"` with control characters escaped, for quoting input in messages.
std::string quote(std::string_view text);

/// Throws listener_error when `err` is set; returns `value` otherwise.
template <class T>
T value_or_throw(T&& value, const error& err)
{
    if (err)
        throw listener_error(err);
    return static_cast<T&&>(value);
}

} // namespace baton::listener::detail
