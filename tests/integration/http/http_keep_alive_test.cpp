// SPDX-License-Identifier: MIT
// baton::http::server on loopback: idle keep-alive connections through a drain (served within the
// grace, closed after it) and the close a client asks for.
#include "integration/http/http_server_fixture.hpp"

#include <future>
#include <string>
#include <thread>

namespace {

using namespace baton::test;

TEST(HttpShutdown, IdleKeepAliveRequestWithinGraceIsServed)
{
    fixture f;
    auto c = connect(f.port);
    ASSERT_FALSE(c.send(get_a));
    auto first = c.read_response();
    ASSERT_TRUE(first.is_complete()) << first.outcome << ' ' << first.detail;
    EXPECT_FALSE(first.response.is_connection_close());
    auto done = f.shutdown_async();
    // The scenario, not a synchronisation: the request leaves 100 ms into the drain.
    std::this_thread::sleep_for(100ms);
    ASSERT_FALSE(c.send(get_a));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.status, 200);
    EXPECT_EQ(r.response.body, "ok /a");
    EXPECT_TRUE(r.response.is_connection_close());
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_FALSE(done.get());
    EXPECT_EQ(f.server->stats().requests_served_in_grace, 1U);
    EXPECT_EQ(f.server->stats().requests_served, 2U);
}

TEST(HttpShutdown, ClosesSilentIdleConnectionAfterGrace)
{
    auto o = fixture::defaults();
    o.drain_grace = 100ms;
    fixture f(o);
    auto c = connect(f.port);
    ASSERT_FALSE(c.send(get_a));
    ASSERT_TRUE(c.read_response().is_complete());
    EXPECT_FALSE(f.server->shutdown(10s));
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_EQ(f.server->stats().connections_closed_by_drain, 1U);
}

// The client asked for the close (HTTP/1.0 without keep-alive, or Connection: close) and sent
// nothing more: the server closes behind the response at once instead of waiting (here up to
// a minute) for the client's FIN. The client never closes its end before the server lets go.
TEST(HttpClose, AClientThatAsksForTheCloseIsLetGoAtOnceBehindTheWholeResponse)
{
    auto o = fixture::defaults();
    o.linger_timeout = 60s; // what a staged close would hold the connection for
    fixture f(o);
    const std::string_view requests[] = {
        "GET /hello HTTP/1.0\r\n\r\n",                                 // flushed: close-delimited
        "GET /a HTTP/1.0\r\n\r\n",                                     // Content-Length
        "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", // chunked
    };
    for (auto req : requests) {
        SCOPED_TRACE(req);
        auto c = connect(f.port);
        ASSERT_FALSE(c.send(req));
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.status, 200);
        EXPECT_TRUE(ends_with_clean_close(c));
        EXPECT_TRUE(wait_until([&] { return f.server->stats().open_connections == 0; }, 10s));
    }
    EXPECT_EQ(f.server->stats().requests_served, 3U);

    // A keep-alive request and a closing one, pipelined in one segment: both answered, then
    // the same immediate close.
    auto c = connect(f.port);
    ASSERT_FALSE(
        c.send(std::string(get_a) + "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    auto first = c.read_response();
    ASSERT_TRUE(first.is_complete()) << first.outcome << ' ' << first.detail;
    EXPECT_EQ(first.response.body, "ok /a");
    auto second = c.read_response();
    ASSERT_TRUE(second.is_complete()) << second.outcome << ' ' << second.detail;
    EXPECT_EQ(second.response.body, "ok /b");
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_TRUE(wait_until([&] { return f.server->stats().open_connections == 0; }, 10s));
}

// Bytes behind a request that asked for the close, received with it or arriving while it is
// handled, would turn an immediate close() into a reset (destroying the response in the
// client's buffers): the server closes in stages, reading and discarding them, and lets go
// only at the client's FIN (or linger_timeout).
TEST(HttpClose, BytesBehindARequestThatAskedForTheCloseAreDiscardedBeforeTheClose)
{
    auto o = fixture::defaults();
    o.linger_timeout = 60s;
    fixture f(o);
    auto c = connect(f.port);
    ASSERT_FALSE(c.send("GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" +
                        std::string(64 * 1024, 'x')));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.body, "slow done");
    EXPECT_TRUE(r.response.is_connection_close());
    EXPECT_TRUE(ends_with_clean_close(c)); // a FIN, not a reset
    // The server's half is still open, lingering for the client's FIN.
    EXPECT_EQ(f.server->stats().open_connections, 1U);
    c.shutdown_write();
    EXPECT_TRUE(wait_until([&] { return f.server->stats().open_connections == 0; }, 10s));

    // The same with bytes that arrive while the handler runs: they wait in the kernel (not
    // read yet), and the check after the response sees them.
    auto late = connect(f.port);
    const int entered_before = f.entered.load();
    ASSERT_FALSE(late.send("GET /slow HTTP/1.0\r\n\r\n"));
    ASSERT_TRUE(wait_until([&] { return f.entered.load() > entered_before; }, 5s));
    ASSERT_FALSE(late.send(std::string(64 * 1024, 'y')));
    auto r2 = late.read_response();
    ASSERT_TRUE(r2.is_complete()) << r2.outcome << ' ' << r2.detail;
    EXPECT_EQ(r2.response.body, "slow done");
    EXPECT_TRUE(ends_with_clean_close(late));
    EXPECT_EQ(f.server->stats().open_connections, 1U);
    late.shutdown_write();
    EXPECT_TRUE(wait_until([&] { return f.server->stats().open_connections == 0; }, 10s));
}

} // namespace
