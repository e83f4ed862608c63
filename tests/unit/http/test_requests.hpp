#pragma once
// SPDX-License-Identifier: MIT

// What the http unit tests send and count.

#include <cstddef>
#include <string_view>

namespace baton::http::test {

inline constexpr std::string_view get_a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
inline constexpr std::string_view get_b = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";

/// How many times `needle` occurs in `hay` (overlapping occurrences count).
inline std::size_t count(std::string_view hay, std::string_view needle)
{
    std::size_t n = 0;
    for (auto pos = hay.find(needle); pos != std::string_view::npos;
         pos = hay.find(needle, pos + 1))
        ++n;
    return n;
}

} // namespace baton::http::test
