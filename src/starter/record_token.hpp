#pragma once
// SPDX-License-Identifier: MIT

// The tokens of start_server's line-oriented records (the upgrade record, state_record.hpp,
// and the status snapshot, status_report.hpp): `key field field...` lines whose text fields
// are escaped so that any byte round-trips and a field never holds a space or a newline.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace baton::starter {

/// `text` as one token: bytes outside `!`..`~` and `%` as `%XX`; the empty string as `%`;
/// `-` (the absent marker) as `%2D`.
std::string escaped(std::string_view text);

/// The bytes `token` stands for (see `escaped`); nullopt for a malformed escape or a byte
/// that is never written raw.
std::optional<std::string> unescaped(std::string_view token);

/// The key and fields of `line`, at most 16 of them: the rest are a newer build's trailing
/// fields, and not storing them keeps a long line of spaces cheap.
std::vector<std::string_view> split_tokens(std::string_view line);

/// The enumerator whose name (its index in `names`) is `word`; nullopt for none.
template <class Name, std::size_t N>
std::optional<Name> enum_named(std::string_view word, const std::array<std::string_view, N>& names)
{
    for (std::size_t i = 0; i < N; ++i)
        if (names[i] == word)
            return static_cast<Name>(i);
    return std::nullopt;
}

} // namespace baton::starter
