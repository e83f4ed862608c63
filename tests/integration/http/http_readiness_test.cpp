// SPDX-License-Identifier: MIT
// baton::http leaving a load balancer's pool: the readiness probe, leave_pool(), and
// serve_options::drain_delay, over real sockets; under a starter, no delay and no flip.
#include "integration/http/http_server_fixture.hpp"

#include <baton/http/readiness.hpp>
#include <baton/http/serve.hpp>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <thread>

namespace {

using namespace baton::test;

/// One request on a new connection; its complete response (a failed expectation otherwise).
http_response ask(std::uint16_t port, const std::string& request, bool is_head = false)
{
    auto c = connect(port);
    EXPECT_FALSE(c.send(request));
    read_options o;
    o.is_head_response = is_head;
    auto r = c.read_response(default_io_timeout, o);
    EXPECT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    return r.response;
}

std::string get(std::string_view target, std::string_view extra = {})
{
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n" + std::string(extra) + "\r\n";
}

struct HttpReadiness : ::testing::Test {
    std::optional<baton::http::server> server;
    std::uint16_t port = 0;

    template <class Handler>
    void start(Handler h)
    {
        server.emplace(fixture::defaults(), baton::http::with_readiness(std::move(h)));
        server->listen("127.0.0.1", 0);
        port = server->local_ports().at(0);
        server->start();
    }

    ~HttpReadiness() override
    {
        if (server) {
            (void)server->shutdown(5s);
            server->join();
        }
    }
};

TEST_F(HttpReadiness, ProbeIs200WhileServingAnd503OnceTheServerLeftThePool)
{
    start([](const request& req, response_writer& w) -> asio::awaitable<void> {
        w.write(w.is_draining() ? "leaving " : "serving ");
        w.write(std::string(req.target()));
        co_return;
    });
    auto ready = ask(port, get("/readyz"));
    EXPECT_EQ(ready.status, 200);
    EXPECT_EQ(ready.body, "ready\n");
    EXPECT_EQ(ready.header("Content-Type"), "text/plain");
    EXPECT_EQ(ready.header("Cache-Control"), "no-store");
    EXPECT_FALSE(ready.is_connection_close());
    auto head = ask(port, "HEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\n", true);
    EXPECT_EQ(head.status, 200);
    EXPECT_EQ(head.header("Content-Length"), "6");
    EXPECT_EQ(ask(port, get("/readyz?probe=1")).status, 200);
    // Another method, or another path, is the application's.
    EXPECT_EQ(ask(port, "POST /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").body,
              "serving /readyz");
    EXPECT_EQ(ask(port, get("/readyzz")).body, "serving /readyzz");

    auto pooled = connect(port); // a balancer's pooled connection, idle when the stop begins
    ASSERT_FALSE(pooled.send(get("/a")));
    ASSERT_TRUE(pooled.read_response().is_complete());
    EXPECT_FALSE(server->is_draining());
    server->leave_pool();
    EXPECT_TRUE(server->is_draining());

    auto draining = ask(port, get("/readyz")); // the listener still accepts
    EXPECT_EQ(draining.status, 503);
    EXPECT_EQ(draining.body, "draining\n");
    EXPECT_TRUE(draining.is_connection_close());
    auto served = ask(port, get("/b"));
    EXPECT_EQ(served.status, 200);
    EXPECT_EQ(served.body, "leaving /b");
    EXPECT_TRUE(served.is_connection_close());
    // The pooled connection's next request is served and closes it: the client moves on.
    ASSERT_FALSE(pooled.send(get("/c")));
    auto last = pooled.read_response();
    ASSERT_TRUE(last.is_complete()) << last.outcome << ' ' << last.detail;
    EXPECT_EQ(last.response.body, "leaving /c");
    EXPECT_TRUE(last.response.is_connection_close());
    EXPECT_TRUE(ends_with_clean_close(pooled));
}

TEST_F(HttpReadiness, PlainFunctionHandlerSeesTheDrainToo)
{
    start([](const request&, response_writer& w) {
        w.write(w.is_draining() ? "leaving" : "serving");
    });
    EXPECT_EQ(ask(port, get("/readyz")).status, 200);
    EXPECT_EQ(ask(port, get("/x")).body, "serving");
    server->leave_pool();
    EXPECT_EQ(ask(port, get("/readyz")).status, 503);
    EXPECT_EQ(ask(port, get("/x")).body, "leaving");
}

/// serve_until_signal on a thread of its own, as a worker's main() runs it.
struct HttpServeDrainDelay : ::testing::Test {
    baton::http::server s{fixture::defaults(),
                          baton::http::with_readiness(
                              [](const request&, response_writer& w) -> asio::awaitable<void> {
                                  w.write("served");
                                  co_return;
                              })};
    std::atomic<bool> is_ready{false};
    std::atomic<bool> is_stopping{false};
    std::atomic<bool> was_draining_at_stop{false};
    std::atomic<bool> has_returned{false};
    std::thread runner;
    std::uint16_t port = 0;

