// SPDX-License-Identifier: MIT
// A connection's deadlines share one timer, armed lazily: a later deadline leaves a pending
// earlier wait in place (it waits again when it ends), an earlier one starts a new wait.
// Deadline: the class alone, on an io_context. HttpDeadline: the two ways that can go wrong
// in a connection, on a real loopback socket: cutting a connection at a deadline that was
// replaced by a later one, and missing an earlier deadline behind a later wait.
#include "http/connection.hpp"
#include "http/deadline.hpp"
#include "http/socket_traits.hpp"
#include "unit/http/test_requests.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;
using baton::http::test::count;
using baton::http::test::get_a;
using baton::http::test::get_b;
using conn = baton::http::detail::connection<tcp::socket>;

/// What a deadline is held by: counts the times it was told.
struct owner : std::enable_shared_from_this<owner> {
    explicit owner(asio::io_context& ioc)
        : ioc_(ioc)
        , d(*this)
    {}

    asio::io_context::executor_type get_executor() noexcept { return ioc_.get_executor(); }

    void on_deadline() noexcept
    {
        ++told;
        told_at = clock_type::now();
    }

    asio::io_context& ioc_;
    baton::http::detail::deadline<owner> d;
    int told = 0;
    clock_type::time_point told_at{};
};

TEST(Deadline, TellsTheOwnerOnceWhenTheArmedDeadlinePasses)
{
    asio::io_context ioc;
    auto o = std::make_shared<owner>(ioc);
    auto due = clock_type::now() + 20ms;
    o->d.arm(due);
    ioc.run_for(5s); // ends once the wait is done: nothing else is pending
    EXPECT_EQ(o->told, 1);
    EXPECT_GE(o->told_at, due);
    EXPECT_TRUE(o->d.take_expired());
    EXPECT_FALSE(o->d.take_expired()) << "taken once";
    EXPECT_EQ(o->d.due(), clock_type::time_point::max()) << "taking disarms";
}

TEST(Deadline, DisarmedDeadlineNeverTellsTheOwner)
{
    asio::io_context ioc;
    auto o = std::make_shared<owner>(ioc);
    o->d.arm(clock_type::now() + 20ms);
    o->d.disarm();
    ioc.run_for(5s);
    EXPECT_EQ(o->told, 0);
    EXPECT_FALSE(o->d.take_expired());
    EXPECT_EQ(o->d.wait_end(), clock_type::time_point::max()) << "the wait ended";
}

TEST(Deadline, LaterDeadlineKeepsThePendingWait)
{
    asio::io_context ioc;
    auto o = std::make_shared<owner>(ioc);
    auto first = clock_type::now() + 20ms;
    o->d.arm(first);
    auto later = first + 60ms;
    o->d.arm(later);
    EXPECT_EQ(o->d.wait_end(), first) << "no new wait for a later deadline";
    EXPECT_EQ(o->d.due(), later);
    ioc.run_for(5s);
    EXPECT_EQ(o->told, 1);
    EXPECT_GE(o->told_at, later) << "the first wait's end is not the deadline";
}

TEST(Deadline, EarlierDeadlineStartsANewWait)
{
    asio::io_context ioc;
    auto o = std::make_shared<owner>(ioc);
    auto start = clock_type::now();
    o->d.arm(start + 10s);
    auto earlier = start + 20ms;
    o->d.arm(earlier);
    EXPECT_EQ(o->d.wait_end(), earlier);
    ioc.run_for(5s);
    EXPECT_EQ(o->told, 1);
    EXPECT_GE(o->told_at, earlier);
    EXPECT_LT(o->told_at, start + 5s) << "not at the replaced wait's end";
}

TEST(Deadline, ArmingAgainClearsTheExpiredFlag)
{
    asio::io_context ioc;
    auto o = std::make_shared<owner>(ioc);
    o->d.arm(clock_type::now() + 10ms);
    ioc.run_for(5s);
    ASSERT_EQ(o->told, 1);
    o->d.arm(clock_type::now() + 1h);
    EXPECT_FALSE(o->d.take_expired());
}

TEST(Deadline, OwnerGoneBeforeTheDeadlineIsNeverTold)
{
    asio::io_context ioc;
    {
        auto o = std::make_shared<owner>(ioc);
        o->d.arm(clock_type::now() + 10ms);
    } // the timer goes with its owner: the pending wait ends aborted
    EXPECT_EQ(ioc.run_for(5s), 1U) << "the aborted wait's handler ran and touched nothing";
}

