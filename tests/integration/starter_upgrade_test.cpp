// SPDX-License-Identifier: MIT
// start_server upgrading itself in place (SIGUSR2): same pid, same sockets, same workers.
#include "starter_upgrade_checks.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace starter_test;

struct StarterUpgrade : ::testing::Test {
    temp_dir dir;
    std::uint16_t port = 0;
    std::string status = (dir / "status").string();
    std::string pid_file = (dir / "pid").string();

    std::vector<std::string> argv() const
    {
        return {program("start_server"),
                "--port=127.0.0.1:0",
                "--interval=0",
                "--status-file=" + status,
                "--pid-file=" + pid_file,
                "--",
                worker()};
    }

    bool serves_generation(long gen)
    {
        return wait_until([&] { return generation_of(ask(port)) == gen; });
    }

    /// start_server run from a copy of itself in the test's directory (`exe`: the test may
    /// replace or remove it), with `env` over the test's environment; `port` is its listener.
    child_process start_from_copy(std::map<std::string, std::optional<std::string>> env = {})
    {
        exe = (dir / "start_server").string();
        std::filesystem::copy_file(program("start_server"), exe);
        child_options o;
        o.argv = argv();
        o.argv[0] = exe;
        o.env = std::move(env);
        child_process s(std::move(o));
        port = listening_port(s.pid());
        return s;
    }

    std::string exe; ///< the copy start_from_copy runs

    // Every upgrade logs one line when it is done; wait for the `n`th.
    static bool upgraded(const child_process& s, std::size_t n)
    {
        return wait_until([&] { return count_of(s.output(), "start_server upgraded in ") >= n; });
    }

    // `start_server --upgrade`: exit 3, printing `why` (the reason start_server logged).
    ::testing::AssertionResult upgrade_fails_with(const std::string& why) const
    {
        child_process c({program("start_server"), "--upgrade", "--pid-file=" + pid_file});
        const auto code = c.wait_for_exit_code();
        if (code == 3 && c.has_output(why))
            return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "exit " << code.value_or(-1) << ": " << c.output();
    }