    void run(std::chrono::milliseconds delay)
    {
        s.listen("127.0.0.1", 0);
        port = s.local_ports().at(0);
        baton::http::serve_options o;
        o.drain_timeout = 5s;
        o.drain_delay = delay;
        o.on_ready = [this] { is_ready = true; };
        o.on_stopping = [this] {
            was_draining_at_stop = s.is_draining();
            is_stopping = true;
        };
        runner = std::thread([this, o] {
            (void)baton::http::serve_until_signal(s, o);
            has_returned = true;
        });
        ASSERT_TRUE(wait_until([&] { return is_ready.load(); }, 5s));
    }

    void stop_signal() { ASSERT_EQ(pthread_kill(runner.native_handle(), SIGTERM), 0); }

    ~HttpServeDrainDelay() override
    {
        if (runner.joinable()) {
            if (!has_returned)
                (void)pthread_kill(runner.native_handle(), SIGTERM);
            runner.join();
        }
        ::unsetenv("SERVER_STARTER_PORT");
    }
};

TEST_F(HttpServeDrainDelay, KeepsAcceptingWithReadinessOffUntilTheDelayEnds)
{
    ::unsetenv("SERVER_STARTER_PORT");
    run(1500ms);
    const auto signalled_at = std::chrono::steady_clock::now();
    stop_signal();
    ASSERT_TRUE(wait_until([&] { return is_stopping.load(); }, 5s));
    EXPECT_TRUE(was_draining_at_stop.load()); // readiness off before STOPPING=1 goes out
    EXPECT_EQ(ask(port, get("/readyz")).status, 503);
    auto r = ask(port, get("/"));
    EXPECT_EQ(r.body, "served");
    EXPECT_TRUE(r.is_connection_close());
    EXPECT_FALSE(has_returned.load());
    ASSERT_TRUE(wait_until([&] { return has_returned.load(); }, 10s));
    EXPECT_GE(std::chrono::steady_clock::now() - signalled_at, 1500ms);
}

TEST_F(HttpServeDrainDelay, SecondSignalEndsTheDelay)
{
    ::unsetenv("SERVER_STARTER_PORT");
    run(60s);
    stop_signal();
    ASSERT_TRUE(wait_until([&] { return is_stopping.load(); }, 5s));
    EXPECT_EQ(ask(port, get("/readyz")).status, 503);
    stop_signal();
    EXPECT_TRUE(wait_until([&] { return has_returned.load(); }, 10s));
}

TEST_F(HttpServeDrainDelay, UnderAStarterTheSignalRetiresAtOnceWithoutFlippingReadiness)
{
    ::setenv("SERVER_STARTER_PORT", "127.0.0.1:1=3", 1); // only its presence is read here
    run(60s);
    stop_signal();
    EXPECT_TRUE(wait_until([&] { return has_returned.load(); }, 10s));
    EXPECT_TRUE(is_stopping.load());
    EXPECT_FALSE(was_draining_at_stop.load());
}

TEST(HttpHelloReadiness, HelloAloneBehindABalancerDrainsThroughItsDelay)
{
    if (!std::filesystem::exists(bin_dir() / "hello"))
        GTEST_SKIP() << "examples not built (BATON_BUILD_EXAMPLES=OFF)";
    child_options o;
    o.argv = {fixture_program("hello").string(), "--drain-delay=1", "127.0.0.1:0"};
    o.env = {{"SERVER_STARTER_PORT", std::nullopt},
             {"LISTEN_FDS", std::nullopt},
             {"LISTEN_PID", std::nullopt},
             {"NOTIFY_SOCKET", std::nullopt}};
    child_process hello(std::move(o));
    const auto sockets = wait_for_listening_sockets(hello.pid(), 1, 10s);
    ASSERT_FALSE(sockets.empty()) << hello.output();
    const std::uint16_t port = sockets.front().port;
    EXPECT_EQ(ask(port, get("/readyz")).status, 200);
    ASSERT_TRUE(hello.signal(SIGTERM));
    EXPECT_TRUE(wait_until([&] { return ask(port, get("/readyz")).status == 503; }, 5s));
    EXPECT_EQ(ask(port, get("/")).body, "Hello, baton!\n");
    auto status = hello.wait_for_exit(10s);
    ASSERT_TRUE(status) << hello.output();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
}

} // namespace
