// SPDX-License-Identifier: MIT
// The idle lot on its own, over socket pairs: a parked descriptor that becomes readable wakes
// its owner, the idle timeout of the first parked wakes it first, more ready at once than one
// epoll_wait takes are all woken, the drain and the close wake every parked one, a waiting
// one is swept into parking once the loop has time again.
#include "http/idle_lot.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using baton::http::detail::busy_gauge;
using baton::http::detail::idle_lot;
using baton::http::detail::parkable;
using baton::http::detail::wake;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// A socket pair: the lot watches `fds[0]`, the test writes on `fds[1]`.
struct pair_fds {
    std::array<int, 2> fds{-1, -1};

    pair_fds() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds.data()), 0); }

    ~pair_fds()
    {
        for (int fd : fds)
            if (fd >= 0)
                ::close(fd);
    }

    pair_fds(const pair_fds&) = delete;
    pair_fds& operator=(const pair_fds&) = delete;

    void send() const { EXPECT_EQ(::write(fds[1], "x", 1), 1); }

    void drain() const
    {
        char b[64];
        while (::read(fds[0], b, sizeof b) > 0) {
        }
    }
};

/// A parked "connection": records how it was woken, and when.
struct sleeper final : parkable {
    std::vector<wake> woken;
    clock_type::time_point woken_at{};

    void on_wake(wake w) noexcept override
    {
        woken.push_back(w);
        woken_at = clock_type::now();
    }
};

/** A thread CPU clock the test sets: it runs at `permille` of the wall clock from the last
    set() on, so that a gauge reads the load the test says, whatever the machine's. */
struct fake_cpu {
    static inline std::chrono::nanoseconds base{};
    static inline clock_type::time_point since = clock_type::now();
    static inline long permille = 0;

    static std::chrono::nanoseconds now() noexcept
    {
        return base + (clock_type::now() - since) * permille / 1000;
    }

    static void set(long p) noexcept
    {
        base = now();
        since = clock_type::now();
        permille = p;
    }
};

/// Wait (on the clock, not asleep) until a gauge's window has passed since `from`.
void pass_window(clock_type::time_point from)
{
    while (clock_type::now() - from < busy_gauge::window + 2ms) {
    }
}

/// Run `ioc` until `done()` or 5 s.
template <class Done>
bool run_until(asio::io_context& ioc, Done done)
{
    const auto end = clock_type::now() + 5s;
    while (!done() && clock_type::now() < end) {
        ioc.restart();
        ioc.run_for(10ms);
    }
    return done();
}

struct IdleLot : ::testing::Test {
    asio::io_context ioc;
    busy_gauge load{&fake_cpu::now}; // idle (fake_cpu::set(0) in the constructor)
    std::unique_ptr<idle_lot> lot = std::make_unique<idle_lot>(ioc, load);

    IdleLot()
    {
        fake_cpu::set(0);
        (void)load.is_busy(); // its first window (the uptime) read: idle from here on
    }

    const clock_type::time_point far = clock_type::now() + 1h;
};

TEST_F(IdleLot, AParkedDescriptorThatBecomesReadableWakesItsOwnerOnce)
{
    pair_fds p;
    sleeper s;
    ASSERT_TRUE(lot->park(s, p.fds[0], far));
    EXPECT_TRUE(idle_lot::is_parked(s));
    EXPECT_EQ(lot->size(), 1U);
    ioc.run_for(20ms);
    EXPECT_TRUE(s.woken.empty()) << "nothing to read: nothing wakes it";
    p.send();
    ASSERT_TRUE(run_until(ioc, [&] { return !s.woken.empty(); }));
    EXPECT_EQ(s.woken, std::vector<wake>{wake::readable});
    EXPECT_FALSE(idle_lot::is_parked(s));
    EXPECT_EQ(lot->size(), 0U);

    // Parked again after it read everything: the next byte wakes it again (edge-triggered,
    // registered once).
    p.drain();
    ASSERT_TRUE(lot->park(s, p.fds[0], far));
    p.send();
    ASSERT_TRUE(run_until(ioc, [&] { return s.woken.size() == 2; }));
    EXPECT_EQ(s.woken.back(), wake::readable);
}

TEST_F(IdleLot, BytesThatCameBeforeItParkedWakeItAtOnce)
{
    pair_fds p;
    sleeper s;
    p.send(); // arrived before the first park: epoll_ctl(ADD) finds it readable
    ASSERT_TRUE(lot->park(s, p.fds[0], far));
    ASSERT_TRUE(run_until(ioc, [&] { return !s.woken.empty(); }));
    EXPECT_EQ(s.woken.front(), wake::readable);
}

TEST_F(IdleLot, TheIdleTimeoutsEndInTheOrderTheyParkedAndUnparkedOnesAreNotWoken)
{
    pair_fds a, b, c;
    sleeper first, second, taken_out;
    const auto start = clock_type::now();
    ASSERT_TRUE(lot->park(first, a.fds[0], start + 50ms));
    ASSERT_TRUE(lot->park(taken_out, c.fds[0], start + 60ms));
    ASSERT_TRUE(lot->park(second, b.fds[0], start + 150ms));
    lot->unpark(taken_out);
    EXPECT_EQ(lot->size(), 2U);
    ASSERT_TRUE(run_until(ioc, [&] { return !second.woken.empty(); }));
    EXPECT_EQ(first.woken, std::vector<wake>{wake::expired});
    EXPECT_EQ(second.woken, std::vector<wake>{wake::expired});
    EXPECT_GE(first.woken_at, start + 50ms);
    EXPECT_GE(second.woken_at, start + 150ms);
    EXPECT_LT(first.woken_at, second.woken_at);
    EXPECT_TRUE(taken_out.woken.empty());
    // a later park may not be due before an earlier one: the queue stays in order
    pair_fds d, e;
    sleeper late, early;
    const auto now = clock_type::now();
    ASSERT_TRUE(lot->park(late, d.fds[0], now + 80ms));
    ASSERT_TRUE(lot->park(early, e.fds[0], now + 10ms));
    ASSERT_TRUE(run_until(ioc, [&] { return !early.woken.empty(); }));
    EXPECT_GE(early.woken_at, now + 80ms) << "held to the order: not before the one parked before";
}

