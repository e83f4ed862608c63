// SPDX-License-Identifier: MIT
// What arrives while start_server's new image starts (issue 14, "nothing is lost in the
// window"): start_server runs through upgrade_window_wrapper, which sleeps before the
// take-over's execve, so a worker's exit, a HUP and a TERM can be aimed at the window
// itself. They stay pending across the execve and the new image acts on each, in order. (The
// kernel hands pending signals over lowest number first, not as they came: HUP, then TERM,
// is also the order they are sent in here.)
#include "starter_upgrade_harness.hpp"

#include <baton/notify.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace starter_test;

std::string canonical_program(std::string_view name)
{
    return std::filesystem::canonical(fixture_program(name)).string();
}

std::string executable_of(pid_t pid)
{
    std::error_code ec;
    return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
}

struct StarterUpgradeWindow : upgrade_test {
    std::string wrapper = canonical_program("upgrade_window_wrapper");
    std::string start_server = canonical_program("start_server");

    // start_server started as the wrapper (argv[0]): every upgrade executes the wrapper.
    // `options` go before the worker, `worker_flags` after it.
    child_process start(const std::vector<std::string>& options = {},
                        const std::vector<std::string>& worker_flags = {})
    {
        child_options o;
        o.argv = argv(wrapper);
        o.argv.insert(o.argv.begin() + 1, options.begin(), options.end());
        o.argv.insert(o.argv.end(), worker_flags.begin(), worker_flags.end());
        o.env["BATON_WRAPPED_START_SERVER"] = start_server;
        o.env["BATON_UPGRADE_WINDOW_MS"] = std::to_string(window_ms);
        child_process s(std::move(o));
        port = listening_port(s.pid());
        return s;
    }

    // The old image has exec'd the wrapper, which has not exec'd the new image yet: the
    // preflight is over (it runs in a child) and nothing reads start_server's signals.
    bool is_in_window(const child_process& s) const { return executable_of(s.pid()) == wrapper; }

    // USR2, then wait for the window to open.
    bool open_window(child_process& s) const
    {
        return s.signal(SIGUSR2) && wait_until([&] { return is_in_window(s); });
    }

    // Longer than the respawn pace (a second since the last spawn, machine.cpp), so the
    // replacement of a worker that died in the window starts at once, when the new image
    // reaps it: what the signals behind it do is then known.
    static constexpr long window_ms = 1500;
};

// Where `needle` first is in `text`, npos when it is not.
std::size_t at(const std::string& text, const std::string& needle)
{
    return text.find(needle);
}

// The pid in the `n`th "starting new worker PID" line (from 1), 0 when there is none.
pid_t started_worker(const std::string& log, std::size_t n)
{
    const std::string line = "starting new worker ";
    auto pos = std::string::npos;
    for (std::size_t i = 0; i < n; ++i)
        if ((pos = log.find(line, pos == std::string::npos ? 0 : pos + 1)) == std::string::npos)
            return 0;
    return static_cast<pid_t>(std::atol(log.c_str() + pos + line.size()));
}

// The value of NAME in a fixture worker's --dump-env file, empty when it is not there.
std::string dumped_env(const std::string& dump, const std::string& name)
{
    const std::string text = read_file(dump);
    const std::string key = "\nenv " + name + "=";
    const auto from = text.find(key);
    if (from == std::string::npos)
        return {};
    const auto begin = from + key.size();
    return text.substr(begin, text.find('\n', begin) - begin);
}

// The N of the first "start_server upgraded in N ms" line, -1 when there is none.
long upgrade_ms(const std::string& log)
{
    const std::string line = "start_server upgraded in ";
    const auto pos = log.find(line);
    return pos == std::string::npos ? -1 : std::atol(log.c_str() + pos + line.size());
}

TEST_F(StarterUpgradeWindow, WorkerExitHupAndTermInTheWindowAreAllHandledInOrder)
{
    child_process s = start();
    ASSERT_TRUE(serves_generation(1)) << s.output();
    ASSERT_EQ(executable_of(s.pid()), start_server); // the wrapper ran it under its pid
    const pid_t first = pid_of(ask(port));
    ASSERT_TRUE(open_window(s)) << s.output();
    ASSERT_EQ(::kill(first, SIGKILL), 0);
    ASSERT_TRUE(s.signal(SIGHUP));
    ASSERT_TRUE(s.signal(SIGTERM));
    ASSERT_TRUE(is_in_window(s)) << "the signals missed the window";

    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    const std::string log = s.output();
    // The exit reaped first (the new image's waitpid loop), then the upgrade's result, then
    // the signals as they were sent.
    const auto died = at(log, "worker " + std::to_string(first) +
                                  " died unexpectedly with status:" + std::to_string(SIGKILL));
    const auto upgraded = at(log, "start_server upgraded in ");
    const auto hup = at(log, "received HUP");
    const auto term = at(log, "received TERM, sending TERM to all workers:");
    const auto exiting = at(log, "\nexiting\n");
    ASSERT_NE(died, std::string::npos) << log;
    ASSERT_NE(upgraded, std::string::npos) << log;
    ASSERT_NE(hup, std::string::npos) << log;
    ASSERT_NE(term, std::string::npos) << log;
    ASSERT_NE(exiting, std::string::npos) << log;
    EXPECT_LT(died, upgraded) << log;
    EXPECT_LT(upgraded, hup) << log;
    EXPECT_LT(hup, term) << log;
    EXPECT_LT(term, exiting) << log;
    EXPECT_GE(upgrade_ms(log), window_ms) << log; // the window was as long as the wrapper made it
    EXPECT_EQ(count_of(log, "starting now"), 1u) << log;
    EXPECT_FALSE(exists(pid_file)); // the new image cleaned up what the first one made
    EXPECT_FALSE(exists(status));
}

