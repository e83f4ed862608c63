#pragma once
// SPDX-License-Identifier: MIT

// Signal names as Server::Starter takes them (`TERM`, `SIGTERM`, `term`), checked at start-up.

#include <optional>
#include <string_view>

namespace baton::starter {

/// The number of a normalised signal name (`TERM`, `USR1`, or a number such as `15`);
/// nullopt for a name this system does not have.
std::optional<int> signal_number(std::string_view normalised_name);

/// `HUP`, `TERM`, ... for a number; `SIG<n>` for one without a name.
std::string_view signal_name(int sig) noexcept;

} // namespace baton::starter
