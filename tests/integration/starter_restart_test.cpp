// SPDX-License-Identifier: MIT
// start_server restarts: generations, coalesced HUPs, failed deploys, readiness, shutdown.
#include "starter_harness.hpp"

namespace {

using namespace starter_test;

struct StarterRestart : ::testing::Test {
    temp_dir dir;
    int port = free_port();
    std::string status = dir / "status";

    std::vector<std::string> base(const std::vector<std::string>& extra = {})
    {
        std::vector<std::string> argv{bin("start_server"),
                                      "--port=127.0.0.1:" + std::to_string(port),
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
    process s(with_worker(base({"--interval=0"})), dir / "log");
    ASSERT_TRUE(serves_generation(1)) << s.log();
    const pid_t first = pid_of(ask(port));
    ASSERT_TRUE(status_is_single_generation(1));
    s.signal(SIGHUP);
    ASSERT_TRUE(serves_generation(2)) << s.log();
    ASSERT_TRUE(status_is_single_generation(2)) << s.log();
    EXPECT_TRUE(wait_until([&] { return !is_alive(first); }));
    EXPECT_TRUE(s.logged("received HUP, spawning a new worker"));
    EXPECT_TRUE(s.logged("new worker is now running, sending TERM to old workers:" +
                         std::to_string(first)));
    EXPECT_TRUE(s.logged("old worker " + std::to_string(first) + " died, status:0"));
    s.signal(SIGTERM);
    EXPECT_EQ(s.exit_code(), 0) << s.log();
    EXPECT_EQ(last_line(s.log()), "exiting");
    EXPECT_FALSE(exists(status)); // removed: this process created it
}

TEST_F(StarterRestart, HupStormEndsWithExactlyOneGenerationAndNoStrayWorker)
{
    process s(with_worker(base({"--interval=0"})), dir / "log");
    ASSERT_TRUE(serves_generation(1)) << s.log();
    std::vector<pid_t> seen{pid_of(ask(port))};
    for (int i = 0; i < 300; ++i) {
        s.signal(SIGHUP);
        if (i % 30 == 0)
            seen.push_back(pid_of(ask(port)));
    }
    // Settled: one line in the status file, and nothing more happening.
    ASSERT_TRUE(wait_until(
        [&] {
            const auto before = status_lines();
            const std::string log_before = s.log();
            ::poll(nullptr, 0, 300);
            return before.size() == 1 && status_lines() == before && s.log() == log_before;
        },
        30s))
        << s.log();
    const auto line = status_lines().at(0);
    const pid_t current = static_cast<pid_t>(std::atol(line.substr(line.find(':') + 1).c_str()));
    EXPECT_EQ(pid_of(ask(port)), current);
    for (pid_t p : seen) {
        if (p != current && p > 0) {
            EXPECT_FALSE(is_alive(p)) << p;
        }
    }
    // every worker ever started is current or was reaped as an old one
    const auto started = count_of(s.log(), "starting new worker");
    const auto died = count_of(s.log(), "old worker ");
    EXPECT_EQ(started, died + 1) << s.log();
    s.signal(SIGTERM);
    EXPECT_EQ(s.exit_code(), 0);
}

TEST_F(StarterRestart, CrashingNewGenerationKeepsTheOldOneServingAndGenerationsCountAttempts)
{
    // --interval=1: a worker must outlive it to count as started (0 would call a fast crash
    // a start, as Server::Starter does)
    process s(with_worker(base({"--interval=1"}), {"--exit-on-generation", "2"}), dir / "log");
    ASSERT_TRUE(serves_generation(1)) << s.log();
    const pid_t first = pid_of(ask(port));
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        return s.logged("seems to have failed to start, exit status:256");
    })) << s.log();
    EXPECT_EQ(generation_of(ask(port)), 1); // still the old generation
    EXPECT_TRUE(is_alive(first));
    ASSERT_TRUE(serves_generation(3)) << s.log(); // the paced retry is generation 3
    EXPECT_TRUE(status_is_single_generation(3));
}