    static std::string socket_link(pid_t pid, int fd)
    {
        std::error_code ec;
        return std::filesystem::read_symlink(
                   "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd), ec)
            .string();
    }
};

TEST_F(StarterUpgrade, UsrTwoKeepsPidSocketsPidFileAndWorkers)
{
    child_process s(argv());
    port = listening_port(s.pid());
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t worker_pid = pid_of(ask(port));
    const auto sockets = listening_sockets(s.pid());
    ASSERT_EQ(sockets.size(), 1u);
    const std::string link = socket_link(s.pid(), sockets[0].fd);
    const std::string status_before = read_file(status);
    for (std::size_t i = 1; i <= 5; ++i) {
        s.signal(SIGUSR2);
        ASSERT_TRUE(upgraded(s, i)) << s.output();
        EXPECT_EQ(pid_of(ask(port)), worker_pid) << s.output(); // the same worker serves
        EXPECT_EQ(socket_link(s.pid(), sockets[0].fd), link);   // the same socket, not re-bound
        EXPECT_EQ(read_file(status), status_before);
        EXPECT_EQ(read_file(pid_file), std::to_string(s.pid()) + "\n");
    }
    EXPECT_TRUE(s.has_output("received USR2, upgrading start_server ("));
    EXPECT_TRUE(s.has_output(" ms, 1 workers kept ("));
    EXPECT_EQ(count_of(s.output(), "starting now"), 1u); // resumed, never set up again
    // The lock came across with the descriptor: a second instance is still refused.
    child_process second(
        {program("start_server"), "--port=127.0.0.1:0", "--pid-file=" + pid_file, "--", worker()});
    EXPECT_EQ(second.wait_for_exit_code(), 2) << second.output();
    EXPECT_TRUE(second.has_output("is locked by another start_server")) << second.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_FALSE(exists(status)); // the last image removes what the first one wrote
    EXPECT_FALSE(exists(pid_file));
}

TEST_F(StarterUpgrade, UpgradesInterleavedWithHupsServeEveryGenerationOnce)
{
    child_process s(argv());
    port = listening_port(s.pid());
    ASSERT_TRUE(serves_generation(1)) << s.output();
    for (long gen = 2; gen <= 6; ++gen) {
        s.signal(SIGHUP);
        s.signal(SIGUSR2); // while the restart may still be under way
        ASSERT_TRUE(upgraded(s, static_cast<std::size_t>(gen - 1))) << s.output();
        ASSERT_TRUE(serves_generation(gen)) << s.output();
        ASSERT_TRUE(wait_until([&] {
            const std::string st = read_file(status);
            return st == std::to_string(gen) + ":" + std::to_string(pid_of(ask(port))) + "\n";
        })) << read_file(status);
    }
    // Each old generation retired exactly once.
    EXPECT_EQ(count_of(s.output(), "new worker is now running"), 5u) << s.output();
    EXPECT_EQ(count_of(s.output(), "old worker "), 5u) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterUpgrade, SignalsQueuedBehindTheUpgradeAreActedOnByTheNewImage)
{
    child_process s(argv());
    port = listening_port(s.pid());
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t first = pid_of(ask(port));
    ::kill(first, SIGKILL); // its exit, a HUP and a TERM: all behind the USR2
    s.signal(SIGUSR2);
    s.signal(SIGHUP);
    EXPECT_TRUE(upgraded(s, 1)) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_TRUE(s.has_output("exiting")) << s.output();
}

TEST_F(StarterUpgrade, UsrTwoWhileStoppingIsIgnored)
{
    auto args = argv();
    args.insert(args.begin() + 1, "--drain-delay=30");
    child_process s(args);
    port = listening_port(s.pid());
    ASSERT_TRUE(serves_generation(1)) << s.output();
    s.signal(SIGTERM);
    ASSERT_TRUE(s.wait_for_output("draining")) << s.output();
    s.signal(SIGUSR2);
    ASSERT_TRUE(s.wait_for_output("received USR2, ignored (start_server is stopping)"))
        << s.output();
    s.signal(SIGTERM); // the second stop ends the drain delay
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_EQ(count_of(s.output(), "upgraded in"), 0u);
}

TEST_F(StarterUpgrade, TwoHundredUpgradesLeaveDescriptorsAndMemoryFlat)
{
    child_process s(argv());
    port = listening_port(s.pid());
    ASSERT_TRUE(serves_generation(1)) << s.output();
    s.signal(SIGUSR2); // the first image's start-up allocations are not a leak
    ASSERT_TRUE(upgraded(s, 1)) << s.output();
    const std::string links = idle_descriptor_links(s.pid()); // the same descriptors after
    const long rss = resident_kb(s.pid());
    ASSERT_FALSE(links.empty()) << descriptor_links(s.pid());
    ASSERT_GT(rss, 0);
    for (std::size_t i = 2; i <= 200; ++i) {
        s.signal(SIGUSR2);
        ASSERT_TRUE(upgraded(s, i)) << s.output();
    }
    EXPECT_EQ(idle_descriptor_links(s.pid()), links) << descriptor_links(s.pid());
    // Each image starts with a fresh address space, so only what the record carries could
    // grow; the slack is the sanitizers' shadow memory, which varies between images.
    EXPECT_LT(resident_kb(s.pid()), rss + rss / 4 + 1024) << rss;
    EXPECT_EQ(generation_of(ask(port)), 1);
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterUpgrade, DaemonWithALogFileUpgradesUnderTheSamePid)
{
    const std::string log = (dir / "daemon.log").string();
    child_process s({program("start_server"), "--daemonize", "--log-file=" + log,
                     "--pid-file=" + pid_file, "--port=127.0.0.1:0", "--", worker()});
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    const daemon_guard daemon{daemon_pid(pid_file, log)};
    ASSERT_GT(daemon.pid, 1) << read_file(log);
    port = listening_port(daemon.pid);
    ASSERT_TRUE(serves_generation(1)) << read_file(log);
    const pid_t worker_pid = pid_of(ask(port));
    ::kill(daemon.pid, SIGUSR2);
    ASSERT_TRUE(wait_until([&] { return count_of(read_file(log), "upgraded in") == 1; }))
        << read_file(log);
    EXPECT_EQ(pid_of(ask(port)), worker_pid);
    EXPECT_EQ(read_file(pid_file), std::to_string(daemon.pid) + "\n");
    ::kill(daemon.pid, SIGTERM);
    EXPECT_TRUE(wait_until([&] { return !exists(pid_file); })) << read_file(log);
    EXPECT_TRUE(wait_until([&] { return last_line(read_file(log)) == "exiting"; }));
}

TEST_F(StarterUpgrade, NotifySocketComesAcrossAndTheNextGenerationReportsReadyOnIt)
{
    auto args = argv();
    args.insert(args.begin() + 1, {"--readiness=notify", "--ready-timeout=20"});
    args.emplace_back("--notify-ready");
    child_process s(args);
    port = listening_port(s.pid());
    ASSERT_TRUE(serves_generation(1)) << s.output();
    s.signal(SIGUSR2);
    ASSERT_TRUE(upgraded(s, 1)) << s.output();
    s.signal(SIGHUP); // generation 2's READY=1 reaches the socket the first image bound
    ASSERT_TRUE(serves_generation(2)) << s.output();
    ASSERT_TRUE(s.wait_for_output("new worker is now running")) << s.output();
    EXPECT_FALSE(s.has_output("not ready after")) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterUpgrade, MissingOrNonExecutableFileLeavesTheOldImageServing)
{
    child_process s = start_from_copy();
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t worker_pid = pid_of(ask(port));
    std::filesystem::permissions(exe, std::filesystem::perms::owner_read |
                                          std::filesystem::perms::group_read);
    const std::string denied = "upgrade failed: preflight: " + exe + ": exec: Permission denied";
    ASSERT_TRUE(upgrade_fails_with(denied + " (exit status 127)")) << s.output();
    EXPECT_TRUE(s.has_output(denied)) << s.output();
    std::filesystem::remove(exe);
    const std::string missing = "upgrade failed: preflight: " + exe + ": exec: No such file";
    ASSERT_TRUE(upgrade_fails_with(missing + " or directory (exit status 127)")) << s.output();
    EXPECT_TRUE(s.has_output(missing)) << s.output();
    EXPECT_EQ(pid_of(ask(port)), worker_pid);
    EXPECT_EQ(read_file(pid_file), std::to_string(s.pid()) + "\n");
    EXPECT_EQ(count_of(s.output(), "upgraded in"), 0u);
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterUpgrade, NewImageRefusingTheStateRollsBackToTheRunningOne)
{
    // the refusal passes the preflight
    child_process s = start_from_copy({{"BATON_TEST_REFUSE_UPGRADE_STATE", "after-check"}});
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t worker_pid = pid_of(ask(port));
    std::filesystem::remove(exe); // the rollback runs the image, not the file
    std::filesystem::copy_file(program("start_server"), exe);
    for (std::size_t i = 1; i <= 3; ++i) {
        if (i == 1) // the client hears the rolled-back image's reason
            ASSERT_TRUE(upgrade_fails_with(
                "upgrade failed: state: refused (BATON_TEST_REFUSE_UPGRADE_STATE)"))
                << s.output();
        else
            s.signal(SIGUSR2);
        ASSERT_TRUE(wait_until([&] { return count_of(s.output(), "rolled back in") >= i; }))
            << s.output();
    }
    EXPECT_TRUE(s.has_output(
        "upgrade failed: state: refused (BATON_TEST_REFUSE_UPGRADE_STATE); rolling back"));
    EXPECT_EQ(pid_of(ask(port)), worker_pid);
    EXPECT_EQ(count_of(s.output(), "starting now"), 1u);
    s.signal(SIGHUP); // still supervising
    ASSERT_TRUE(serves_generation(2)) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterUpgrade, PreflightFailuresChangeNothing)
{
    // refused by the preflight already
    child_process s = start_from_copy({{"BATON_TEST_REFUSE_UPGRADE_STATE", "1"}});
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t worker_pid = pid_of(ask(port));
    const std::string refused =
        "upgrade failed: preflight: " + exe +
        ": state: refused (BATON_TEST_REFUSE_UPGRADE_STATE) (exit status 2)";
    ASSERT_TRUE(upgrade_fails_with(refused)) << s.output();
    EXPECT_TRUE(s.has_output(refused)) << s.output();
    // A file that runs but is not a start_server that can take over: a script failing its check.
    std::filesystem::remove(exe);
    {
        std::ofstream script(exe);
        script << "#!/bin/sh\necho \"not start_server: $1\"\nexit 1\n";
    }
    std::filesystem::permissions(exe, std::filesystem::perms::owner_all);
    const std::string script_failed = "upgrade failed: preflight: " + exe +
                                      ": not start_server: --baton-upgrade-check (exit "
                                      "status 1)";
    ASSERT_TRUE(upgrade_fails_with(script_failed)) << s.output();
    EXPECT_TRUE(s.has_output(script_failed)) << s.output();
    EXPECT_EQ(count_of(s.output(), "upgraded in"), 0u);
    EXPECT_EQ(count_of(s.output(), "rolled back"), 0u);
    EXPECT_EQ(count_of(s.output(), "starting now"), 1u);
    EXPECT_EQ(pid_of(ask(port)), worker_pid); // the same worker, still served
    EXPECT_EQ(read_file(pid_file), std::to_string(s.pid()) + "\n");
    s.signal(SIGHUP); // still supervising
    ASSERT_TRUE(serves_generation(2)) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterUpgrade, UpgradeClientWaitsForTheResultAndSaysWhyItFailed)
{
    child_process s = start_from_copy();
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t worker_pid = pid_of(ask(port));
    const std::vector<std::string> client{program("start_server"), "--upgrade",
                                          "--pid-file=" + pid_file};
    {
        child_process c(client);
        EXPECT_EQ(c.wait_for_exit_code(), 0) << c.output() << s.output();
        EXPECT_TRUE(
            c.has_output("start_server (pid " + std::to_string(s.pid()) + ") upgraded to baton "))
            << c.output();
    }
    EXPECT_EQ(pid_of(ask(port)), worker_pid);
    std::filesystem::remove(exe);
    {
        child_process c(client);
        EXPECT_EQ(c.wait_for_exit_code(), 3) << c.output();
        EXPECT_TRUE(c.has_output("upgrade failed: preflight: " + exe +
                                 ": exec: No such file or directory (exit status 127)"))
            << c.output();
    }
    EXPECT_EQ(pid_of(ask(port)), worker_pid); // still served by the same worker
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    child_process gone(client); // nothing runs: one line, exit 3
    EXPECT_EQ(gone.wait_for_exit_code(), 3);
    EXPECT_TRUE(gone.has_output("failed to open file:" + pid_file)) << gone.output();
}

// In place of start_server's file `exe`: a script that, in check mode only, waits until `gate`
// exists (at most about 20 s) before it runs the real start_server, so the preflight is as
// slow as the test needs; the upgraded image itself starts at once.
void install_slow_check(const std::string& exe, const std::string& gate)
{
    std::filesystem::remove(exe);
    {
        std::ofstream script(exe);
        script << "#!/bin/sh\n"
               << "if [ \"$1\" = --baton-upgrade-check ]; then\n"
               << "  i=0; while [ ! -e '" << gate << "' ] && [ $i -lt 2000 ]; do\n"
               << "    sleep 0.01; i=$((i + 1)); done\n"
               << "fi\n"
               << "exec '" << program("start_server") << "' \"$@\"\n";
    }
    std::filesystem::permissions(exe, std::filesystem::perms::owner_all);
}

// The pids of `pid`'s children, as the kernel lists them.
std::vector<pid_t> children_of(pid_t pid)
{
    const std::string p = std::to_string(pid);
    std::istringstream in(read_file("/proc/" + p + "/task/" + p + "/children"));
    std::vector<pid_t> out;
    for (pid_t c = 0; in >> c;)
        out.push_back(c);
    return out;
}

// start_server's one child that is not `worker_pid` (its preflight), 0 until there is one.
pid_t preflight_child(pid_t server, pid_t worker_pid)
{
    pid_t found = 0;
    wait_until([&] {
        for (const pid_t c : children_of(server))
            if (c != worker_pid)
                found = c;
        return found != 0;
    });
    return found;
}

struct StarterPreflight : StarterUpgrade {
    std::string exe = (dir / "start_server").string();
    std::string gate = (dir / "gate").string();
    std::uint16_t health = 0;

