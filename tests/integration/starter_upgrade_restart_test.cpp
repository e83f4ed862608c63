// SPDX-License-Identifier: MIT
// start_server upgrading itself in place while a restart is under way (issue 14): the new
// generation not yet ready, a HUP pending behind it, and `--readiness=interval`'s deadline
// running. The restart completes after the upgrade, as if none had happened: the old
// generation is retired exactly once, when it would have been.
#include "starter_upgrade_checks.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace starter_test;

struct StarterUpgradeRestart : ::testing::Test {
    temp_dir dir;
    std::uint16_t port = 0;
    std::string status = (dir / "status").string();
    std::string pid_file = (dir / "pid").string();

    // start_server with `options`, running `worker_program` (no arguments).
    std::vector<std::string> argv(const std::vector<std::string>& options,
                                  const std::string& worker_program) const
    {
        std::vector<std::string> out{program("start_server"), "--port=127.0.0.1:0",
                                     "--status-file=" + status, "--pid-file=" + pid_file};
        out.insert(out.end(), options.begin(), options.end());
        out.insert(out.end(), {"--", worker_program});
        return out;
    }

    // echo_pid_worker behind a shell that makes every generation after the first warm up for
    // `delay_ms` before it accepts and says READY=1, so a restart stays under way that long.
    std::string slow_after_first_worker(int delay_ms) const
    {
        const auto path = dir / "slow_worker.sh";
        {
            std::ofstream script(path);
            script << "#!/bin/sh\n"
                      "delay=0\n"
                      "[ \"$SERVER_STARTER_GENERATION\" = 1 ] || delay="
                   << delay_ms << "\nexec " << program("echo_pid_worker")
                   << " --notify-ready --ready-delay-ms=$delay\n";
        }
        std::filesystem::permissions(path, std::filesystem::perms::owner_all);
        return path.string();
    }

    bool serves_http_generation(long gen)
    {
        return wait_until([&] { return generation_of(ask_http(port)) == gen; });
    }
};

/// Where the `nth` occurrence of `needle` starts in `log`; npos when there are fewer.
std::size_t position_of(const std::string& log, const std::string& needle, std::size_t nth = 1)
{
    std::size_t at = log.find(needle);
    for (std::size_t i = 1; i < nth && at != std::string::npos; ++i)
        at = log.find(needle, at + 1);
    return at;
}

TEST_F(StarterUpgradeRestart, UpgradeWhileTheNewGenerationWarmsUpCompletesBothAndRetiresOnce)
{
    child_process s(
        argv({"--readiness=notify", "--ready-timeout=30"}, slow_after_first_worker(3000)));
    const pid_t server = s.pid();
    port = listening_port(server);
    ASSERT_TRUE(serves_http_generation(1)) << s.output();
    ASSERT_TRUE(is_settled_on(server, status, 1)) << s.output();
    const pid_t first = pid_of(ask_http(port));
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return count_of(s.output(), "starting new worker") == 2; }))
        << s.output();
    s.signal(SIGUSR2); // generation 2 is warming up: the upgrade takes it over as a candidate
    ASSERT_TRUE(upgraded(s, 1)) << s.output();
    EXPECT_TRUE(s.has_output(" ms, 2 workers kept (")) << s.output();
    ASSERT_TRUE(serves_http_generation(2)) << s.output();
    ASSERT_TRUE(is_settled_on(server, status, 2)) << s.output();
    EXPECT_TRUE(is_process_gone(first));
    const std::string log = s.output();
    // the premise: the upgrade came before generation 2 said it was ready
    EXPECT_LT(position_of(log, "start_server upgraded in "), position_of(log, "is ready after", 2))
        << log;
    EXPECT_EQ(count_of(log, "new worker is now running, sending TERM to old workers:" +
                                std::to_string(first)),
              1u)
        << log;
    EXPECT_EQ(count_of(log, "sending TERM to old workers"), 1u) << log;
    // retired once its successor was ready, not when the image changed
    EXPECT_GT(position_of(log, "sending TERM to old workers"),
              position_of(log, "is ready after", 2))
        << log;
    EXPECT_EQ(count_of(log, "old worker " + std::to_string(first) + " died, status:0"), 1u) << log;
    EXPECT_EQ(count_of(log, "starting new worker"), 2u) << log;
    EXPECT_EQ(s.pid(), server);
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterUpgradeRestart, HupPendingBehindARestartSurvivesTheUpgradeAndRunsOnce)
{
    child_process s(
        argv({"--readiness=notify", "--ready-timeout=30"}, slow_after_first_worker(2000)));
    const pid_t server = s.pid();
    port = listening_port(server);
    ASSERT_TRUE(serves_http_generation(1)) << s.output();
    ASSERT_TRUE(is_settled_on(server, status, 1)) << s.output();
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return count_of(s.output(), "starting new worker") == 2; }))
        << s.output();
    s.signal(SIGHUP); // coalesced: one more restart once generation 2 is ready
    ASSERT_TRUE(s.wait_for_output("one more restart will follow it")) << s.output();
    s.signal(SIGUSR2);
    ASSERT_TRUE(upgraded(s, 1)) << s.output();
    ASSERT_TRUE(is_settled_on(server, status, 3)) << s.output();
    EXPECT_EQ(generation_of(ask_http(port)), 3);
    const std::string log = s.output();
    EXPECT_LT(position_of(log, "start_server upgraded in "), position_of(log, "is ready after", 2))
        << log;
    EXPECT_EQ(count_of(log, "starting new worker"), 3u) << log; // the pending HUP ran once
    EXPECT_EQ(count_of(log, "sending TERM to old workers"), 2u) << log;
    EXPECT_EQ(count_of(log, "old worker "), 2u) << log;
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

