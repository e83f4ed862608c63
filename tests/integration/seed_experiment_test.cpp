// SPDX-License-Identifier: MIT
// The seed experiment at small scale: start_server + examples/hello, a SIGHUP every 100 ms,
// and two kinds of clients at once: ab-style (HTTP/1.0, a new connection per request) and
// keep-alive (HTTP/1.1, requests back to back on one connection, reconnecting only when
// the server says `Connection: close`). Correctness only: not one request may fail or be
// truncated, and several generations must have served. Speed is measured in bench/seed.
#include "support/child_process.hpp"
#include "support/http_load.hpp"
#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

using namespace baton::test;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view expected_body = "Hello, baton!\n";

/// Lines starting with `prefix` that end with `suffix`.
std::size_t count_lines(const std::string& log, std::string_view prefix, std::string_view suffix)
{
    std::size_t n = 0;
    std::size_t start = 0;
    while (start < log.size()) {
        auto end = log.find('\n', start);
        if (end == std::string::npos)
            end = log.size();
        const std::string_view line(log.data() + start, end - start);
        if (line.starts_with(prefix) && line.ends_with(suffix))
            ++n;
        start = end + 1;
    }
    return n;
}

// start_server with examples/hello, as the seed runs it (notify readiness, bounded drains).
child_options seed_starter(const temp_dir& dir)
{
    child_options opts;
    opts.argv = {fixture_program("start_server").string(),
                 "--port",
                 "127.0.0.1:0",
                 "--readiness=notify",
                 "--ready-timeout=10",
                 "--shutdown-timeout=10",
                 "--status-file",
                 (dir / "status").string(),
                 "--",
                 fixture_program("hello").string()};
    opts.env = {{"SERVER_STARTER_PORT", std::nullopt},
                {"NOTIFY_SOCKET", std::nullopt},
                {"LISTEN_FDS", std::nullopt},
                {"LISTEN_PID", std::nullopt}};
    return opts;
}

} // namespace

TEST(SeedExperiment, NoRequestFailsWhileRestartingEvery100Ms)
{
    constexpr int clients_each = 25; // 25 ab-style + 25 keep-alive = 50 connections
    constexpr int ab_requests = 30;
    constexpr int keepalive_requests = 60;

    temp_dir dir;
    child_process starter(seed_starter(dir));
    // start_server binds port 0 itself; the port the kernel chose is read back from /proc
    const auto sockets = wait_for_listening_sockets(starter.pid(), 1, default_wait_timeout);
    ASSERT_EQ(sockets.size(), 1U) << starter.output();
    const std::uint16_t port = sockets[0].port;
    ASSERT_TRUE(wait_until(
        [&] {
            std::error_code ec;
            return static_cast<bool>(connect_tcp("127.0.0.1", port, ec));
        },
        10s))
        << starter.output();
    ASSERT_TRUE(starter.wait_for_output("is ready", 10s)) << starter.output();

    // ab's way (HTTP/1.0, a connection per request) and wrk's (keep-alive, back to back),
    // each client its number of requests
    load_tally t;
    const std::atomic<bool> is_never_done{false};
    std::vector<std::thread> clients;
    for (int i = 0; i < clients_each; ++i) {
        clients.emplace_back(run_load_client, port, load_kind::get_close, ab_requests,
                             std::cref(is_never_done), std::ref(t), expected_body, 10s);
        clients.emplace_back(run_load_client, port, load_kind::get_keep_alive, keepalive_requests,
                             std::cref(is_never_done), std::ref(t), expected_body, 10s);
    }

    // a HUP every 100 ms until every client is done (bounded: 600 HUPs, one minute)
    std::atomic<bool> is_done{false};
    int hups = 0;
    std::thread hupper([&] {
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (!is_done && hups < 600 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(100ms); // the experiment's pace, not a synchronisation
            if (!is_done && starter.signal(SIGHUP))
                ++hups;
        }
    });
    for (auto& c : clients)
        c.join();
    is_done = true;
    hupper.join();

    // stop, and read what start_server said
    ASSERT_TRUE(starter.signal(SIGTERM));
    const auto status = starter.wait_for_exit(30s);
    ASSERT_TRUE(status.has_value()) << starter.output();
    EXPECT_EQ(describe_wait_status(*status), describe_wait_status(0)) << starter.output();
    const std::string log = starter.output();

    EXPECT_EQ(t.failed.load(), 0) << t.failure_report();
    EXPECT_EQ(t.completed.load(), clients_each * (ab_requests + keepalive_requests));
    EXPECT_GE(hups, 10);
    // several generations served and drained cleanly under load
    EXPECT_GE(count_lines(log, "starting new worker", ""), 5u) << log;
    const auto retired = count_lines(log, "old worker ", "");
    EXPECT_GE(retired, 4u) << log;
    EXPECT_EQ(count_lines(log, "old worker ", ", status:0"), retired) << log;
    EXPECT_EQ(log.find("died unexpectedly"), std::string::npos) << log;
    EXPECT_EQ(log.find("failed to start"), std::string::npos) << log;
    // keep-alive connections crossed drains: told to close, never cut
    EXPECT_GE(t.closes_on_keep_alive.load(), 1);
}