TEST_F(StarterRestart, ExecFailureKeepsTheOldGenerationAndRecoversWhenTheBinaryReturns)
{
    const std::string copy = dir / "worker-copy";
    ASSERT_EQ(std::system(("cp '" + worker() + "' '" + copy + "'").c_str()), 0);
    auto argv = base({"--interval=1"});
    argv.push_back("--");
    argv.push_back(copy);
    process s(argv, dir / "log");
    ASSERT_TRUE(serves_generation(1)) << s.log();
    ASSERT_EQ(::rename(copy.c_str(), (copy + ".away").c_str()), 0);
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        return s.logged("failed to exec " + copy + "No such file or directory") &&
               s.logged("exit status:65280");
    })) << s.log();
    EXPECT_EQ(generation_of(ask(port)), 1);
    ASSERT_EQ(::rename((copy + ".away").c_str(), copy.c_str()), 0);
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) > 2; }, 15s)) << s.log();
}

TEST_F(StarterRestart, NotifyReadinessRetiresTheOldGenerationOnReadyNotAfterTheInterval)
{
    // --interval=30 would make the default mode wait 30 s; notify does not wait for it.
    process s(with_worker(base({"--readiness=notify", "--interval=30"}), {"--notify-ready"}),
              dir / "log");
    ASSERT_TRUE(serves_generation(1)) << s.log();
    ASSERT_TRUE(status_is_single_generation(1)) << s.log();
    s.signal(SIGHUP);
    ASSERT_TRUE(status_is_single_generation(2)) << s.log();
    EXPECT_TRUE(s.logged("is ready after"));
    EXPECT_EQ(generation_of(ask(port)), 2);
}

TEST_F(StarterRestart, BatonNotifyReadyFromTheEchoWorkerCountsAsReady)
{
    auto argv = base({"--readiness=notify", "--interval=30", "--ready-timeout=10"});
    argv.insert(argv.end(), {"--", bin("echo_pid_worker"), "--notify-ready"});
    process s(argv, dir / "log");
    ASSERT_TRUE(status_is_single_generation(1)) << s.log();
    EXPECT_EQ(generation_of(ask_http(port)), 1);
    s.signal(SIGHUP);
    ASSERT_TRUE(status_is_single_generation(2)) << s.log();
    EXPECT_EQ(generation_of(ask_http(port)), 2);
    EXPECT_TRUE(s.logged("is ready after"));
}

TEST_F(StarterRestart, NeverReadyGenerationFailsAtTheReadyTimeoutAndTheOldKeepsServing)
{
    process s(with_worker(base({"--readiness=notify", "--ready-timeout=0.3"}),
                          {"--notify-ready", "--never-ready-on-generation", "2"}),
              dir / "log");
    ASSERT_TRUE(status_is_single_generation(1)) << s.log();
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return s.logged("not ready after"); })) << s.log();
    EXPECT_EQ(status_lines().size(), 1u);
    EXPECT_EQ(std::atol(status_lines().at(0).c_str()), 1);
    ASSERT_TRUE(status_is_single_generation(3)) << s.log(); // the retry is ready
}

TEST_F(StarterRestart, SystemdNotifyFromAShellWorkerCountsAsReady)
{
    if (::access("/usr/bin/systemd-notify", X_OK) != 0)
        GTEST_SKIP() << "systemd-notify is not installed";
    auto argv = base({"--readiness=notify", "--interval=30", "--ready-timeout=10"});
    argv.insert(argv.end(),
                {"--", "/bin/sh", "-c", "/usr/bin/systemd-notify --ready && exec " + worker()});
    process s(argv, dir / "log");
    ASSERT_TRUE(status_is_single_generation(1)) << s.log();
    s.signal(SIGHUP);
    ASSERT_TRUE(status_is_single_generation(2)) << s.log();
    EXPECT_TRUE(s.logged("is ready after"));
}

