// SPDX-License-Identifier: MIT
// start_server --stop and --restart.
#include "starter_harness.hpp"

namespace {

using namespace starter_test;

struct StarterClients : ::testing::Test {
    temp_dir dir;
    int port = free_port();
    std::string pid = dir / "pid";
    std::string status = dir / "status";

    std::vector<std::string> server(const std::vector<std::string>& worker_args = {})
    {
        std::vector<std::string> argv{bin("start_server"),
                                      "--port=127.0.0.1:" + std::to_string(port),
                                      "--pid-file=" + pid,
                                      "--status-file=" + status,
                                      "--interval=1",
                                      "--",
                                      worker()};
        argv.insert(argv.end(), worker_args.begin(), worker_args.end());
        return argv;
    }

    bool is_up(process& s)
    {
        return wait_until([&] { return read_file(status).starts_with("1:"); }) &&
               wait_until([&] { return read_file(pid) == std::to_string(s.pid()) + "\n"; });
    }
};

TEST_F(StarterClients, StopReturnsOnceTheServerHasExited)
{
    process s(server(), dir / "log");
    ASSERT_TRUE(is_up(s)) << s.log();
    process stop({bin("start_server"), "--stop", "--pid-file=" + pid}, dir / "stop.log");
    EXPECT_EQ(stop.exit_code(), 0) << stop.log();
    EXPECT_EQ(last_line(stop.log()), "stop_server (pid:" + std::to_string(stop.pid()) +
                                         ") stopping now (pid:" + std::to_string(s.pid()) + ")...");
    // the lock was released, so the server is gone (it unlinks the file before unlocking)
    EXPECT_FALSE(exists(pid));
    EXPECT_TRUE(s.wait_exit(5s).has_value());
    EXPECT_EQ(last_line(s.log()), "exiting");
}

TEST_F(StarterClients, StopWithAStalePidFileSignalsNobody)
{
    process bystander({"/bin/sleep", "30"}, dir / "sleep.log");
    std::ofstream(pid) << bystander.pid() << "\n"; // unlocked: no start_server holds it
    process stop({bin("start_server"), "--stop", "--pid-file=" + pid}, dir / "stop.log");
    EXPECT_EQ(stop.exit_code(), 3);
    EXPECT_NE(last_line(stop.log()).find("no start_server holds " + pid), std::string::npos)
        << stop.log();
    EXPECT_TRUE(is_alive(bystander.pid()));
}

TEST_F(StarterClients, RestartReturnsOnceTheNewGenerationRunsAlone)
{
    process s(server(), dir / "log");
    ASSERT_TRUE(is_up(s)) << s.log();
    process restart(
        {bin("start_server"), "--restart", "--pid-file=" + pid, "--status-file=" + status},
        dir / "restart.log");
    EXPECT_EQ(restart.exit_code(20s), 0) << restart.log() << s.log();
    const std::string st = read_file(status);
    EXPECT_TRUE(st.starts_with("2:")) << st;
    EXPECT_EQ(std::count(st.begin(), st.end(), '\n'), 1) << st;
    EXPECT_EQ(generation_of(ask(port)), 2);
}

TEST_F(StarterClients, RestartGivesUpAtItsDeadlineWhenTheOldGenerationNeverExits)
{
    // --interval=1 on the server: the first worker is up (and ignoring TERM) before it counts
    // as started; the client's own --interval=0 makes its deadline 3 s.
    process s({bin("start_server"), "--port=127.0.0.1:" + std::to_string(port), "--pid-file=" + pid,
               "--status-file=" + status, "--interval=1", "--", worker(), "--ignore-term"},
              dir / "log");
    ASSERT_TRUE(is_up(s)) << s.log();
    process restart({bin("start_server"), "--restart", "--pid-file=" + pid,
                     "--status-file=" + status, "--ready-timeout=0", "--interval=0"},
                    dir / "restart.log");
    EXPECT_EQ(restart.exit_code(20s), 3) << restart.log();
    EXPECT_NE(last_line(restart.log())
                  .find("restart did not complete in 3000 ms: status file "
                        "shows generations 1,2"),
              std::string::npos)
        << restart.log();
}

TEST_F(StarterClients, RestartFailsInsteadOfHangingWhenTheNewGenerationNeverStarts)
{
    process s(server({"--exit-on-generations-from", "2"}), dir / "log");
    ASSERT_TRUE(is_up(s)) << s.log();
    process restart({bin("start_server"), "--restart", "--pid-file=" + pid,
                     "--status-file=" + status, "--ready-timeout=1", "--interval=0"},
                    dir / "restart.log");
    EXPECT_EQ(restart.exit_code(20s), 3) << restart.log();
    // Seen failing (a new worker that exits before it is up), or at the latest the deadline.
    const std::string reason = last_line(restart.log());
    EXPECT_TRUE(reason.find("failed to start; start_server (pid:") != std::string::npos ||
                reason.find("restart did not complete in 4000 ms") != std::string::npos)
        << restart.log();
    EXPECT_EQ(generation_of(ask(port)), 1); // the old generation kept serving
    EXPECT_TRUE(s.logged("seems to have failed to start, exit status:256"));
}

TEST_F(StarterClients, RestartReportsAWorkerThatFailsToExec)
{
    // The worker is started through a symlink that is removed once generation 1 runs: the
    // next exec fails (ENOENT) and that child is gone well within a millisecond.
    const std::string link = dir / "worker-link";
    ASSERT_EQ(::symlink(worker().c_str(), link.c_str()), 0);
    process s({bin("start_server"), "--port=127.0.0.1:" + std::to_string(port), "--pid-file=" + pid,
               "--status-file=" + status, "--interval=1", "--", link},
              dir / "log");
    ASSERT_TRUE(is_up(s)) << s.log();
    ASSERT_EQ(::unlink(link.c_str()), 0);
    process restart({bin("start_server"), "--restart", "--pid-file=" + pid,
                     "--status-file=" + status, "--ready-timeout=10", "--interval=1"},
                    dir / "restart.log");
    EXPECT_EQ(restart.exit_code(20s), 3) << restart.log();
    EXPECT_NE(
        last_line(restart.log())
            .find("(generation 2) failed to start; start_server (pid:" + std::to_string(s.pid()) +
                  ") keeps the old generation serving and retries (exit status:65280)"),
        std::string::npos)
        << restart.log();
    EXPECT_TRUE(s.logged("failed to exec " + link)) << s.log();
    EXPECT_EQ(generation_of(ask(port)), 1); // the old generation kept serving
}

} // namespace
