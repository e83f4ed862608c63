// SPDX-License-Identifier: MIT
#include "record_token.hpp"

#include <charconv>

namespace baton::starter {

/// `text` as one token: bytes outside `!`..`~` and `%` as `%XX`; the empty string as `%`;
/// `-` (the absent marker) as `%2D`.
std::string escaped(std::string_view text)
{
    if (text.empty())
        return "%";
    if (text == "-")
        return "%2D";
    constexpr std::string_view hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c > 0x20 && c < 0x7f && c != '%') {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xF]);
        }
    }
    return out;
}

/// The bytes `token` stands for (see `escaped`); nullopt for a malformed escape or a byte
/// that is never written raw.
std::optional<std::string> unescaped(std::string_view token)
{
    if (token == "%")
        return std::string();
    std::string out;
    out.reserve(token.size());
    for (std::size_t i = 0; i < token.size(); ++i) {
        const auto c = static_cast<unsigned char>(token[i]);
        if (c <= 0x20 || c >= 0x7f)
            return std::nullopt; // written escaped, never raw
        if (c != '%') {
            out.push_back(token[i]);
            continue;
        }
        unsigned value = 0;
        if (i + 2 >= token.size())
            return std::nullopt;
        const auto [ptr, ec] =
            std::from_chars(token.data() + i + 1, token.data() + i + 3, value, 16);
        if (ec != std::errc{} || ptr != token.data() + i + 3)
            return std::nullopt;
        out.push_back(static_cast<char>(value));
        i += 2;
    }
    return out;
}

/// The key and fields of `line`, at most `max_fields` of them: the rest are a newer build's
/// trailing fields, and not storing them keeps a long line of spaces cheap.
std::vector<std::string_view> split_tokens(std::string_view line)
{
    constexpr std::size_t max_fields = 16;
    std::vector<std::string_view> out;
    while (out.size() < max_fields) {
        const auto sp = line.find(' ');
        out.push_back(line.substr(0, sp));
        if (sp == std::string_view::npos)
            break;
        line.remove_prefix(sp + 1);
    }
    return out;
}

} // namespace baton::starter
