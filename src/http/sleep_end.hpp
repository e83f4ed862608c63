#pragma once
// SPDX-License-Identifier: MIT

// When a sleep_for ends (private; include/baton/http/sleep.hpp).

#include <chrono>

namespace baton::http::detail {

/// Sleeps this long or longer end on a whole millisecond (at most 1/16 of them late).
inline constexpr std::chrono::milliseconds coalesced_sleep{16};

/** The end of a sleep of `d` begun at `now` on the steady clock: `now + d` rounded up to the
    next whole millisecond when `d` is at least coalesced_sleep, else `now + d` itself. The
    asio timers of sleeps that end in the same millisecond share one expiry, and the loop's
    timer queue hands them all out on one wake-up: the seed's 100 ms sleeps at 10,000 req/s
    woke a loop about once per request, rounded about once per ten. Linux's timer slack does
    the same for poll(2) and nanosleep(2) (50 µs by default). Never earlier than `now + d`. */
constexpr std::chrono::steady_clock::time_point sleep_end(std::chrono::steady_clock::time_point now,
                                                          std::chrono::steady_clock::duration d)
{
    const auto end = now + d;
    if (d < coalesced_sleep)
        return end;
    return std::chrono::ceil<std::chrono::milliseconds>(end);
}

} // namespace baton::http::detail
