// SPDX-License-Identifier: MIT
// start_server restarts: generations, coalesced HUPs, failed deploys, readiness, shutdown.
#include "starter_harness.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace starter_test;

struct StarterRestart : ::testing::Test {
    temp_dir dir;
    std::uint16_t port = 0; ///< what start_server bound for --port=127.0.0.1:0 (see start)
    std::string status = (dir / "status").string();

    std::vector<std::string> base(const std::vector<std::string>& extra = {}) const
    {
        std::vector<std::string> argv{program("start_server"), "--port=127.0.0.1:0",
                                      "--status-file=" + status};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
    }

    static std::vector<std::string> with_worker(std::vector<std::string> argv,
                                                const std::vector<std::string>& worker_args = {})
    {
        argv.push_back("--");
        argv.push_back(worker());
        argv.insert(argv.end(), worker_args.begin(), worker_args.end());
        return argv;
    }

    child_process start(std::vector<std::string> argv)
    {
        return start_and_learn_port(std::move(argv), port);
    }

    bool serves_generation(long gen)
    {
        return wait_until([&] { return generation_of(ask(port)) == gen; });
    }

    // Status-file lines as "GEN:PID" strings.
    std::vector<std::string> status_lines()
    {
        std::vector<std::string> out;
        std::istringstream in(read_file(status));
        for (std::string l; std::getline(in, l);)
            out.push_back(l);
        return out;
    }

    bool status_is_single_generation(long gen)
    {
        return wait_until([&] {
            const auto l = status_lines();
            return l.size() == 1 && std::atol(l[0].c_str()) == gen;
        });
    }
};

TEST_F(StarterRestart, HupIsServedByTheNextGenerationAndTheOldOneExits)
{
    auto s = start(with_worker(base({"--interval=0"})));
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t first = pid_of(ask(port));
    ASSERT_TRUE(status_is_single_generation(1));
    s.signal(SIGHUP);
    ASSERT_TRUE(serves_generation(2)) << s.output();
    ASSERT_TRUE(status_is_single_generation(2)) << s.output();
    EXPECT_TRUE(wait_until([&] { return !is_alive(first); }));
    EXPECT_TRUE(s.has_output("received HUP, spawning a new worker"));
    EXPECT_TRUE(s.has_output("new worker is now running, sending TERM to old workers:" +
                             std::to_string(first)));
    EXPECT_TRUE(s.has_output("old worker " + std::to_string(first) + " died, status:0"));
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_EQ(last_line(s.output()), "exiting");
    EXPECT_FALSE(exists(status)); // removed: this process created it
}

TEST_F(StarterRestart, HupStormEndsWithExactlyOneGenerationAndNoStrayWorker)
{
    auto s = start(with_worker(base({"--interval=0"})));
    ASSERT_TRUE(serves_generation(1)) << s.output();
    std::vector<pid_t> seen{pid_of(ask(port))};
    for (int i = 0; i < 300; ++i) {
        s.signal(SIGHUP);
        if (i % 30 == 0)
            seen.push_back(pid_of(ask(port)));
    }
    // A USR1 (logged, otherwise ignored) after the storm: start_server reads pending signals
    // lowest number first, so once it logs the USR1 it has taken in every HUP.
    s.signal(SIGUSR1);
    ASSERT_TRUE(s.wait_for_output("received USR1, ignored", 30s)) << s.output();
    // Settled: one line in the status file, and neither it nor the log changing for a second.
    std::string last_state;
    auto last_change = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_until(
        [&] {
            const auto lines = status_lines();
            std::string state = s.output();
            for (const auto& l : lines)
                state += "\nstatus " + l;
            const auto now = std::chrono::steady_clock::now();
            if (state != last_state) {
                last_state = std::move(state);
                last_change = now;
                return false;
            }
            return lines.size() == 1 && now - last_change >= 1s;
        },
        60s))
        << s.output();
    const auto line = status_lines().at(0);
    const pid_t current = static_cast<pid_t>(std::atol(line.substr(line.find(':') + 1).c_str()));
    EXPECT_EQ(pid_of(ask(port)), current);
    for (pid_t p : seen) {
        if (p != current && p > 0) {
            EXPECT_FALSE(is_alive(p)) << p;
        }
    }
    // every worker ever started is current or was reaped as an old one
    const auto started = count_of(s.output(), "starting new worker");
    const auto died = count_of(s.output(), "old worker ");
    EXPECT_EQ(started, died + 1) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0);
}

