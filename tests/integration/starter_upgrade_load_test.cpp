// SPDX-License-Identifier: MIT
// start_server upgrading itself in place (SIGUSR2, `start_server --upgrade`) under HTTP load,
// interleaved with restarts, and a thousand times without load (issue 14): not one request
// fails, and what the upgrade must keep (the pid, the listening socket, the pid file and its
// lock, the workers, Perl's status file) is checked after every step.
#include "starter_upgrade_checks.hpp"
#include "support/http_load.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace starter_test;

constexpr std::string_view hello_body = "Hello, baton!\n";

ino_t inode_of(const std::string& path)
{
    struct stat st {};

    return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

struct StarterUpgradeLoad : ::testing::Test {
    temp_dir dir;
    std::uint16_t port = 0;
    std::string status = (dir / "status").string();
    std::string pid_file = (dir / "pid").string();

    // start_server with examples/hello as the seed experiment runs it.
    child_options hello_starter() const
    {
        child_options o;
        o.argv = {program("start_server"),  "--port=127.0.0.1:0",
                  "--readiness=notify",     "--ready-timeout=10",
                  "--shutdown-timeout=10",  "--status-file=" + status,
                  "--pid-file=" + pid_file, "--",
                  program("hello")};
        o.env = {{"SERVER_STARTER_PORT", std::nullopt},
                 {"NOTIFY_SOCKET", std::nullopt},
                 {"LISTEN_FDS", std::nullopt},
                 {"LISTEN_PID", std::nullopt}};
        return o;
    }

    // A second start_server on the same pid file: refused by the lock with its one line,
    // exit 2, and it neither binds nor starts a worker.
    ::testing::AssertionResult second_instance_is_refused() const
    {
        child_process second({program("start_server"), "--port=127.0.0.1:0",
                              "--pid-file=" + pid_file, "--", program("hello")});
        const auto code = second.wait_for_exit_code();
        if (code != 2 || !second.has_output("is locked by another start_server") ||
            second.has_output("starting new worker"))
            return ::testing::AssertionFailure()
                   << "exit " << (code ? std::to_string(*code) : "none") << ": " << second.output();
        return ::testing::AssertionSuccess();
    }

    // The status file is Perl's `GEN:PID` lines, and every pid in it is a child.
    ::testing::AssertionResult status_is_well_formed(pid_t server) const
    {
        const std::string text = read_file(status);
        const auto entries = status_entries(text);
        const auto children = children_of(server);
        if (entries.empty())
            return ::testing::AssertionFailure() << "status file \"" << text << "\"";
        for (const auto& [gen, pid] : entries)
            if (!std::binary_search(children.begin(), children.end(), pid))
                return ::testing::AssertionFailure()
                       << "status file \"" << text << "\": " << pid << " is not a child";
        return ::testing::AssertionSuccess();
    }
};

TEST_F(StarterUpgradeLoad, FiftyUpgradesAmongHupsUnderLoadLoseNoRequestAndKeepWhatTheyMust)
{
    child_process s(hello_starter());
    const pid_t server = s.pid();
    port = listening_port(server);
    ASSERT_NE(port, 0) << s.output();
    ASSERT_TRUE(s.wait_for_output("is ready after")) << s.output();
    ASSERT_TRUE(is_settled_on(server, status, 1)) << s.output();
    const auto sockets = listening_sockets(server);
    ASSERT_EQ(sockets.size(), 1u);
    const std::string link = socket_link(server, sockets[0].fd);
    ASSERT_TRUE(link.starts_with("socket:[")) << link;
    const std::string pid_text = std::to_string(server) + "\n";
    ASSERT_EQ(read_file(pid_file), pid_text);
    const auto pid_file_inode = inode_of(pid_file); // the same file, never written again

    // 2 clients of each kind: GET keep-alive, GET HTTP/1.0, POST keep-alive with a body
    http_load load(port, 2, 1'000'000, std::string(hello_body));
    load_tally& t = load.tally();
    ASSERT_TRUE(wait_until([&] { return t.completed >= 100; })) << t.failure_report();

    const std::vector<std::string> client{program("start_server"), "--upgrade",
                                          "--pid-file=" + pid_file};
    long gen = 1;
    for (std::size_t step = 1; step <= 50; ++step) {
        SCOPED_TRACE("upgrade " + std::to_string(step) + ", generation " + std::to_string(gen));
        const bool is_with_hup = step % 5 == 0; // 10 of them: a restart under way
        const auto workers = children_of(server);
        const int served_before = t.completed;
        if (is_with_hup) {
            s.signal(SIGHUP);
            ++gen;
        }
        if (step % 2 == 0) {
            s.signal(SIGUSR2);
        } else {
            child_process c(client);
            ASSERT_EQ(c.wait_for_exit_code(), 0) << c.output() << s.output();
            EXPECT_TRUE(c.has_output("start_server (pid " + std::to_string(server) +
                                     ") upgraded to baton "))
                << c.output();
        }
        ASSERT_TRUE(upgraded(s, step)) << s.output();
        if (is_with_hup)
            ASSERT_TRUE(is_settled_on(server, status, gen)) << read_file(status) << s.output();
        else
            EXPECT_EQ(children_of(server), workers);         // an upgrade alone keeps the workers
        EXPECT_EQ(socket_link(server, sockets[0].fd), link); // the same socket, never re-bound
        EXPECT_EQ(read_file(pid_file), pid_text);
        EXPECT_EQ(inode_of(pid_file), pid_file_inode);
        EXPECT_TRUE(status_is_well_formed(server));
        EXPECT_TRUE(second_instance_is_refused());
        // requests went on across this step: the upgrade happened under load
        ASSERT_TRUE(wait_until([&] { return t.completed >= served_before + 3; }))
            << t.failure_report();
        ASSERT_EQ(t.failed.load(), 0) << t.failure_report();
    }
    // the load goes on after the last upgrade, then stops
    const int before = t.completed;
    ASSERT_TRUE(wait_until([&] { return t.completed >= before + 100; })) << t.failure_report();
    load.stop();
    // Read once: /proc/net/tcp is long with the HTTP/1.0 clients' closed connections.
    const auto after = listening_sockets(server);
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(after[0].fd, sockets[0].fd);
    EXPECT_EQ(after[0].port, port);

    RecordProperty("requests", t.completed.load());
    EXPECT_EQ(t.failed.load(), 0) << t.failure_report();
    EXPECT_EQ(t.non_2xx.load(), 0);
    for (auto kind : every_load_kind)
        EXPECT_GE(t.by_kind.at(static_cast<std::size_t>(kind)).load(), 30) << to_string(kind);
    EXPECT_GE(t.completed.load(), 300); // a floor: the load ran throughout, never stalled
    EXPECT_EQ(s.pid(), server);
    EXPECT_EQ(count_of(s.output(), "starting now"), 1u) << s.output(); // resumed, never set up
    EXPECT_EQ(count_of(s.output(), "new worker is now running"), 10u) << s.output();
    EXPECT_EQ(count_of(s.output(), "upgrade failed"), 0u) << s.output();
    EXPECT_EQ(count_of(s.output(), "died unexpectedly"), 0u) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_FALSE(exists(pid_file));
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t soak_upgrades = 200; // a sanitized image starts several times slower
#else
constexpr std::size_t soak_upgrades = 1000;
#endif

TEST_F(StarterUpgradeLoad, AThousandUpgradesLeaveDescriptorsMemoryAndTheWorkerAsTheyWere)
{
    child_process s({program("start_server"), "--port=127.0.0.1:0", "--interval=0",
                     "--status-file=" + status, "--pid-file=" + pid_file, "--", worker()});
    port = listening_port(s.pid());
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 1; })) << s.output();
    const pid_t worker_pid = pid_of(ask(port));
    s.signal(SIGUSR2); // the first image's start-up allocations are not a leak
    ASSERT_TRUE(upgraded(s, 1)) << s.output();
    // The log line comes before the new image's first turn writes the status file, which
    // holds a descriptor (its temporary file) open a moment: the baseline is taken without it.
    const std::string links = idle_descriptor_links(s.pid());
    ASSERT_FALSE(links.empty()) << descriptor_links(s.pid());
    const long rss = resident_kb(s.pid());
    ASSERT_GT(rss, 0);
    const std::string status_before = read_file(status);
    for (std::size_t i = 2; i <= soak_upgrades; ++i) {
        s.signal(SIGUSR2);
        ASSERT_TRUE(upgraded(s, i)) << s.output();
    }
    // The same descriptors once the last image's status file is written.
    EXPECT_EQ(idle_descriptor_links(s.pid()), links) << descriptor_links(s.pid());
    // Each image starts with a fresh address space, so only what the record carries could
    // grow; the slack is the sanitizers' shadow memory, which varies between images.
    EXPECT_LT(resident_kb(s.pid()), rss + rss / 4 + 1024) << rss;
    EXPECT_EQ(pid_of(ask(port)), worker_pid);
    EXPECT_EQ(read_file(status), status_before);
    EXPECT_EQ(count_of(s.output(), "upgrade failed"), 0u);
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

} // namespace
