// SPDX-License-Identifier: MIT
// start_server --drain-delay: on a stop, the listeners stay open and the workers serve on
// for the delay (a load balancer has time to see the host leave), then the stop goes on.
#include "starter_harness.hpp"

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace starter_test;

struct StarterDrain : ::testing::Test {
    temp_dir dir;
    std::uint16_t port = 0;
    std::string pid = (dir / "pid").string();
    std::string status = (dir / "status").string();

    std::vector<std::string> server(const std::string& delay) const
    {
        return {program("start_server"),
                "--port=127.0.0.1:0",
                "--pid-file=" + pid,
                "--status-file=" + status,
                "--interval=0",
                "--drain-delay=" + delay,
                "--",
                worker()};
    }

    child_process start(const std::string& delay)
    {
        child_process s = start_and_learn_port(server(delay), port);
        EXPECT_TRUE(wait_until([&] { return read_file(status).starts_with("1:"); })) << s.output();
        return s;
    }
};

TEST_F(StarterDrain, ListenersAcceptAndWorkersServeThroughoutTheDelay)
{
    auto s = start("1.5");
    const auto stopped_at = std::chrono::steady_clock::now();
    ASSERT_TRUE(s.signal(SIGTERM));
    ASSERT_TRUE(s.wait_for_output("received TERM, draining for 1500 ms before stopping workers"))
        << s.output();
    // Every connection made before the workers get their signal is answered by generation 1.
    int answered = 0;
    const bool is_stopped = wait_until(
        [&] {
            if (s.has_output("sending TERM to all workers"))
                return true;
            const std::string reply = ask(port);
            if (s.has_output("sending TERM to all workers"))
                return true; // the reply raced the stop: it proves nothing either way
            EXPECT_EQ(generation_of(reply), 1) << "refused or unanswered during the delay";
            ++answered;
            return false;
        },
        10s);
    ASSERT_TRUE(is_stopped) << s.output();
    EXPECT_GE(std::chrono::steady_clock::now() - stopped_at, 1500ms);
    EXPECT_GT(answered, 0);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_EQ(last_line(s.output()), "exiting");
}

TEST_F(StarterDrain, SecondStopSignalEndsTheDelayAtOnce)
{
    auto s = start("60");
    ASSERT_TRUE(s.signal(SIGTERM));
    ASSERT_TRUE(s.wait_for_output("draining for 60000 ms")) << s.output();
    EXPECT_EQ(generation_of(ask(port)), 1);
    ASSERT_TRUE(s.signal(SIGINT));
    EXPECT_EQ(s.wait_for_exit_code(10s), 0) << s.output();
    EXPECT_TRUE(s.has_output("received INT during the drain delay, stopping workers now"));
    EXPECT_TRUE(s.has_output("received INT, sending TERM to all workers:"));
}

TEST_F(StarterDrain, StopClientWaitsThroughTheDelay)
{
    auto s = start("1");
    const auto asked_at = std::chrono::steady_clock::now();
    child_process stop({program("start_server"), "--stop", "--pid-file=" + pid});
    EXPECT_EQ(stop.wait_for_exit_code(), 0) << stop.output();
    EXPECT_GE(std::chrono::steady_clock::now() - asked_at, 1000ms);
    // --stop returns once the server released its pid file: it has exited by then.
    EXPECT_EQ(s.wait_for_exit_code(5s), 0) << s.output();
    EXPECT_TRUE(s.has_output("draining for 1000 ms before stopping workers")) << s.output();
}

TEST_F(StarterDrain, BadDelayIsRefusedBeforeAnythingStarts)
{
    child_process s(
        {program("start_server"), "--port=127.0.0.1:0", "--drain-delay=soon", "--", worker()});
    EXPECT_EQ(s.wait_for_exit_code(), 1);
    EXPECT_EQ(s.output(), "Value \"soon\" invalid for option drain-delay (seconds expected)\n");
}

} // namespace