TEST_F(StarterRestart, CrashingNewGenerationKeepsTheOldOneServingAndGenerationsCountAttempts)
{
    // --interval=1: a worker must outlive it to count as started (0 would call a fast crash
    // a start, as Server::Starter does)
    auto s = start(with_worker(base({"--interval=1"}), {"--exit-on-generation", "2"}));
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t first = pid_of(ask(port));
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        return s.has_output("seems to have failed to start, exit status:256");
    })) << s.output();
    EXPECT_EQ(generation_of(ask(port)), 1); // still the old generation
    EXPECT_TRUE(is_alive(first));
    ASSERT_TRUE(serves_generation(3)) << s.output(); // the paced retry is generation 3
    EXPECT_TRUE(status_is_single_generation(3));
}

TEST_F(StarterRestart, ExecFailureKeepsTheOldGenerationAndRecoversWhenTheBinaryReturns)
{
    const std::string copy = (dir / "worker-copy").string();
    std::filesystem::copy_file(worker(), copy);
    std::filesystem::permissions(copy, std::filesystem::perms::owner_exec,
                                 std::filesystem::perm_options::add);
    auto argv = base({"--interval=1"});
    argv.push_back("--");
    argv.push_back(copy);
    auto s = start(argv);
    ASSERT_TRUE(serves_generation(1)) << s.output();
    ASSERT_EQ(::rename(copy.c_str(), (copy + ".away").c_str()), 0);
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        return s.has_output("failed to exec " + copy + "No such file or directory") &&
               s.has_output("exit status:65280");
    })) << s.output();
    EXPECT_EQ(generation_of(ask(port)), 1);
    ASSERT_EQ(::rename((copy + ".away").c_str(), copy.c_str()), 0);
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) > 2; })) << s.output();
}

TEST_F(StarterRestart, NotifyReadinessRetiresTheOldGenerationOnReadyNotAfterTheInterval)
{
    // --interval=30 would make the default mode wait 30 s; notify does not wait for it.
    auto s = start(with_worker(base({"--readiness=notify", "--interval=30"}), {"--notify-ready"}));
    ASSERT_TRUE(serves_generation(1)) << s.output();
    ASSERT_TRUE(status_is_single_generation(1)) << s.output();
    s.signal(SIGHUP);
    ASSERT_TRUE(status_is_single_generation(2)) << s.output();
    EXPECT_TRUE(s.has_output("is ready after"));
    EXPECT_EQ(generation_of(ask(port)), 2);
}

TEST_F(StarterRestart, BatonNotifyReadyFromTheEchoWorkerCountsAsReady)
{
    auto argv = base({"--readiness=notify", "--interval=30", "--ready-timeout=10"});
    argv.insert(argv.end(), {"--", program("echo_pid_worker"), "--notify-ready"});
    auto s = start(argv);
    ASSERT_TRUE(status_is_single_generation(1)) << s.output();
    EXPECT_EQ(generation_of(ask_http(port)), 1);
    s.signal(SIGHUP);
    ASSERT_TRUE(status_is_single_generation(2)) << s.output();
    EXPECT_EQ(generation_of(ask_http(port)), 2);
    EXPECT_TRUE(s.has_output("is ready after"));
}

TEST_F(StarterRestart, NeverReadyGenerationFailsAtTheReadyTimeoutAndTheOldKeepsServing)
{
    // --ready-timeout=3: generation 2 never gets ready; 1 and the retry 3 must be ready in time
    // even when a loaded machine is slow to start them.
    auto s = start(with_worker(base({"--readiness=notify", "--ready-timeout=3"}),
                               {"--notify-ready", "--never-ready-on-generation", "2"}));
    ASSERT_TRUE(status_is_single_generation(1)) << s.output();
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return s.has_output("not ready after"); })) << s.output();
    // Generation 2 leaves the status file once it is killed and reaped (the log line comes
    // first); the retry, 3, may already be starting by then (its pace has passed). Generation
    // 1 is still there: it is retired only once 3 is ready.
    const auto lists = [](const std::vector<std::string>& lines, long gen) {
        return std::any_of(lines.begin(), lines.end(),
                           [gen](const std::string& l) { return std::atol(l.c_str()) == gen; });
    };
    ASSERT_TRUE(wait_until([&] { return !lists(status_lines(), 2); })) << s.output();
    const auto after = status_lines();
    EXPECT_TRUE(lists(after, 1) || (after.size() == 1 && lists(after, 3))) << s.output();
    ASSERT_TRUE(status_is_single_generation(3)) << s.output(); // the retry is ready
}

