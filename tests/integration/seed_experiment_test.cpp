// SPDX-License-Identifier: MIT
// The seed experiment at small scale: start_server + examples/hello, a SIGHUP every 100 ms,
// and two kinds of clients at once: ab-style (HTTP/1.0, a new connection per request) and
// keep-alive (HTTP/1.1, requests back to back on one connection, reconnecting only when
// the server says `Connection: close`). Correctness only: not one request may fail or be
// truncated, and several generations must have served. Speed is measured in bench/seed.
#include "support/child_process.hpp"
#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace baton::test;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view expected_body = "Hello, baton!\n";

/// What the clients saw, shared between their threads.
struct tally {
    std::atomic<int> completed{0};
    std::atomic<int> failed{0};
    std::atomic<int> closes_on_keepalive{0}; ///< `Connection: close` while keeping alive
    std::mutex mutex;
    std::vector<std::string> failures; ///< the first few, for the failure message

    void fail(std::string what)
    {
        ++failed;
        std::lock_guard lock(mutex);
        if (failures.size() < 10)
            failures.push_back(std::move(what));
    }
};

/// A response is right when it is complete, 200 and carries the whole body.
bool check(const read_result& r, tally& t, std::string_view client)
{
    if (r.is_complete() && r.response.status == 200 && r.response.body == expected_body)
        return true;
    t.fail(std::string(client) + ": " + std::string(to_string(r.outcome)) + " status " +
           std::to_string(r.response.status) + " body \"" + r.response.body + "\" " + r.detail);
    return false;
}

/// ab's way: HTTP/1.0, one connection per request, the body ends at the close.
void ab_style_client(std::uint16_t port, int requests, tally& t)
{
    for (int i = 0; i < requests; ++i) {
        std::error_code ec;
        unique_fd fd = connect_tcp("127.0.0.1", port, ec);
        if (!fd) {
            t.fail("ab-style: connect: " + ec.message());
            continue;
        }
        raw_connection conn(std::move(fd));
        if (auto sent = conn.send("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")) {
            t.fail("ab-style: send: " + sent.message());
            continue;
        }
        if (check(conn.read_response(10s), t, "ab-style"))
            ++t.completed;
    }
}

/// wrk's way: HTTP/1.1 keep-alive, the next request sent the instant a response is read.
void keepalive_client(std::uint16_t port, int requests, tally& t)
{
    std::optional<raw_connection> conn;
    for (int i = 0; i < requests; ++i) {
        if (!conn) {
            std::error_code ec;
            unique_fd fd = connect_tcp("127.0.0.1", port, ec);
            if (!fd) {
                t.fail("keep-alive: connect: " + ec.message());
                continue;
            }
            conn.emplace(std::move(fd));
        }
        if (auto sent = conn->send(make_get_request("/"))) {
            t.fail("keep-alive: send: " + sent.message());
            conn.reset();
            continue;
        }
        const auto r = conn->read_response(10s);
        if (!check(r, t, "keep-alive")) {
            conn.reset();
            continue;
        }
        ++t.completed;
        if (r.response.is_connection_close()) {
            ++t.closes_on_keepalive;
            conn.reset();
        }
    }
}

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

    tally t;
    std::vector<std::thread> clients;
    for (int i = 0; i < clients_each; ++i) {
        clients.emplace_back(ab_style_client, port, ab_requests, std::ref(t));
        clients.emplace_back(keepalive_client, port, keepalive_requests, std::ref(t));
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

    std::string failures;
    for (const auto& f : t.failures)
        failures += "  " + f + "\n";
    EXPECT_EQ(t.failed.load(), 0) << failures;
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
    EXPECT_GE(t.closes_on_keepalive.load(), 1);
}