TEST_F(StarterRestart, CrashOnStartUnderNotifyKeepsTheOldGenerationServing)
{
    process s(with_worker(base({"--readiness=notify", "--ready-timeout=5"}),
                          {"--notify-ready", "--exit-on-generation", "2"}),
              dir / "log");
    ASSERT_TRUE(status_is_single_generation(1)) << s.log();
    const pid_t first = pid_of(ask(port));
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        return s.logged("seems to have failed to start, exit status:256");
    })) << s.log();
    EXPECT_EQ(pid_of(ask(port)), first);
    ASSERT_TRUE(status_is_single_generation(3)) << s.log(); // the paced retry
    EXPECT_FALSE(is_alive(first));
}

TEST_F(StarterRestart, ShutdownTimeoutKillsAWorkerThatIgnoresTerm)
{
    process s(with_worker(base({"--interval=0", "--shutdown-timeout=0.3"}), {"--ignore-term"}),
              dir / "log");
    ASSERT_TRUE(serves_generation(1)) << s.log();
    const pid_t w = pid_of(ask(port));
    s.signal(SIGTERM);
    EXPECT_EQ(s.exit_code(), 0) << s.log();
    EXPECT_TRUE(s.logged("worker " + std::to_string(w) + " still alive"));
    EXPECT_TRUE(s.logged("worker " + std::to_string(w) + " died, status:9"));
    EXPECT_FALSE(is_alive(w));
}

TEST_F(StarterRestart, ShutdownTimeoutKillsAnOldWorkerThatIgnoresTheRestartSignal)
{
    process s(with_worker(base({"--interval=0", "--shutdown-timeout=0.3"}), {"--ignore-term"}),
              dir / "log");
    ASSERT_TRUE(serves_generation(1)) << s.log();
    const pid_t first = pid_of(ask(port));
    s.signal(SIGHUP);
    ASSERT_TRUE(status_is_single_generation(2)) << s.log();
    EXPECT_TRUE(s.logged("old worker " + std::to_string(first) + " died, status:9"));
}

TEST_F(StarterRestart, TermDuringARestartStopsBothGenerations)
{
    process s(with_worker(base({"--readiness=notify"}),
                          {"--notify-ready", "--never-ready-on-generation", "2"}),
              dir / "log");
    ASSERT_TRUE(status_is_single_generation(1)) << s.log();
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return count_of(s.log(), "starting new worker") == 2; }));
    s.signal(SIGTERM);
    EXPECT_EQ(s.exit_code(), 0) << s.log();
    EXPECT_EQ(count_of(s.log(), " died, status:"), 2u) << s.log();
    EXPECT_EQ(last_line(s.log()), "exiting");
}

TEST_F(StarterRestart, KillOldDelayKeepsTheOldWorkerUntilItEnds)
{
    process s(with_worker(base({"--interval=0", "--kill-old-delay=1"})), dir / "log");
    ASSERT_TRUE(serves_generation(1)) << s.log();
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return s.logged("sleeping 1 secs before killing old workers"); }))
        << s.log();
    // both generations are listed during the delay (the line is logged just before the
    // status file is rewritten, so wait for it)
    EXPECT_TRUE(wait_until([&] { return status_lines().size() == 2; })) << read_file(status);
    ASSERT_TRUE(status_is_single_generation(2)) << s.log();
    const auto log = s.log();
    EXPECT_LT(log.find("sleeping 1 secs"), log.find("killing old workers"));
}

TEST_F(StarterRestart, AutoRestartStartsNewGenerationsWithoutAHup)
{
    process s(with_worker(base({"--interval=0", "--enable-auto-restart",
                                "--auto-restart-interval=1", "--kill-old-delay=0"})),
              dir / "log");
    ASSERT_TRUE(serves_generation(1)) << s.log();
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) >= 2; }, 10s)) << s.log();
    EXPECT_TRUE(s.logged("autorestart triggered (interval=1)"));
}

TEST_F(StarterRestart, DeadCurrentWorkerIsRespawned)
{
    process s(with_worker(base({"--interval=0"})), dir / "log");
    ASSERT_TRUE(serves_generation(1)) << s.log();
    const pid_t first = pid_of(ask(port));
    ::kill(first, SIGKILL);
    ASSERT_TRUE(serves_generation(2)) << s.log();
    EXPECT_TRUE(s.logged("worker " + std::to_string(first) +
                         " died unexpectedly with status:9, restarting"));
}

} // namespace
