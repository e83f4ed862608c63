// SPDX-License-Identifier: MIT
// Idle keep-alive connections parked between requests (src/http/idle_lot.hpp), on loopback:
// served again when their next request comes, many at once, closed in stages at their idle
// timeout or by their client, given the drain grace by a shutdown, cut by close().
#include "integration/http/http_server_fixture.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>

namespace {

using namespace baton::test;

/// A one-loop server whose idle connections park (its loop has time: nothing else runs).
baton::http::options one_loop()
{
    auto o = fixture::defaults();
    o.threads = 1;
    return o;
}

std::size_t parked(const fixture& f)
{
    return f.server->stats().idle_connections_parked;
}

TEST(HttpIdle, AnIdleKeepAliveConnectionParksAndEachNextRequestIsServed)
{
    fixture f(one_loop());
    auto c = connect(f.port);
    for (int i = 0; i < 20; ++i) {
        ASSERT_FALSE(c.send(get_a));
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail << " request " << i;
        EXPECT_EQ(r.response.body, "ok /a");
        EXPECT_FALSE(r.response.is_connection_close());
        ASSERT_TRUE(wait_until([&] { return parked(f) == 1; }, 5s)) << "request " << i;
    }
    // A request in pieces: woken by its first bytes, it waits for the rest as it serves.
    ASSERT_FALSE(c.send("GET /b HTTP/1.1\r\n"));
    ASSERT_TRUE(wait_until([&] { return parked(f) == 0; }, 5s));
    ASSERT_FALSE(c.send("Host: x\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.body, "ok /b");
    ASSERT_TRUE(wait_until([&] { return parked(f) == 1; }, 5s));
    // Its client closes: the server closes it too, and it is gone.
    c.shutdown_write();
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_TRUE(
        wait_until([&] { return f.server->stats().open_connections == 0 && parked(f) == 0; }, 5s));
    EXPECT_EQ(f.server->stats().requests_served, 21U);
}

TEST(HttpIdle, ManyParkedConnectionsWhoseRequestsComeTogetherAreAllServed)
{
    constexpr std::size_t n = 200; // more than one epoll_wait of the lot takes (64)
    fixture f(one_loop());
    std::deque<raw_connection> clients;
    for (std::size_t i = 0; i < n; ++i) {
        clients.push_back(connect(f.port));
        ASSERT_FALSE(clients.back().send(get_a));
        ASSERT_TRUE(clients.back().read_response().is_complete()) << "connection " << i;
    }
    ASSERT_TRUE(wait_until([&] { return parked(f) == n; }, 5s)) << parked(f);
    for (auto& c : clients)
        ASSERT_FALSE(c.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n"));
    for (std::size_t i = 0; i < n; ++i) {
        auto r = clients[i].read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail << " connection " << i;
        EXPECT_EQ(r.response.body, "ok /again");
    }
    EXPECT_TRUE(wait_until([&] { return parked(f) == n; }, 5s)) << parked(f);
    EXPECT_EQ(f.server->stats().requests_served, 2 * n);
}

TEST(HttpIdle, AParkedConnectionIsClosedInStagesAtItsIdleTimeout)
{
    auto o = one_loop();
    o.idle_timeout = 300ms;
    fixture f(o);
    auto c = connect(f.port);
    ASSERT_FALSE(c.send(get_a));
    ASSERT_TRUE(c.read_response().is_complete());
    const auto idle_since = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_until([&] { return parked(f) == 1; }, 5s));
    EXPECT_TRUE(ends_with_clean_close(c)) << "a FIN, never a reset";
    EXPECT_GE(std::chrono::steady_clock::now() - idle_since, 250ms) << "not before its timeout";
    EXPECT_TRUE(
        wait_until([&] { return f.server->stats().open_connections == 0 && parked(f) == 0; }, 5s));
}

TEST(HttpIdle, TheDrainGivesParkedConnectionsTheGraceAndServesWhatComesInIt)
{
    auto o = one_loop();
    o.drain_grace = 1s;
    fixture f(o);
    std::deque<raw_connection> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(connect(f.port));
        ASSERT_FALSE(clients.back().send(get_a));
        ASSERT_TRUE(clients.back().read_response().is_complete());
    }
    ASSERT_TRUE(wait_until([&] { return parked(f) == 3; }, 5s));
    auto done = f.shutdown_async();
    // Woken by the drain, they wait by themselves, for the grace only.
    ASSERT_TRUE(wait_until([&] { return parked(f) == 0; }, 5s));
    ASSERT_FALSE(clients[0].send(get_a)); // inside the grace: served, with Connection: close
    auto r = clients[0].read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.status, 200);
    EXPECT_TRUE(r.response.is_connection_close());
    for (auto& c : clients)
        EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_FALSE(done.get()) << "drained in time: nothing of the lot held the loop";
    const auto s = f.server->stats();
    EXPECT_EQ(s.requests_served_in_grace, 1U);
    EXPECT_EQ(s.connections_closed_by_drain, 2U);
    EXPECT_EQ(s.open_connections, 0U);
}

TEST(HttpIdle, CloseCutsParkedConnections)
{
    fixture f(one_loop());
    auto a = connect(f.port);
    auto b = connect(f.port);
    for (auto* c : {&a, &b}) {
        ASSERT_FALSE(c->send(get_a));
        ASSERT_TRUE(c->read_response().is_complete());
    }
    ASSERT_TRUE(wait_until([&] { return parked(f) == 2; }, 5s));
    f.server->close();
    f.server->join();
    for (auto* c : {&a, &b}) {
        auto eof = c->read_until_eof();
        EXPECT_NE(eof.outcome, read_outcome::timeout) << "cut, not left open";
        EXPECT_TRUE(eof.data.empty());
    }
    EXPECT_EQ(f.server->stats().open_connections, 0U);
    EXPECT_EQ(parked(f), 0U);
}

} // namespace
