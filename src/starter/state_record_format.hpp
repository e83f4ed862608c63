#pragma once
// SPDX-License-Identifier: MIT

// What the upgrade record's writer (state_record_write.cpp) and reader (state_record.cpp)
// share: the framing lines and the names of enumerations (docs/design.md §2.4).

#include "machine.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace baton::starter::record_format {

static_assert(std::is_same_v<clock, std::chrono::steady_clock>,
              "the record's times are steady_clock's (CLOCK_MONOTONIC) nanoseconds");

using nanos = std::chrono::nanoseconds;

inline constexpr std::string_view header_key = "baton-upgrade";
inline constexpr std::string_view end_line = "end";
/// Later than any monotonic time a host reaches (146 years of uptime), so that a deadline
/// computed from a recorded time cannot overflow.
inline constexpr std::int64_t max_time_ns = std::int64_t{1} << 62;

inline constexpr std::array<std::string_view, 4> phase_names{"restarting", "running", "stopping",
                                                             "stopped"};
inline constexpr std::array<std::string_view, 3> kind_names{"initial", "respawn", "hup"};

} // namespace baton::starter::record_format