TEST_F(IdleLot, MoreReadyAtOnceThanOneEpollWaitTakesAreAllWoken)
{
    constexpr std::size_t n = 300; // several batches of 64
    std::deque<pair_fds> pairs(n);
    std::deque<sleeper> sleepers(n);
    for (std::size_t i = 0; i < n; ++i)
        ASSERT_TRUE(lot->park(sleepers[i], pairs[i].fds[0], far));
    for (auto& p : pairs)
        p.send();
    auto all_woken = [&] {
        for (auto& s : sleepers)
            if (s.woken.empty())
                return false;
        return true;
    };
    ASSERT_TRUE(run_until(ioc, all_woken));
    for (auto& s : sleepers)
        EXPECT_EQ(s.woken, std::vector<wake>{wake::readable});
    EXPECT_EQ(lot->size(), 0U);
}

TEST_F(IdleLot, CloseWakesEveryParkedOneRefusesNewOnesAndLeavesNothingPending)
{
    pair_fds a, b;
    sleeper s1, s2, later;
    ASSERT_TRUE(lot->park(s1, a.fds[0], far));
    ASSERT_TRUE(lot->park(s2, b.fds[0], clock_type::now() + 10min));
    lot->close(wake::drain);
    EXPECT_EQ(s1.woken, std::vector<wake>{wake::drain});
    EXPECT_EQ(s2.woken, std::vector<wake>{wake::drain});
    EXPECT_FALSE(lot->park(later, a.fds[0], far)) << "closed: it waits by itself";
    EXPECT_FALSE(lot->wants_parking());
    // No wait of the lot is left to keep the loop running: run() returns.
    const auto start = clock_type::now();
    ioc.restart();
    ioc.run();
    EXPECT_LT(clock_type::now() - start, 1s);
}

TEST_F(IdleLot, TheLotGoneWakesWhatIsStillParkedAsForced)
{
    pair_fds a;
    sleeper s;
    ASSERT_TRUE(lot->park(s, a.fds[0], far));
    lot.reset();
    EXPECT_EQ(s.woken, std::vector<wake>{wake::forced});
}

TEST_F(IdleLot, AWaitingOneIsSweptIntoParkingOnceTheLoopHasTime)
{
    sleeper waiting, left;
    const auto start = clock_type::now();
    lot->enter_waiting(waiting);
    lot->enter_waiting(left);
    lot->leave_waiting(left); // its wait ended first: not swept
    EXPECT_FALSE(idle_lot::is_parked(waiting)) << "waiting is not parked";
    ASSERT_TRUE(run_until(ioc, [&] { return !waiting.woken.empty(); }));
    EXPECT_EQ(waiting.woken, std::vector<wake>{wake::park});
    EXPECT_GE(clock_type::now() - start, idle_lot::sweep_interval);
    EXPECT_TRUE(left.woken.empty());
}

TEST_F(IdleLot, ABusyLoopSweepsLater)
{
    sleeper waiting;
    fake_cpu::set(1000);  // the loop's thread runs all the time
    (void)load.is_busy(); // a window starts now (the first one ever spans the uptime)
    lot->enter_waiting(waiting);
    ioc.run_for(3 * idle_lot::sweep_interval + 20ms);
    EXPECT_TRUE(waiting.woken.empty()) << "swept while its loop was saturated";
    const auto idle_from = clock_type::now();
    fake_cpu::set(0); // and now it has time
    ASSERT_TRUE(run_until(ioc, [&] { return !waiting.woken.empty(); }));
    EXPECT_EQ(waiting.woken, std::vector<wake>{wake::park});
    EXPECT_LE(waiting.woken_at - idle_from, 2 * idle_lot::sweep_interval + 50ms)
        << "by the next sweep or the one after";
    EXPECT_TRUE(lot->wants_parking());
}

TEST(BusyGauge, ReadsTheShareOfTheLastWindowThatTheThreadRan)
{
    busy_gauge g(&fake_cpu::now);
    const auto reading = [&](long permille) {
        fake_cpu::set(permille);
        const auto from = clock_type::now();
        (void)g.is_busy(); // the window starts here (the first one ever spans the uptime)
        pass_window(from);
        return std::pair{g.is_busy(), g.is_saturated()};
    };
    (void)reading(0);
    EXPECT_EQ(reading(1000), std::pair(true, true));
    EXPECT_EQ(reading(950), std::pair(true, true));
    EXPECT_EQ(reading(600), std::pair(true, false));
    EXPECT_EQ(reading(300), std::pair(false, false));
    EXPECT_EQ(reading(0), std::pair(false, false));
}

TEST(BusyGauge, TheThreadClockOfAnIdleThreadReadsIdle)
{
    busy_gauge g; // the real clock: this thread waits below, it does not run
    (void)g.is_busy();
    ::usleep(30'000); // idle time is what is measured, not a synchronisation
    EXPECT_FALSE(g.is_busy());
    EXPECT_FALSE(g.is_saturated());
}

} // namespace
