// SPDX-License-Identifier: MIT
// sleep_for: never shorter than asked; a long sleep ends on a whole millisecond, so that the
// sleeps ending in the same millisecond share one expiry (one wake-up of their loop).
#include "http/sleep_end.hpp"

#include <baton/http/sleep.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace {

using baton::http::detail::coalesced_sleep;
using baton::http::detail::sleep_end;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

clock_type::time_point at(clock_type::duration since_epoch)
{
    return clock_type::time_point(since_epoch);
}

TEST(SleepEnd, ShortSleepsAreExact)
{
    const auto now = at(5s + 123'456ns);
    EXPECT_EQ(sleep_end(now, 0ns), now);
    EXPECT_EQ(sleep_end(now, 1ms), now + 1ms);
    EXPECT_EQ(sleep_end(now, coalesced_sleep - 1ns), now + coalesced_sleep - 1ns);
}

TEST(SleepEnd, LongSleepsEndOnTheNextWholeMillisecond)
{
    EXPECT_EQ(sleep_end(at(5s + 123'456ns), 100ms), at(5s + 101ms));
    EXPECT_EQ(sleep_end(at(5s + 999'999ns), 100ms), at(5s + 101ms));
    EXPECT_EQ(sleep_end(at(5s + 1ms), 100ms), at(5s + 101ms)); // already whole: not moved
    EXPECT_EQ(sleep_end(at(5s + 1ns), coalesced_sleep), at(5s + 1ms + coalesced_sleep));
}

TEST(SleepEnd, NeverEarlyAndAtMostAMillisecondLate)
{
    for (auto d : {16ms, 100ms, 1000ms}) {
        for (long ns = 0; ns < 3'000'000; ns += 7'919) { // a prime step: every phase
            const auto now = at(42s + std::chrono::nanoseconds(ns));
            const auto end = sleep_end(now, d);
            ASSERT_GE(end, now + d) << ns;
            ASSERT_LT(end, now + d + 1ms) << ns;
            ASSERT_EQ(end.time_since_epoch() % 1ms, 0ns) << ns;
        }
    }
}

TEST(SleepEnd, SleepsEndingInTheSameMillisecondShareTheirEnd)
{
    // ten requests' 100 ms sleeps begun across one millisecond: one expiry between them
    std::vector<clock_type::time_point> ends;
    for (int i = 0; i < 10; ++i)
        ends.push_back(sleep_end(at(7s + 300us + i * 60us), 100ms));
    for (auto e : ends)
        EXPECT_EQ(e, at(7s + 101ms));
}

TEST(SleepFor, ResumesNoEarlierThanAsked)
{
    boost::asio::io_context ioc;
    std::vector<clock_type::duration> slept;
    for (auto d : {clock_type::duration(2ms), clock_type::duration(20ms)}) {
        boost::asio::co_spawn(
            ioc,
            [d, &slept]() -> boost::asio::awaitable<void> {
                const auto start = clock_type::now();
                co_await baton::http::sleep_for(d);
                slept.push_back(clock_type::now() - start);
            },
            boost::asio::detached);
    }
    ioc.run_for(10s);
    ASSERT_EQ(slept.size(), 2U);
    EXPECT_GE(slept[0], 2ms);
    EXPECT_GE(slept[1], 20ms);
}

} // namespace