TEST_F(StarterRestart, SystemdNotifyFromAShellWorkerCountsAsReady)
{
    if (::access("/usr/bin/systemd-notify", X_OK) != 0)
        GTEST_SKIP() << "systemd-notify is not installed";
    auto argv = base({"--readiness=notify", "--interval=30", "--ready-timeout=10"});
    argv.insert(argv.end(),
                {"--", "/bin/sh", "-c", "/usr/bin/systemd-notify --ready && exec " + worker()});
    auto s = start(argv);
    ASSERT_TRUE(status_is_single_generation(1)) << s.output();
    s.signal(SIGHUP);
    ASSERT_TRUE(status_is_single_generation(2)) << s.output();
    EXPECT_TRUE(s.has_output("is ready after"));
}

TEST_F(StarterRestart, CrashOnStartUnderNotifyKeepsTheOldGenerationServing)
{
    auto s = start(with_worker(base({"--readiness=notify", "--ready-timeout=5"}),
                               {"--notify-ready", "--exit-on-generation", "2"}));
    ASSERT_TRUE(status_is_single_generation(1)) << s.output();
    const pid_t first = pid_of(ask(port));
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        return s.has_output("seems to have failed to start, exit status:256");
    })) << s.output();
    EXPECT_EQ(pid_of(ask(port)), first);
    ASSERT_TRUE(status_is_single_generation(3)) << s.output(); // the paced retry
    EXPECT_FALSE(is_alive(first));
}

TEST_F(StarterRestart, ShutdownTimeoutKillsAWorkerThatIgnoresTerm)
{
    auto s =
        start(with_worker(base({"--interval=0", "--shutdown-timeout=0.3"}), {"--ignore-term"}));
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t w = pid_of(ask(port));
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_TRUE(s.has_output("worker " + std::to_string(w) + " still alive"));
    EXPECT_TRUE(s.has_output("worker " + std::to_string(w) + " died, status:9"));
    EXPECT_FALSE(is_alive(w));
}

TEST_F(StarterRestart, ShutdownTimeoutKillsAnOldWorkerThatIgnoresTheRestartSignal)
{
    auto s =
        start(with_worker(base({"--interval=0", "--shutdown-timeout=0.3"}), {"--ignore-term"}));
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t first = pid_of(ask(port));
    s.signal(SIGHUP);
    ASSERT_TRUE(status_is_single_generation(2)) << s.output();
    EXPECT_TRUE(s.has_output("old worker " + std::to_string(first) + " died, status:9"));
}

TEST_F(StarterRestart, TermDuringARestartStopsBothGenerations)
{
    auto s = start(with_worker(base({"--readiness=notify"}),
                               {"--notify-ready", "--never-ready-on-generation", "2"}));
    ASSERT_TRUE(status_is_single_generation(1)) << s.output();
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return count_of(s.output(), "starting new worker") == 2; }));
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_EQ(count_of(s.output(), " died, status:"), 2u) << s.output();
    EXPECT_EQ(last_line(s.output()), "exiting");
}

TEST_F(StarterRestart, KillOldDelayKeepsTheOldWorkerUntilItEnds)
{
    // --kill-old-delay=2: a window wide enough to see both generations on a loaded machine
    auto s = start(with_worker(base({"--interval=0", "--kill-old-delay=2"})));
    ASSERT_TRUE(serves_generation(1)) << s.output();
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        return s.has_output("sleeping 2 secs before killing old workers");
    })) << s.output();
    // both generations are listed during the delay (the line is logged just before the
    // status file is rewritten, so wait for it)
    EXPECT_TRUE(wait_until([&] { return status_lines().size() == 2; })) << read_file(status);
    ASSERT_TRUE(status_is_single_generation(2)) << s.output();
    const auto log = s.output();
    EXPECT_LT(log.find("sleeping 2 secs"), log.find("killing old workers"));
}

TEST_F(StarterRestart, AutoRestartStartsNewGenerationsWithoutAHup)
{
    auto s = start(with_worker(base({"--interval=0", "--enable-auto-restart",
                                     "--auto-restart-interval=1", "--kill-old-delay=0"})));
    ASSERT_TRUE(serves_generation(1)) << s.output();
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) >= 2; })) << s.output();
    EXPECT_TRUE(s.has_output("autorestart triggered (interval=1)"));
}

TEST_F(StarterRestart, DeadCurrentWorkerIsRespawned)
{
    auto s = start(with_worker(base({"--interval=0"})));
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t first = pid_of(ask(port));
    ::kill(first, SIGKILL);
    ASSERT_TRUE(serves_generation(2)) << s.output();
    EXPECT_TRUE(s.has_output("worker " + std::to_string(first) +
                             " died unexpectedly with status:9, restarting"));
}

} // namespace
