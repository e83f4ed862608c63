// SPDX-License-Identifier: MIT
// Upgrades between builds of two upgrade-record formats, both ways (issue 14): this build
// (format 1.1) and start_server_format10, the same sources built as another baton version
// that writes format 1.0 (no exe, upgrades, started-at, image or upgrade-began lines). Each
// is installed over the file start_server was started from, as a package manager does.
#include "starter_upgrade_harness.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace starter_test;

struct StarterUpgradeAcrossFormats : upgrade_test {
    std::string exe = (dir / "start_server").string(); // what start_server runs, and upgrades to

    // A new file renamed over `exe`: the running image's file is never written.
    void install(std::string_view program_name) const
    {
        const std::string next = exe + ".new";
        std::filesystem::copy_file(program(program_name), next,
                                   std::filesystem::copy_options::overwrite_existing);
        std::filesystem::rename(next, exe);
    }

    // Requests one after another until `is_done`; each must be answered by `expected`
    // ("<pid> <gen>\n"). How many were not.
    std::size_t failures_until(const std::function<bool()>& is_done, const std::string& expected,
                               std::size_t& asked) const
    {
        std::size_t failed = 0;
        const bool is_over = wait_until([&] {
            ++asked;
            if (ask(port) != expected)
                ++failed;
            return is_done();
        });
        EXPECT_TRUE(is_over);
        return failed;
    }

    // `start_server --upgrade` under requests: how many failed; the client's exit code and
    // output in `client`.
    std::size_t upgrade_client_under_requests(const std::string& expected, std::size_t& asked,
                                              std::optional<int>& code, std::string& client) const
    {
        child_process c({program("start_server"), "--upgrade", "--pid-file=" + pid_file});
        const std::size_t failed = failures_until([&] { return !c.is_running(); }, expected, asked);
        code = c.wait_for_exit_code();
        client = c.output();
        return failed;
    }

    std::string show_status() const
    {
        child_process c({program("start_server"), "--show-status", "--pid-file=" + pid_file});
        EXPECT_EQ(c.wait_for_exit_code(), 0) << c.output();
        return c.output();
    }
};

bool has(const std::string& text, const std::string& needle)
{
    return text.find(needle) != std::string::npos;
}

// The value of the `label` row of --show-status's text ("upgrades:   1 done, ...").
std::string row(const std::string& text, const std::string& label)
{
    const auto at = text.find("\n" + label);
    if (at == std::string::npos)
        return {};
    const auto from = text.find_first_not_of(' ', at + 1 + label.size());
    return text.substr(from, text.find('\n', from) - from);
}

// The version in "start_server:   pid N, baton VERSION".
std::string baton_version_in(const std::string& text)
{
    const std::string first = text.substr(0, text.find('\n'));
    const auto at = first.find(", baton ");
    return at == std::string::npos ? std::string{} : first.substr(at + 8);
}

TEST_F(StarterUpgradeAcrossFormats, NewAndFormatOneZeroBuildsUpgradeIntoEachOtherBothWays)
{
    std::filesystem::copy_file(program("start_server"), exe);
    child_process s(argv(exe));
    port = listening_port(s.pid());
    ASSERT_TRUE(serves_generation(1)) << s.output();
    const std::string reply = ask(port);
    const pid_t worker_pid = pid_of(reply);
    const std::string status_before = read_file(status);
    const std::string version = baton_version_in(show_status());
    ASSERT_FALSE(version.empty()) << show_status();
    const std::string old_version = version + "-format10";
    std::size_t asked = 0;

    // Down: into the build that writes 1.0 (it reads this build's 1.1 record).
    install("start_server_format10");
    std::optional<int> code;
    std::string client;
    EXPECT_EQ(upgrade_client_under_requests(reply, asked, code, client), 0u) << s.output();
    EXPECT_EQ(code, 0) << client << s.output();
    EXPECT_TRUE(s.has_output(" ms, 1 workers kept (" + version + " -> " + old_version + ")"))
        << s.output();
    const std::string down = show_status();
    EXPECT_EQ(baton_version_in(down), old_version) << down;
    EXPECT_EQ(row(down, "upgrades:"), "1 done, 0 failed; last: done") << down;

    // Up again: this build reads the 1.0 record, its 1.1 values defaulted. The counters
    // start from 0 again, and --upgrade still sees the new image take over.
    install("start_server");
    EXPECT_EQ(upgrade_client_under_requests(reply, asked, code, client), 0u) << s.output();
    EXPECT_EQ(code, 0) << client << s.output();
    EXPECT_TRUE(has(client, "upgraded to baton " + version + ", 1 workers kept")) << client;
    // No upgrade-began line: the time is not known, 0.
    EXPECT_TRUE(s.has_output("start_server upgraded in 0 ms, 1 workers kept (" + old_version +
                             " -> " + version + ")"))
        << s.output();
    const std::string up = show_status();
    EXPECT_EQ(baton_version_in(up), version) << up;
    EXPECT_EQ(row(up, "upgrades:"), "1 done, 0 failed; last: done") << up;
    // No exe line: argv[0] (the original command line came across) is resolved again, so
    // the next upgrade runs the same file.
    s.signal(SIGUSR2);
    EXPECT_EQ(failures_until([&] { return upgrades_logged(s) >= 3; }, reply, asked), 0u)
        << s.output();
    EXPECT_TRUE(s.has_output(" ms, 1 workers kept (" + version + " -> " + version + ")"))
        << s.output();
    EXPECT_EQ(row(show_status(), "upgrades:"), "2 done, 0 failed; last: done");
    EXPECT_GT(asked, 3u);

    // Same pid, same worker, same files, one set-up, and still supervising.
    EXPECT_EQ(read_file(pid_file), std::to_string(s.pid()) + "\n");
    EXPECT_EQ(read_file(status), status_before);
    EXPECT_EQ(pid_of(ask(port)), worker_pid);
    EXPECT_EQ(count_of(s.output(), "starting now"), 1u) << s.output();
    EXPECT_EQ(count_of(s.output(), "upgrade failed"), 0u) << s.output();
    s.signal(SIGHUP);
    EXPECT_TRUE(serves_generation(2)) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_FALSE(exists(pid_file));
}

} // namespace