TEST_F(StarterUpgradeWindow, WorkerExitAndHupInTheWindowThenTheNewGenerationServes)
{
    child_process s = start();
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t first = pid_of(ask(port));
    ASSERT_TRUE(open_window(s)) << s.output();
    ASSERT_EQ(::kill(first, SIGKILL), 0);
    ASSERT_TRUE(s.signal(SIGHUP));
    ASSERT_TRUE(is_in_window(s)) << "the signals missed the window";

    // Generation 2 replaces the dead worker; the HUP, read just after, while it starts, asks
    // for generation 3 once it is up.
    std::string reply; // generation 2 may still answer until it is told to go
    ASSERT_TRUE(wait_until([&] { return generation_of(reply = ask(port)) == 3; })) << s.output();
    const pid_t third = pid_of(reply);
    ASSERT_TRUE(wait_until([&] {
        return read_file(status) == "3:" + std::to_string(third) + "\n";
    })) << read_file(status)
        << s.output();
    const std::string log = s.output();
    const auto died = at(log, "worker " + std::to_string(first) + " died unexpectedly");
    const auto upgraded = at(log, "start_server upgraded in ");
    const auto hup = at(log, "received HUP");
    ASSERT_NE(died, std::string::npos) << log;
    ASSERT_NE(upgraded, std::string::npos) << log;
    ASSERT_NE(hup, std::string::npos) << log;
    EXPECT_LT(died, upgraded) << log;
    EXPECT_LT(upgraded, hup) << log;
    EXPECT_TRUE(wait_until([&] { return count_of(s.output(), "old worker ") == 1; }))
        << s.output(); // generation 2, retired once
    EXPECT_EQ(count_of(s.output(), "starting new worker"), 3u) << s.output();
    EXPECT_EQ(executable_of(s.pid()), start_server); // the same pid, the new image
    EXPECT_EQ(read_file(pid_file), std::to_string(s.pid()) + "\n");
    EXPECT_EQ(pid_of(ask(port)), third); // and it keeps serving
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterUpgradeWindow, ReadyMessageSentInTheWindowIsReadByTheNewImage)
{
    const std::string dump = (dir / "env").string();
    child_process s =
        start({"--readiness=notify", "--ready-timeout=20"},
              {"--notify-ready", "--never-ready-on-generation", "2", "--dump-env", dump});
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const pid_t first = pid_of(ask(port));
    s.signal(SIGHUP); // generation 2 starts and never says READY=1 itself
    ASSERT_TRUE(wait_until([&] { return !dumped_env(dump + ".2", "NOTIFY_SOCKET").empty(); }))
        << s.output();
    const std::string notify_socket = dumped_env(dump + ".2", "NOTIFY_SOCKET");
    const pid_t second = started_worker(s.output(), 2);
    ASSERT_GT(second, 0) << s.output();
    ASSERT_TRUE(open_window(s)) << s.output();
    // Its READY=1, as a worker whose helper process reports for it (MAINPID=) sends it.
    std::error_code ec;
    baton::notify::send_to(notify_socket, "READY=1\nMAINPID=" + std::to_string(second), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(is_in_window(s)) << "the message missed the window";

    // The datagram waited on the socket the new image took over.
    std::string reply;
    ASSERT_TRUE(wait_until([&] { return generation_of(reply = ask(port)) == 2; })) << s.output();
    EXPECT_EQ(pid_of(reply), second);
    ASSERT_TRUE(wait_until([&] { return s.has_output("old worker " + std::to_string(first)); }))
        << s.output();
    const std::string log = s.output();
    const auto upgraded = at(log, "start_server upgraded in ");
    const auto ready = at(log, "new worker " + std::to_string(second) + " is ready after ");
    ASSERT_NE(upgraded, std::string::npos) << log;
    ASSERT_NE(ready, std::string::npos) << log;
    EXPECT_LT(upgraded, ready) << log;
    // The status file is rewritten just after the "old worker ... died" line is logged.
    EXPECT_TRUE(wait_until([&] {
        return read_file(status) == "2:" + std::to_string(second) + "\n";
    })) << read_file(status);
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

} // namespace
