// SPDX-License-Identifier: MIT
// start_server --stop and --restart.
#include "starter_harness.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace starter_test;

struct StarterClients : ::testing::Test {
    temp_dir dir;
    std::uint16_t port = 0; ///< what start_server bound for --port=127.0.0.1:0 (see start)
    std::string pid = (dir / "pid").string();
    std::string status = (dir / "status").string();

    std::vector<std::string> server(const std::vector<std::string>& worker_args = {}) const
    {
        std::vector<std::string> argv{program("start_server"),
                                      "--port=127.0.0.1:0",
                                      "--pid-file=" + pid,
                                      "--status-file=" + status,
                                      "--interval=1",
                                      "--",
                                      worker()};
        argv.insert(argv.end(), worker_args.begin(), worker_args.end());
        return argv;
    }

    child_process start(std::vector<std::string> argv)
    {
        return start_and_learn_port(std::move(argv), port);
    }

    bool is_up(child_process& s)
    {
        return wait_until([&] { return read_file(status).starts_with("1:"); }) &&
               wait_until([&] { return read_file(pid) == std::to_string(s.pid()) + "\n"; });
    }
};

TEST_F(StarterClients, StopReturnsOnceTheServerHasExited)
{
    auto s = start(server());
    ASSERT_TRUE(is_up(s)) << s.output();
    child_process stop({program("start_server"), "--stop", "--pid-file=" + pid});
    EXPECT_EQ(stop.wait_for_exit_code(), 0) << stop.output();
    EXPECT_EQ(last_line(stop.output()), "stop_server (pid:" + std::to_string(stop.pid()) +
                                            ") stopping now (pid:" + std::to_string(s.pid()) +
                                            ")...");
    // the lock was released, so the server is gone (it unlinks the file before unlocking)
    EXPECT_FALSE(exists(pid));
    EXPECT_TRUE(s.wait_for_exit(5s).has_value());
    EXPECT_EQ(last_line(s.output()), "exiting");
}

TEST_F(StarterClients, StopWithAStalePidFileSignalsNobody)
{
    child_process bystander({"/bin/sleep", "30"});
    std::ofstream(pid) << bystander.pid() << "\n"; // unlocked: no start_server holds it
    child_process stop({program("start_server"), "--stop", "--pid-file=" + pid});
    EXPECT_EQ(stop.wait_for_exit_code(), 3);
    EXPECT_NE(last_line(stop.output()).find("no start_server holds " + pid), std::string::npos)
        << stop.output();
    EXPECT_TRUE(bystander.is_running());
}

TEST_F(StarterClients, RestartReturnsOnceTheNewGenerationRunsAlone)
{
    auto s = start(server());
    ASSERT_TRUE(is_up(s)) << s.output();
    child_process restart(
        {program("start_server"), "--restart", "--pid-file=" + pid, "--status-file=" + status});
    EXPECT_EQ(restart.wait_for_exit_code(), 0) << restart.output() << s.output();
    const std::string st = read_file(status);
    EXPECT_TRUE(st.starts_with("2:")) << st;
    EXPECT_EQ(std::count(st.begin(), st.end(), '\n'), 1) << st;
    EXPECT_EQ(generation_of(ask(port)), 2);
}

TEST_F(StarterClients, RestartGivesUpAtItsDeadlineWhenTheOldGenerationNeverExits)
{
    // --interval=1 on the server: the first worker is up (and ignoring TERM) before it counts
    // as started; the client's own --interval=0 makes its deadline 3 s.
    auto s = start(server({"--ignore-term"}));
    ASSERT_TRUE(is_up(s)) << s.output();
    child_process restart({program("start_server"), "--restart", "--pid-file=" + pid,
                           "--status-file=" + status, "--ready-timeout=0", "--interval=0"});
    EXPECT_EQ(restart.wait_for_exit_code(), 3) << restart.output();
    EXPECT_NE(last_line(restart.output())
                  .find("restart did not complete in 3000 ms: status file "
                        "shows generations 1,2"),
              std::string::npos)
        << restart.output();
}

TEST_F(StarterClients, RestartFailsInsteadOfHangingWhenTheNewGenerationNeverStarts)
{
    auto s = start(server({"--exit-on-generations-from", "2"}));
    ASSERT_TRUE(is_up(s)) << s.output();
    child_process restart({program("start_server"), "--restart", "--pid-file=" + pid,
                           "--status-file=" + status, "--ready-timeout=1", "--interval=0"});
    EXPECT_EQ(restart.wait_for_exit_code(), 3) << restart.output();
    // Seen failing (a new worker that exits before it is up), or at the latest the deadline.
    const std::string reason = last_line(restart.output());
    EXPECT_TRUE(reason.find("failed to start; start_server (pid:") != std::string::npos ||
                reason.find("restart did not complete in 4000 ms") != std::string::npos)
        << restart.output();
    EXPECT_EQ(generation_of(ask(port)), 1); // the old generation kept serving
    EXPECT_TRUE(s.has_output("seems to have failed to start, exit status:256"));
}

TEST_F(StarterClients, RestartReportsAWorkerThatFailsToExec)
{
    // The worker is started through a symlink that is removed once generation 1 runs: the
    // next exec fails (ENOENT) and that child is gone well within a millisecond.
    const std::string link = (dir / "worker-link").string();
    ASSERT_EQ(::symlink(worker().c_str(), link.c_str()), 0);
    auto argv = server();
    argv.back() = link; // the worker, by its link
    auto s = start(argv);
    ASSERT_TRUE(is_up(s)) << s.output();
    ASSERT_EQ(::unlink(link.c_str()), 0);
    child_process restart({program("start_server"), "--restart", "--pid-file=" + pid,
                           "--status-file=" + status, "--ready-timeout=10", "--interval=1"});
    EXPECT_EQ(restart.wait_for_exit_code(), 3) << restart.output();
    EXPECT_NE(
        last_line(restart.output())
            .find("(generation 2) failed to start; start_server (pid:" + std::to_string(s.pid()) +
                  ") keeps the old generation serving and retries (exit status:65280)"),
        std::string::npos)
        << restart.output();
    EXPECT_TRUE(s.has_output("failed to exec " + link)) << s.output();
    EXPECT_EQ(generation_of(ask(port)), 1); // the old generation kept serving
}

} // namespace
