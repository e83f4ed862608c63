// SPDX-License-Identifier: MIT

// SERVER_STARTER_PORT: whatever parses must format back to the same bytes, and what is
// formatted must parse to the same entries.
#include <baton/listener.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    namespace bl = baton::listener;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    bl::error err;
    const auto entries = bl::parse_port_env(input, err);
    if (err) {
        if (!entries.empty() || err.message.empty())
            __builtin_trap();
        return 0;
    }
    const auto text = bl::format_port_env(entries, err);
    if (err || text != input)
        __builtin_trap();
    const auto again = bl::parse_port_env(text, err);
    if (err || again.size() != entries.size())
        __builtin_trap();
    for (std::size_t i = 0; i < again.size(); ++i) {
        const auto& a = entries[i];
        const auto& b = again[i];
        if (a.key != b.key || a.fd != b.fd || a.kind != b.kind || a.host != b.host ||
            a.port != b.port)
            __builtin_trap();
    }
    return 0;
}