    // start_server from its copy `exe`, with --health and notify readiness: a READY=1, a
    // health probe and a signal all need the loop while the preflight runs.
    child_process start(std::map<std::string, std::string> env = {})
    {
        std::filesystem::copy_file(program("start_server"), exe);
        auto args = argv();
        args[0] = exe;
        args.insert(args.begin() + 1, {"--health=127.0.0.1:0", "--readiness=notify"});
        args.emplace_back("--notify-ready");
        child_options o;
        o.argv = args;
        for (auto& [k, v] : env)
            o.env[k] = v;
        child_process s(std::move(o));
        const auto sockets = wait_for_listening_sockets(s.pid(), 2, default_wait_timeout);
        EXPECT_EQ(sockets.size(), 2U) << s.output();
        if (sockets.size() == 2) {
            port = sockets[0].port;
            health = sockets[1].port;
        }
        return s;
    }

    std::string readyz()
    {
        std::error_code ec;
        unique_fd fd = connect_tcp("127.0.0.1", health, ec);
        if (ec)
            return {};
        const auto r = exchange(std::move(fd), "GET /readyz HTTP/1.1\r\nHost: lb\r\n\r\n");
        return r.is_complete() ? std::to_string(r.response.status) + " " + r.response.body
                               : std::string{};
    }
};

TEST_F(StarterPreflight, LoopServesSignalsReadyAndHealthWhileThePreflightRuns)
{
    child_process s = start();
    ASSERT_TRUE(wait_until([&] { return readyz() == "200 ready generation 1\n"; })) << s.output();
    const pid_t first = pid_of(ask(port));
    install_slow_check(exe, gate);
    s.signal(SIGUSR2);
    const pid_t check = preflight_child(s.pid(), first);
    ASSERT_GT(check, 0) << s.output();
    // A HUP: generation 2 starts, says READY=1, the old one is retired, all before the verdict.
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return readyz() == "200 ready generation 2\n"; })) << s.output();
    ASSERT_TRUE(s.wait_for_output("old worker " + std::to_string(first) + " died")) << s.output();
    s.signal(SIGUSR2);
    ASSERT_TRUE(s.wait_for_output("received USR2, ignored (an upgrade is in progress)"))
        << s.output();
    EXPECT_TRUE(is_alive(check)); // all of that while the preflight was still waiting
    EXPECT_EQ(count_of(s.output(), "upgraded in"), 0u) << s.output();
    std::ofstream{gate}; // the preflight passes: the upgrade goes on with the state as it is now
    ASSERT_TRUE(upgraded(s, 1)) << s.output();
    EXPECT_EQ(count_of(s.output(), "received USR2, upgrading"), 1u) << s.output();
    EXPECT_TRUE(serves_generation(2)) << s.output();
    EXPECT_EQ(readyz(), "200 ready generation 2\n");
    EXPECT_FALSE(is_alive(check)); // reaped by the upgrade, never reported as a worker's exit
    EXPECT_FALSE(s.has_output("worker " + std::to_string(check) + " ")) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterPreflight, StopDuringThePreflightCancelsTheUpgradeAndKillsTheCheck)
{
    child_process s = start();
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t first = pid_of(ask(port));
    install_slow_check(exe, gate); // never opened: the check would wait about 20 s
    child_process client({program("start_server"), "--upgrade", "--pid-file=" + pid_file});
    const pid_t check = preflight_child(s.pid(), first);
    ASSERT_GT(check, 0) << s.output();
    const auto sent = std::chrono::steady_clock::now();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_EQ(client.wait_for_exit_code(), 3) << client.output(); // cancelled, or the server gone
    EXPECT_TRUE(client.has_output("upgrade failed: ")) << client.output();
    EXPECT_LT(std::chrono::steady_clock::now() - sent, 10s); // not held up by the preflight
    EXPECT_TRUE(s.has_output("upgrade cancelled: start_server is stopping (preflight pid " +
                             std::to_string(check) + " killed)"))
        << s.output();
    EXPECT_FALSE(is_alive(check));
    EXPECT_FALSE(is_alive(first));
    EXPECT_EQ(count_of(s.output(), "upgraded in"), 0u);
}

TEST_F(StarterPreflight, PreflightPastItsTimeoutIsKilledAndTheUpgradeFails)
{
    child_process s = start({{"BATON_TEST_PREFLIGHT_TIMEOUT_MS", "300"}});
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t first = pid_of(ask(port));
    install_slow_check(exe, gate);
    s.signal(SIGUSR2);
    const pid_t check = preflight_child(s.pid(), first);
    ASSERT_GT(check, 0) << s.output();
    ASSERT_TRUE(s.wait_for_output("upgrade failed: preflight: " + exe + ": timed out after 300 ms"))
        << s.output();
    EXPECT_FALSE(is_alive(check));
    EXPECT_EQ(children_of(s.pid()), std::vector<pid_t>{first});
    EXPECT_EQ(pid_of(ask(port)), first); // nothing changed
    std::ofstream{gate};                 // the next one passes
    s.signal(SIGUSR2);
    ASSERT_TRUE(upgraded(s, 1)) << s.output();
    EXPECT_EQ(pid_of(ask(port)), first);
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

} // namespace
