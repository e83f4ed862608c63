#pragma once
// SPDX-License-Identifier: MIT

// Signals as Server::Starter takes them (`TERM`, `SIGTERM`, `term`, `15`), checked at start-up.

#include <csignal>
#include <optional>
#include <string>
#include <string_view>

namespace baton::starter {

/// A signal as start_server sends it and names it in its log lines.
struct named_signal {
    int number = SIGTERM;
    std::string name = "TERM"; ///< as the operator wrote it (normalised), or the system's name

    friend bool operator==(const named_signal&, const named_signal&) = default;
};

/// The signal a normalised name (`TERM`, `USR1`, or a number such as `15`) stands for, named
/// as given; nullopt for a name this system does not have.
std::optional<named_signal> parse_signal(std::string_view normalised_name);

/// Signal `number`, named `HUP`, `TERM`, ...; `SIG?` for one without a name.
named_signal signal_of(int number);

} // namespace baton::starter
