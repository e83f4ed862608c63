// SPDX-License-Identifier: MIT
// baton::http::server on loopback: requests in flight when shutdown() begins finish with
// `Connection: close`, and the server's life cycle around a drain (deadline, close, run).
#include "integration/http/http_server_fixture.hpp"

#include <future>
#include <thread>

namespace {

using namespace baton::test;
using clock_type = std::chrono::steady_clock;

TEST(HttpShutdown, InFlightRequestCompletesWithConnectionClose)
{
    fixture f;
    auto c = connect(f.port);
    ASSERT_FALSE(c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(wait_until([&] { return f.entered.load() == 1; }, 5s));
    auto done = f.shutdown_async();
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.status, 200);
    EXPECT_EQ(r.response.body, "slow done");
    EXPECT_TRUE(r.response.is_connection_close());
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_FALSE(done.get());
    f.server->join();
}

TEST(HttpShutdown, RequestSentRightAfterFlushedResponseIsServed)
{
    fixture f;
    auto c = connect(f.port);
    ASSERT_FALSE(c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(wait_until([&] { return f.flushed.load() == 1; }, 5s));
    auto done = f.shutdown_async();
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_TRUE((r.response.framing == body_framing::chunked));
    EXPECT_FALSE(r.response.is_connection_close()) << "the header went out before the shutdown";
    EXPECT_EQ(r.response.body, "Hello, world!\n");
    // The wrk pattern: the next request the instant the last chunk is read.
    ASSERT_FALSE(c.send(get_a));
    auto next = c.read_response();
    ASSERT_TRUE(next.is_complete()) << next.outcome << ' ' << next.detail;
    EXPECT_EQ(next.response.status, 200);
    EXPECT_TRUE(next.response.is_connection_close());
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_FALSE(done.get());
}

TEST(HttpShutdown, BytesQueuedBeforeShutdownAreServedWithoutGrace)
{
    auto o = fixture::defaults();
    o.drain_grace = 0ms; // only the check for queued bytes can save the request
    fixture f(o);
    auto c = connect(f.port);
    ASSERT_FALSE(c.send(get_a));
    ASSERT_TRUE(c.read_response().is_complete());
    ASSERT_FALSE(c.send(get_a));
    auto done = std::async(std::launch::async, [&] { return f.server->shutdown(10s); });
    // Read before or after the drain began (a race this test does not steer), the request is
    // answered and the connection ends with a FIN, never a reset.
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.status, 200);
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_FALSE(done.get());
    EXPECT_EQ(f.server->stats().requests_served, 2U);
}

TEST(HttpShutdown, NewConnectionsFirstRequestIsServedAfterTheGrace)
{
    // Accepted before the drain, its first request sent only well after the grace (a client
    // slow to follow its connect, or a TLS client's request after its handshake): it is not
    // an idle keep-alive connection, so it is served, with Connection: close.
    auto o = fixture::defaults();
    o.drain_grace = 50ms;
    fixture f(o);
    auto c = connect(f.port);
    ASSERT_TRUE(wait_until([&] { return f.server->stats().open_connections == 1; }, 5s));
    auto done = f.shutdown_async();
    ASSERT_TRUE(wait_until([&] { return f.has_shutdown_begun.load(); }, 5s));
    std::this_thread::sleep_for(250ms); // the slow client: five graces, not a synchronisation
    ASSERT_FALSE(c.send(get_a));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.status, 200);
    EXPECT_TRUE(r.response.is_connection_close());
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_FALSE(done.get());
    EXPECT_EQ(f.server->stats().connections_closed_by_drain, 0U);
}

TEST(HttpShutdown, PipelinedBatchInFlightIsAnsweredCompletely)
{
    fixture f;
    auto c = connect(f.port);
    std::string batch;
    for (int i = 0; i < 3; ++i)
        batch += "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
    batch += get_a;
    ASSERT_FALSE(c.send(batch));
    ASSERT_TRUE(wait_until([&] { return f.entered.load() == 1; }, 5s));
    auto done = f.shutdown_async();
    for (int i = 0; i < 4; ++i) {
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail << "response " << i;
        EXPECT_EQ(r.response.status, 200);
        EXPECT_EQ(r.response.is_connection_close(), i == 3) << "response " << i;
    }
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_FALSE(done.get());
}

TEST(HttpShutdown, DeadlineReturnsTimeoutAndCloseEndsIt)
{
    fixture f;
    auto c = connect(f.port);
    ASSERT_FALSE(c.send("GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(wait_until([&] { return f.entered.load() == 1; }, 5s));
    auto ec = f.server->shutdown(200ms);
    EXPECT_EQ(ec, baton::http::errc::shutdown_timeout);
    EXPECT_EQ(f.server->stats().open_connections, 1U);
    f.server->close();
    f.server->join();
    EXPECT_FALSE(c.read_response().is_complete());
    EXPECT_EQ(f.server->stats().connections_force_closed, 1U);
}

TEST(HttpShutdown, ReturnsAtOnceWhenNoConnectionIsOpen)
{
    fixture f;
    auto started = clock_type::now();
    EXPECT_FALSE(f.server->shutdown(10s));
    EXPECT_FALSE(f.server->shutdown(10s)) << "idempotent";
    f.server->join();
    EXPECT_LT(clock_type::now() - started, 5s);
}

TEST(HttpShutdown, RunReturnsNormallyWhenAnotherThreadShutsDown)
{
    baton::http::server s(fixture::defaults(),
                          [](const request&, response_writer& w) -> asio::awaitable<void> {
                              w.write("x");
                              co_return;
                          });
    s.listen("127.0.0.1", 0);
    std::atomic<bool> has_returned{false};
    std::thread runner([&] {
        s.run();
        has_returned = true;
    });
    {
        auto c = connect(s.local_ports().at(0));
        ASSERT_FALSE(c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        ASSERT_TRUE(c.read_response().is_complete());
    }
    EXPECT_FALSE(s.shutdown(10s));
    EXPECT_TRUE(wait_until([&] { return has_returned.load(); }, 5s));
    runner.join();
}

} // namespace