// --readiness=interval: a new worker counts as started once alive --interval after fork.
constexpr auto interval = std::chrono::seconds(2);

TEST_F(StarterUpgradeRestart, UpgradesDuringTheIntervalKeepItsDeadline)
{
    child_process s(argv({"--interval=2"}, worker()));
    const pid_t server = s.pid();
    port = listening_port(server);
    ASSERT_TRUE(is_settled_on(server, status, 1)) << s.output(); // generation 1 counted as started
    const pid_t first = pid_of(ask(port));
    const auto hup_at = std::chrono::steady_clock::now();
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return count_of(s.output(), "starting new worker") == 2; }))
        << s.output();
    // Upgrade back to back through the interval. Were the deadline counted again from zero
    // by each new image, generation 2 would never count as started while this goes on; were
    // it lost, never at all. Bounded: 3 intervals, 400 upgrades.
    std::size_t upgrades = 0;
    bool is_running = false;
    while (!is_running && upgrades < 400 &&
           std::chrono::steady_clock::now() < hup_at + 3 * interval) {
        s.signal(SIGUSR2);
        ASSERT_TRUE(upgraded(s, ++upgrades)) << s.output();
        is_running = s.has_output("new worker is now running");
    }
    ASSERT_TRUE(s.wait_for_output("new worker is now running", 3 * interval)) << s.output();
    const auto running_after = std::chrono::steady_clock::now() - hup_at;
    EXPECT_TRUE(is_running) << upgrades << " upgrades, and generation 2 not started yet\n"
                            << s.output();
    EXPECT_GE(upgrades, 3u) << s.output(); // several images ran the interval
    EXPECT_GE(running_after, interval);    // never early: the fork came after the HUP
    ASSERT_TRUE(is_settled_on(server, status, 2)) << s.output();
    EXPECT_TRUE(is_process_gone(first));
    const std::string log = s.output();
    EXPECT_EQ(count_of(log, "sending TERM to old workers:" + std::to_string(first)), 1u) << log;
    EXPECT_EQ(count_of(log, "old worker "), 1u) << log;
    EXPECT_EQ(generation_of(ask(port)), 2);
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterUpgradeRestart, UpgradeWithNoRestartUnderWayKeepsTheIntervalWorkerAndRestartsLater)
{
    child_process s(argv({"--interval=2"}, worker()));
    const pid_t server = s.pid();
    port = listening_port(server);
    ASSERT_TRUE(is_settled_on(server, status, 1)) << s.output();
    const pid_t first = pid_of(ask(port));
    const std::string status_before = read_file(status);
    for (std::size_t i = 1; i <= 3; ++i) {
        s.signal(SIGUSR2);
        ASSERT_TRUE(upgraded(s, i)) << s.output();
        EXPECT_EQ(pid_of(ask(port)), first);
        EXPECT_EQ(read_file(status), status_before);
        EXPECT_EQ(children_of(server), std::vector<pid_t>{first});
    }
    EXPECT_TRUE(s.has_output(" ms, 1 workers kept (")) << s.output();
    EXPECT_EQ(count_of(s.output(), "starting new worker"), 1u) << s.output(); // nothing started
    // The new image still runs restarts by the interval.
    const auto hup_at = std::chrono::steady_clock::now();
    s.signal(SIGHUP);
    ASSERT_TRUE(s.wait_for_output("new worker is now running", 3 * interval)) << s.output();
    EXPECT_GE(std::chrono::steady_clock::now() - hup_at, interval);
    ASSERT_TRUE(is_settled_on(server, status, 2)) << s.output();
    EXPECT_EQ(count_of(s.output(), "sending TERM to old workers:" + std::to_string(first)), 1u)
        << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

} // namespace