/// One server connection and its client on loopback, both on one io_context; the client
/// records what it reads and when the server closed.
class loopback_pair {
public:
    explicit loopback_pair(baton::http::options o)
        : state_(std::move(o), baton::http::detail::make_handlers(
                                   [](const baton::http::request& req,
                                      baton::http::response_writer& w) -> asio::awaitable<void> {
                                       w.write(std::string(req.target()));
                                       co_return;
                                   }))
        , acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0))
        , client_(ioc_)
    {
        client_.connect(acceptor_.local_endpoint());
        tcp::socket server_side(ioc_);
        acceptor_.accept(server_side);
        EXPECT_TRUE(state_.claim_connection());
        conn::start(std::make_shared<conn>(state_, std::move(server_side), nullptr));
        read_until_eof();
    }

    /// Write `data` from the client `after` from now.
    void send_after(std::chrono::milliseconds after, std::string_view data)
    {
        auto t = std::make_shared<asio::steady_timer>(ioc_, after);
        t->async_wait([this, t, data](const boost::system::error_code& ec) {
            if (!ec)
                asio::write(client_, asio::buffer(data));
        });
    }

    /// Run until the server closed the connection (at most 10 s), then close the client and
    /// let the server's staged close end (at most 5 s more).
    void run()
    {
        ioc_.run_for(10s);
        boost::system::error_code ignored;
        client_.close(ignored);
        ioc_.restart();
        ioc_.run_for(5s);
    }

    const std::string& received() const { return received_; }

    /// From construction to the server's close (zero if it never closed).
    clock_type::duration closed_after() const { return closed_at_ - started_; }

    /// From construction to the end of the last response read.
    clock_type::duration last_read_after() const { return last_read_at_ - started_; }

    std::size_t live_connections() const { return state_.live_connections(); }

private:
    void read_until_eof()
    {
        client_.async_read_some(asio::buffer(chunk_),
                                [this](const boost::system::error_code& ec, std::size_t n) {
                                    if (ec) {
                                        closed_at_ = clock_type::now();
                                        ioc_.stop();
                                        return;
                                    }
                                    received_.append(chunk_.data(), n);
                                    last_read_at_ = clock_type::now();
                                    read_until_eof();
                                });
    }

    baton::http::detail::server_state state_; // outlives the loop and the connection on it
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    tcp::socket client_;
    std::array<char, 4096> chunk_{};
    std::string received_;
    clock_type::time_point started_ = clock_type::now();
    clock_type::time_point closed_at_{};
    clock_type::time_point last_read_at_{};
};

baton::http::options quiet_options()
{
    baton::http::options o;
    o.on_error = [](const boost::system::error_code&, std::string_view) {};
    o.keep_alive_hint = 0s;
    return o;
}

TEST(HttpDeadline, LaterDeadlineIsNotCutByTheEarlierPendingWait)
{
    // The first wait is the header deadline (accept + 300 ms); the idle deadline armed after
    // the response is 2.5 s away. The connection must outlive the 300 ms, serve a request
    // sent at 700 ms, and close at its own idle deadline (2.5 s after that response).
    auto o = quiet_options();
    o.header_timeout = 300ms;
    o.idle_timeout = 2'500ms;
    loopback_pair p(o);
    p.send_after(0ms, get_a);
    p.send_after(700ms, get_b);
    p.run();
    EXPECT_EQ(count(p.received(), "HTTP/1.1 200 OK\r\n"), 2U) << p.received();
    EXPECT_NE(p.received().find("/b"), std::string::npos) << p.received();
    ASSERT_GT(p.closed_after(), clock_type::duration::zero()) << "the idle timeout must close it";
    EXPECT_GE(p.closed_after() - p.last_read_after(), 2'000ms);
    EXPECT_EQ(p.live_connections(), 0U);
}

TEST(HttpDeadline, EarlierDeadlineBehindALaterWaitFiresOnTime)
{
    // The first wait (the header deadline, accept + 400 ms) ends while the connection is
    // idle: it then waits for the idle deadline, 5 s away. A request whose header starts at
    // 1 s and never ends has a 1.4 s header deadline, earlier than that wait: the 408 must
    // come near 1.4 s, not at the idle wait's end.
    auto o = quiet_options();
    o.header_timeout = 400ms;
    o.idle_timeout = 5s;
    loopback_pair p(o);
    p.send_after(0ms, get_a);
    p.send_after(1'000ms, "GET /slow HTTP/1.1\r\nHost: x\r\n");
    p.run();
    EXPECT_EQ(count(p.received(), "HTTP/1.1 200 OK\r\n"), 1U) << p.received();
    EXPECT_NE(p.received().find("HTTP/1.1 408 "), std::string::npos) << p.received();
    ASSERT_GT(p.closed_after(), clock_type::duration::zero());
    EXPECT_GE(p.last_read_after(), 1'300ms);
    EXPECT_LT(p.last_read_after(), 3s) << "the header deadline, not the idle one";
    EXPECT_EQ(p.live_connections(), 0U);
}

} // namespace
