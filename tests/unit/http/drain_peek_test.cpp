// SPDX-License-Identifier: MIT
// The last check of step 4 (docs/design.md §3): when the drain grace of an idle connection ends,
// the server peeks before it closes, and a request already queued is served, not dropped.
//
// The race it closes is a window of microseconds on a real socket (the grace timer cancels
// the read, then the request arrives), too small to hit by timing. This test makes it
// certain: the connection runs over a real loopback TCP socket whose stream_traits::cancel
// writes the client's next request right after cancelling the read, so the read fails with
// operation_aborted and the request is already in the socket's receive queue when the
// connection decides whether to close.
#include "http/connection.hpp"
#include "http/socket_traits.hpp"
#include "unit/http/test_requests.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using baton::http::test::count;
using baton::http::test::get_a;
using baton::http::test::get_b;

/// A TCP socket that runs `after_cancel` once, right after its pending operations are
/// cancelled.
struct racing_socket : tcp::socket {
    using tcp::socket::basic_stream_socket;
    std::function<void()> after_cancel;
};

} // namespace

namespace baton::http::detail {

template <>
struct stream_traits<racing_socket> : stream_traits<tcp::socket> {
    static void cancel(racing_socket& s) noexcept
    {
        stream_traits<tcp::socket>::cancel(s);
        if (auto f = std::exchange(s.after_cancel, nullptr))
            f();
    }
};

} // namespace baton::http::detail

namespace {

using conn = baton::http::detail::connection<racing_socket>;

TEST(HttpDrainPeek, ServesRequestQueuedWhenTheGraceEndsInsteadOfClosing)
{
    asio::io_context ioc;
    baton::http::options o;
    o.drain_grace = 20ms;
    o.idle_timeout = 60s;
    o.header_timeout = 60s;
    o.on_error = [](const boost::system::error_code&, std::string_view) {};
    baton::http::detail::server_state state(
        o, baton::http::detail::make_handlers(
               [](const baton::http::request& req,
                  baton::http::response_writer& w) -> asio::awaitable<void> {
                   w.write(std::string(req.target()));
                   co_return;
               }));
    baton::http::detail::registry registry;

    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket client(ioc);
    client.connect(acceptor.local_endpoint());
    racing_socket server_side(ioc);
    acceptor.accept(server_side);
    // The first cancel is the drain grace's (idle and header timeouts are a minute away):
    // the client's next request lands right behind it.
    server_side.after_cancel = [&] { asio::write(client, asio::buffer(get_b)); };

    ASSERT_TRUE(state.claim_connection());
    conn::start(std::make_shared<conn>(state, std::move(server_side), &registry));
    asio::write(client, asio::buffer(get_a));

    // Drain once the first request is served and the connection idles (checked every 5 ms
    // on the loop, bounded by run_for below), the way server::shutdown posts it.
    asio::steady_timer t(ioc);
    std::function<void()> drain_when_idle = [&] {
        t.expires_after(5ms);
        t.async_wait([&](const boost::system::error_code& ec) {
            if (ec)
                return;
            if (state.counters.requests_served.load() == 0) {
                drain_when_idle();
                return;
            }
            state.begin_drain();
            for (auto& c : registry)
                c.drain();
        });
    };
    drain_when_idle();
    ioc.run_for(5s);

    EXPECT_EQ(state.live_connections(), 0U) << "the connection must end";
    std::string out;
    boost::system::error_code ec;
    asio::read(client, asio::dynamic_buffer(out), ec); // to the server's FIN
    EXPECT_EQ(ec, asio::error::eof);
    EXPECT_EQ(count(out, "HTTP/1.1 200 OK\r\n"), 2U) << out;
    EXPECT_NE(out.find("/b"), std::string::npos) << out;
    EXPECT_EQ(count(out, "Connection: close\r\n"), 1U) << out;
    EXPECT_GT(out.find("Connection: close\r\n"), out.rfind("HTTP/1.1 200 OK")) << out;
    EXPECT_EQ(state.counters.requests_served.load(), 2U);
    EXPECT_EQ(state.counters.requests_served_in_grace.load(), 1U);
    EXPECT_EQ(state.counters.connections_closed_by_drain.load(), 0U);
}

} // namespace
