// SPDX-License-Identifier: MIT
// baton::http::server on loopback: responses larger than the socket buffer, HTTP/1.0
// close-delimited bodies, and blocking handlers on the worker pool.
#include "integration/http/http_server_fixture.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace baton::test;

TEST(HttpWrite, ResponsesLargerThanTheSocketBufferArriveWholeAndTheConnectionStaysUsable)
{
    // A response is written at once as far as the socket's send buffer takes it (loopback
    // autotunes it to 4 MiB at most), the rest asynchronously; the connection's response
    // buffer is given back after a large one. Every byte must arrive, in order, and the next
    // (small) request on the same connection must be answered.
    constexpr std::size_t big_size = 8 * 1024 * 1024;
    auto o = fixture::defaults();
    baton::http::server s(o, [](const request& req, response_writer& w) -> asio::awaitable<void> {
        auto target = std::string(req.target());
        if (target == "/big") {
            std::string body(big_size, '\0');
            for (std::size_t i = 0; i < body.size(); ++i)
                body[i] = static_cast<char>('a' + i % 26);
            w.write(body);
        } else if (target == "/big-flushed") {
            w.write(std::string(big_size / 2, 'f'));
            co_await w.flush(); // a chunk larger than the send buffer, then the last one
            w.write(std::string(big_size / 4, 'g'));
        } else {
            w.write("small");
        }
        co_return;
    });
    s.listen("127.0.0.1", 0);
    s.start();
    auto c = connect(s.local_ports().at(0));

    ASSERT_FALSE(c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto big = c.read_response(20s);
    ASSERT_TRUE(big.is_complete()) << big.outcome << ' ' << big.detail;
    ASSERT_EQ(big.response.body.size(), big_size);
    bool is_in_order = true;
    for (std::size_t i = 0; i < big.response.body.size() && is_in_order; ++i)
        is_in_order = big.response.body[i] == static_cast<char>('a' + i % 26);
    EXPECT_TRUE(is_in_order);
    EXPECT_EQ(big.response.header("Content-Length"), std::to_string(big_size));

    ASSERT_FALSE(c.send("GET /big-flushed HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto flushed = c.read_response(20s);
    ASSERT_TRUE(flushed.is_complete()) << flushed.outcome << ' ' << flushed.detail;
    EXPECT_TRUE((flushed.response.framing == body_framing::chunked));
    EXPECT_EQ(flushed.response.body,
              std::string(big_size / 2, 'f') + std::string(big_size / 4, 'g'));

    ASSERT_FALSE(c.send(get_a));
    auto small = c.read_response();
    ASSERT_TRUE(small.is_complete()) << small.outcome << ' ' << small.detail;
    EXPECT_EQ(small.response.body, "small");
    EXPECT_FALSE(small.response.is_connection_close());
    EXPECT_TRUE(wait_until([&] { return s.stats().requests_served == 3U; }, 5s));
}

TEST(HttpWrite, SmallResponsesBehindAFullSocketBufferArriveWholeAndInOrder)
{
    // A response with a small body is made in its loop's scratch buffer; when the socket takes
    // only part of it, the rest is copied to the connection and written from there while the
    // scratch serves the next responses. The client sends 3,000 pipelined requests (96 KB, which
    // the server's receive buffer holds) and reads nothing until they are all sent: ~15 MB of
    // answers (a 4 KB field and a 1,000-byte body each), more than loopback's send buffer
    // (at most 4 MB) and the client's receive buffer hold, so the server's writes stop on a
    // full socket again and again. Each body says which request it answers.
    constexpr std::size_t count = 3000;
    const std::string pad(4000, 'p');
    const auto body_for = [](std::string_view target) {
        auto body = std::string(target) + ':';
        body.resize(1000, static_cast<char>('a' + body.size() % 26)); // <= 1 KiB: the scratch
        return body;
    };
    auto o = fixture::defaults();
    baton::http::server s(o, [&](const request& req, response_writer& w) -> asio::awaitable<void> {
        w.set("X-Pad", pad);
        w.write(body_for(req.target()));
        co_return;
    });
    s.listen("127.0.0.1", 0);
    s.start();
    auto c = connect(s.local_ports().at(0));
    std::string requests;
    for (std::size_t i = 0; i < count; ++i)
        requests += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_FALSE(c.send(requests, 30s));
    std::size_t in_order = 0;
    for (std::size_t i = 0; i < count; ++i) {
        auto r = c.read_response(20s);
        ASSERT_TRUE(r.is_complete()) << i << ": " << r.outcome << ' ' << r.detail;
        if (r.response.status == 200 && r.response.body == body_for('/' + std::to_string(i)) &&
            r.response.header("X-Pad") == pad)
            ++in_order;
    }
    EXPECT_EQ(in_order, count);
    EXPECT_TRUE(wait_until([&] { return s.stats().requests_served == count; }, 5s));
}

TEST(HttpServer, SendsFlushedHttp10ResponseCloseDelimited)
{
    fixture f;
    auto c = connect(f.port);
    ASSERT_FALSE(c.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.status, 200);
    EXPECT_FALSE((r.response.framing == body_framing::chunked));
    EXPECT_FALSE(r.response.header("Content-Length"));
    EXPECT_EQ(r.response.body, "Hello, world!\n");
}

TEST(HttpServer, RunsBlockingHandlersConcurrentlyOffTheEventLoop)
{
    auto o = fixture::defaults();
    o.threads = 1;
    o.worker_threads = 8;
    std::atomic<int> running{0};
    std::atomic<int> peak{0};
    baton::http::server s(o, [&](const request&, response_writer& w) {
        int now = running.fetch_add(1) + 1;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        // A blocking handler, as the seed's naive one: wait until 4 run at once (bounded).
        wait_until([&] { return peak.load() >= 4; }, 2s);
        running.fetch_sub(1);
        w.write("blocking");
    });
    s.listen("127.0.0.1", 0);
    s.start();
    std::vector<raw_connection> clients;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(connect(s.local_ports().at(0)));
        ASSERT_FALSE(clients.back().send(get_a));
    }
    for (auto& c : clients) {
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.body, "blocking");
    }
    EXPECT_EQ(peak.load(), 4) << "the four ran at the same time on the pool";
    EXPECT_FALSE(s.shutdown(10s));
}

} // namespace
