// SPDX-License-Identifier: MIT
// baton::http::server on loopback: the limits that need real sockets: 408 for slow clients, the
// write timeout, 431, an early 413 or 401 whose body is read in full, 503 beyond max_connections.
#include "integration/http/http_server_fixture.hpp"

#include <boost/beast/http/field.hpp>

#include <sys/socket.h>

#include <string>

namespace {

using namespace baton::test;
namespace bhttp = boost::beast::http;

TEST(HttpLimits, SlowHeaderClientGets408)
{
    auto o = fixture::defaults();
    o.header_timeout = 200ms;
    fixture f(o);
    auto c = connect(f.port);
    ASSERT_FALSE(c.send("GET / HTTP/1.1\r\nHo"));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.status, 408);
    EXPECT_TRUE(r.response.is_connection_close());
    EXPECT_TRUE(ends_with_clean_close(c));
}

TEST(HttpLimits, SlowBodyClientGets408)
{
    auto o = fixture::defaults();
    o.body_timeout = 200ms;
    fixture f(o);
    auto c = connect(f.port);
    ASSERT_FALSE(c.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.status, 408);
    EXPECT_EQ(f.entered.load(), 0);
}

TEST(HttpLimits, ClientThatDoesNotReadIsCutAfterWriteTimeout)
{
    std::atomic<int> write_timeouts{0};
    auto o = fixture::defaults();
    o.write_timeout = 200ms;
    o.linger_timeout = 100ms;
    o.on_error = [&](const boost::system::error_code& ec, std::string_view) {
        if (ec == baton::http::errc::write_timeout)
            write_timeouts.fetch_add(1);
    };
    baton::http::server s(o, [](const request&, response_writer& w) -> asio::awaitable<void> {
        w.write(std::string(16 * 1024 * 1024, 'w')); // far more than the socket buffers hold
        co_return;
    });
    s.listen("127.0.0.1", 0);
    s.start();
    auto c = connect(s.local_ports().at(0));
    int small_buffer = 4096; // the kernel's minimum-ish: the server's write stalls sooner
    ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small_buffer, sizeof small_buffer);
    ASSERT_FALSE(c.send(get_a)); // and never read
    EXPECT_TRUE(wait_until([&] { return write_timeouts.load() == 1; }, 20s));
    EXPECT_TRUE(wait_until([&] { return s.stats().open_connections == 0; }, 20s));
    EXPECT_EQ(s.stats().requests_served, 0U);
}

TEST(HttpLimits, OversizedHeaderGets431AndFullResponse)
{
    auto o = fixture::defaults();
    o.max_header_bytes = 4096;
    fixture f(o);
    auto c = connect(f.port);
    ASSERT_FALSE(
        c.send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'b') + "\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.status, 431);
    EXPECT_TRUE(ends_with_clean_close(c));
}

TEST(HttpLimits, LargePostAnsweredEarlyIsReadInFullNotReset)
{
    auto o = fixture::defaults();
    o.max_body_bytes = 64 * 1024;
    fixture f(o);
    auto c = connect(f.port);
    // The whole body goes out although the server answered 413 after the header.
    read_result r;
    ASSERT_TRUE(post_large_body(c, 512 * 1024, r));
    EXPECT_EQ(r.response.status, 413);
    EXPECT_TRUE(r.response.is_connection_close());
    EXPECT_EQ(f.entered.load(), 0);
}

TEST(HttpLimits, LargePostAnsweredEarlyWith401IsReadInFullNotReset)
{
    auto o = fixture::defaults();
    o.admit = [](const bhttp::request_header<>& h) {
        return h.count(bhttp::field::authorization) == 0 ? bhttp::status::unauthorized
                                                         : bhttp::status::unknown;
    };
    fixture f(o);
    auto c = connect(f.port);
    read_result r;
    ASSERT_TRUE(post_large_body(c, 512 * 1024, r));
    EXPECT_EQ(r.response.status, 401);
    EXPECT_TRUE(r.response.is_connection_close());
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_EQ(f.entered.load(), 0) << "the handler never saw it";
}

TEST(HttpLimits, ConnectionBeyondMaxGets503)
{
    auto o = fixture::defaults();
    o.max_connections = 1;
    fixture f(o);
    auto first = connect(f.port);
    ASSERT_FALSE(first.send(get_a));
    ASSERT_TRUE(first.read_response().is_complete());
    auto second = connect(f.port);
    auto r = second.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.status, 503);
    EXPECT_EQ(f.server->stats().connections_rejected, 1U);
}

} // namespace
