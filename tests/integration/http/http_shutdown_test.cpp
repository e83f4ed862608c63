// SPDX-License-Identifier: MIT
// baton::http::server on loopback: the graceful shutdown cases of issue 5, the limits that
// need real sockets (408, 431, 503, an early 413 read in full) and a shared listener.
#include "support/child_process.hpp"
#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <baton/http/serve.hpp>
#include <baton/http/server.hpp>
#include <baton/http/sleep.hpp>

#include <boost/beast/http/field.hpp>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;
using baton::http::request;
using baton::http::response_writer;
using clock_type = std::chrono::steady_clock;
using namespace baton::test;

/// A connection to the server under test, spoken to in raw HTTP/1.x.
raw_connection connect(std::uint16_t port)
{
    return raw_connection(connect_tcp(ip_family::v4, port));
}

/** POST a body of `size` bytes: the header, then the whole body (however early the server
    answers), then read the response. */
::testing::AssertionResult post_large_body(raw_connection& c, std::size_t size, read_result& r)
{
    if (auto ec = c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                         std::to_string(size) + "\r\n\r\n"))
        return ::testing::AssertionFailure() << "header not sent: " << ec.message();
    if (auto ec = c.send(std::string(size, 'p')))
        return ::testing::AssertionFailure() << "body not sent: " << ec.message();
    r = c.read_response();
    if (!r.is_complete())
        return ::testing::AssertionFailure() << r.outcome << ' ' << r.detail;
    return ::testing::AssertionSuccess();
}

/// The server closed with a FIN and sent nothing more: no reset, no stray bytes.
::testing::AssertionResult ends_with_clean_close(raw_connection& c)
{
    auto eof = c.read_until_eof();
    if (eof.outcome != read_outcome::closed)
        return ::testing::AssertionFailure() << "ended " << eof.outcome;
    if (!eof.data.empty())
        return ::testing::AssertionFailure() << "extra bytes: " << eof.data;
    return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------------
// The server under test, with the seed's handlers.

struct fixture {
    baton::http::options opts;
    std::atomic<int> entered{0};
    std::atomic<int> flushed{0};
    std::atomic<bool> has_shutdown_begun{false};
    std::optional<baton::http::server> server;
    std::uint16_t port = 0;

    explicit fixture(baton::http::options o = defaults())
        : opts(std::move(o))
    {
        server.emplace(opts,
                       [this](const request& req, response_writer& w) -> asio::awaitable<void> {
                           return handle(req, w);
                       });
        server->listen("127.0.0.1", 0);
        port = server->local_ports().at(0);
        server->on_shutdown([this] { has_shutdown_begun = true; });
        server->start();
    }

    static baton::http::options defaults()
    {
        baton::http::options o;
        o.threads = 2;
        o.drain_grace = 1s;
        o.on_error = [](const boost::system::error_code&, std::string_view) {};
        return o;
    }

    asio::awaitable<void> handle(const request& req, response_writer& w)
    {
        entered.fetch_add(1);
        auto target = std::string(req.target());
        if (target == "/slow") {
            co_await baton::http::sleep_for(300ms);
            w.write("slow done");
        } else if (target == "/stuck") {
            co_await baton::http::sleep_for(30s);
        } else if (target == "/hello") {
            w.write("Hello, ");
            co_await w.flush();
            flushed.fetch_add(1);
            co_await baton::http::sleep_for(100ms);
            w.write("world!\n");
        } else {
            w.write("ok " + target);
        }
    }

    /// shutdown() on another thread, as a signal handler thread would.
    std::future<boost::system::error_code> shutdown_async(std::chrono::milliseconds timeout = 10s)
    {
        auto f =
            std::async(std::launch::async, [this, timeout] { return server->shutdown(timeout); });
        EXPECT_TRUE(wait_until([&] { return has_shutdown_begun.load(); }, 5s));
        return f;
    }
};

constexpr std::string_view get_a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";

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

TEST(HttpShutdown, OtherProcessHoldingListeningSocketStillAcceptsAfterDrain)
{
    // The listening socket is shared: this server gets a copy, the fixture worker (the next
    // generation) another. The server's drain must close() its copy, never shutdown(2) it.
    const tcp_listener listener = listen_tcp();
    baton::http::server s(fixture::defaults(),
                          [](const request&, response_writer& w) -> asio::awaitable<void> {
                              w.write("gen1");
                              co_return;
                          });
    s.add_listener(::fcntl(listener.fd.get(), F_DUPFD_CLOEXEC, 0));
    s.start();
    {
        auto c = connect(listener.port);
        ASSERT_FALSE(c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.body, "gen1");
    }
    // The next generation holds the socket through the drain, accepting only after it.
    child_options next;
    next.argv = {fixture_program("echo_pid_worker").string(), "--ready-delay-ms", "300"};
    next.env = {{"SERVER_STARTER_PORT", listener.key() + "=" + std::to_string(listener.fd.get())},
                {"SERVER_STARTER_GENERATION", "2"},
                {"NOTIFY_SOCKET", std::nullopt},
                {"LISTEN_FDS", std::nullopt},
                {"LISTEN_PID", std::nullopt}};
    next.inherit_fds = {listener.fd.get()};
    child_process worker(std::move(next));
    EXPECT_FALSE(s.shutdown(10s));
    s.join();

    auto result = exchange(connect_tcp(ip_family::v4, listener.port),
                           make_get_request("/", "Connection: close\r\n"));
    ASSERT_TRUE(result.is_complete()) << result.outcome << ' ' << result.detail << worker.output();
    EXPECT_EQ(result.response.body, std::to_string(worker.pid()) + " 2\n");
}

// ---------------------------------------------------------------------------------------------
// Limits that need real sockets

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

// ---------------------------------------------------------------------------------------------
// One acceptor per process, connections spread over the loops

/// A server whose handler answers with the id of the event-loop thread that serves it.
struct thread_id_server {
    std::mutex m;
    std::set<std::thread::id> seen;
    baton::http::server server;
    std::uint16_t port = 0;

    explicit thread_id_server(baton::http::options o, bool is_started = true)
        : server(o, [this](const request&, response_writer& w) -> asio::awaitable<void> {
            std::ostringstream id;
            id << std::this_thread::get_id();
            {
                std::lock_guard lock(m);
                seen.insert(std::this_thread::get_id());
            }
            w.write(id.str());
            co_return;
        })
    {
        server.listen("127.0.0.1", 0);
        port = server.local_ports().at(0);
        if (is_started)
            server.start();
    }
};

TEST(HttpAccept, ConnectionsAreSpreadOverEveryLoopInTurn)
{
    auto o = fixture::defaults();
    o.threads = 3;
    thread_id_server s(o);
    // One connection after the other (each answered before the next connects): taken in
    // turn, six connections land two on each of the three loops.
    std::vector<raw_connection> held;
    std::vector<std::string> loop_of; // the loop that served each connection's first request
    std::map<std::string, int> per_loop;
    for (int i = 0; i < 6; ++i) {
        auto& c = held.emplace_back(connect(s.port));
        ASSERT_FALSE(c.send(get_a));
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        loop_of.push_back(r.response.body);
        ++per_loop[r.response.body];
    }
    ASSERT_EQ(per_loop.size(), 3U);
    for (const auto& [id, n] : per_loop)
        EXPECT_EQ(n, 2) << "loop " << id;
    for (std::size_t i = 0; i < 3; ++i) // in turn: the fourth lands where the first did
        EXPECT_EQ(loop_of[i], loop_of[i + 3]) << "connection " << i;
    // each connection stays on its own loop
    for (std::size_t i = 0; i < held.size(); ++i) {
        ASSERT_FALSE(held[i].send(get_a));
        auto r = held[i].read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.body, loop_of[i]) << "connection " << i;
    }
}

// defer_accept sets TCP_DEFER_ACCEPT on the listener it is given (inherited ones included)
// for header_timeout, and the connections it then gets are served as any other; without it
// the listener is left as it was.
TEST(HttpAccept, DeferAcceptSetsTheSharedListenerAndServesItsConnections)
{
    auto read_defer = [](int fd) {
        int secs = -1;
        socklen_t len = sizeof secs;
        EXPECT_EQ(::getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, &len), 0);
        return secs;
    };
    const tcp_listener plain = listen_tcp();
    {
        baton::http::server s(
            fixture::defaults(),
            [](const request&, response_writer&) -> asio::awaitable<void> { co_return; });
        s.add_listener(::fcntl(plain.fd.get(), F_DUPFD_CLOEXEC, 0));
        EXPECT_EQ(read_defer(plain.fd.get()), 0);
    }

    const tcp_listener listener = listen_tcp();
    auto o = fixture::defaults();
    o.defer_accept = true;
    o.header_timeout = 5s;
    baton::http::server s(o, [](const request& req, response_writer& w) -> asio::awaitable<void> {
        w.write("deferred " + std::string(req.target()));
        co_return;
    });
    s.add_listener(::fcntl(listener.fd.get(), F_DUPFD_CLOEXEC, 0));
    // The kernel keeps it as SYN-ACK retransmissions, read back rounded up: at least 5 s.
    EXPECT_GE(read_defer(listener.fd.get()), 5); // on the socket the "starter" still holds
    s.start();
    for (std::string_view req : {"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", "GET /2 HTTP/1.0\r\n\r\n"}) {
        auto c = connect(listener.port);
        ASSERT_FALSE(c.send(req));
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.body, "deferred " + std::string(req.substr(4, 2)));
    }
}

TEST(HttpAccept, TheProcessHoldsOneCopyOfEachListenerWhateverItsLoops)
{
    auto o = fixture::defaults();
    o.threads = 4;
    thread_id_server s(o);
    auto sockets = listening_sockets(::getpid());
    auto n = std::count_if(sockets.begin(), sockets.end(),
                           [&](const held_socket& h) { return h.port == s.port; });
    EXPECT_EQ(n, 1) << "one accepting loop, no copy per loop";
}

TEST(HttpAccept, ABurstLargerThanOneAcceptBatchIsServedWhole)
{
    // More connections than one batch of accepts (64), all queued by the kernel before the
    // server starts: the acceptor goes through several batches (which a client cannot see)
    // and every connection is served, on both loops.
    auto o = fixture::defaults();
    o.threads = 2;
    thread_id_server s(o, false);
    constexpr int burst = 300; // under the listen backlog (SOMAXCONN)
    std::vector<raw_connection> conns;
    conns.reserve(burst);
    for (int i = 0; i < burst; ++i) {
        conns.emplace_back(connect(s.port));
        ASSERT_FALSE(conns.back().send(get_a));
    }
    s.server.start();
    for (auto& c : conns) {
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.status, 200);
    }
    {
        std::lock_guard lock(s.m);
        EXPECT_EQ(s.seen.size(), 2U);
    }
    EXPECT_TRUE(wait_until([&] { return s.server.stats().requests_served == burst; }, 5s));
}

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

TEST(HttpServer, ServesInheritedUnixListenerAndDrains)
{
    const temp_dir dir;
    const unique_fd listener = listen_unix(dir / "app.sock");
    baton::http::server s(fixture::defaults(),
                          [](const request& req, response_writer& w) -> asio::awaitable<void> {
                              w.write("unix " + std::string(req.target()));
                              co_return;
                          });
    s.add_listener(::fcntl(listener.get(), F_DUPFD_CLOEXEC, 0));
    s.start();
    raw_connection c(connect_unix(dir / "app.sock"));
    ASSERT_FALSE(c.send(get_a));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.body, "unix /a");
    auto done = std::async(std::launch::async, [&] { return s.shutdown(10s); });
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_FALSE(done.get());
}

TEST(HttpServer, RefusesSocketThatIsNotAListener)
{
    baton::http::server s(
        fixture::defaults(),
        [](const request&, response_writer&) -> asio::awaitable<void> { co_return; });
    const unique_fd datagram(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    boost::system::error_code ec;
    s.add_listener(datagram.get(), ec);
    EXPECT_EQ(ec, baton::http::errc::unsupported_listener);
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

TEST(HttpServe, ReportsReadyThenDrainsOnSigterm)
{
    baton::http::server s(fixture::defaults(),
                          [](const request&, response_writer& w) -> asio::awaitable<void> {
                              w.write("served");
                              co_return;
                          });
    s.listen("127.0.0.1", 0);
    std::atomic<bool> is_ready{false};
    std::atomic<bool> is_stopping{false};
    std::atomic<bool> has_returned{false};
    baton::http::serve_options o;
    o.drain_timeout = 5s;
    o.on_ready = [&] { is_ready = true; };
    o.on_stopping = [&] { is_stopping = true; };
    boost::system::error_code result = baton::http::errc::not_started;
    std::thread runner([&] {
        result = baton::http::serve_until_signal(s, o);
        has_returned = true;
    });
    ASSERT_TRUE(wait_until([&] { return is_ready.load(); }, 5s));
    {
        auto c = connect(s.local_ports().at(0));
        ASSERT_FALSE(c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.body, "served");
    }
    EXPECT_FALSE(has_returned.load());
    // SIGTERM to the thread that waits for it (the test's other threads do not block it).
    ASSERT_EQ(pthread_kill(runner.native_handle(), SIGTERM), 0);
    EXPECT_TRUE(wait_until([&] { return has_returned.load(); }, 5s));
    runner.join();
    EXPECT_TRUE(is_stopping.load());
    EXPECT_FALSE(result) << result.message();
}

class HttpHelloWorker : public testing::TestWithParam<const char*> {};

TEST_P(HttpHelloWorker, ServesInheritedSocketReportsReadyAndDrainsOnSigterm)
{
    const std::string program = GetParam();
    if (!std::filesystem::exists(bin_dir() / program))
        GTEST_SKIP() << "examples not built (BATON_BUILD_EXAMPLES=OFF)";
    const tcp_listener listener = listen_tcp();
    const std::string notify_address = unique_abstract_name();
    const unique_fd notify = bind_unix_datagram(notify_address);
    child_options o;
    o.argv = {fixture_program(program).string()};
    if (program == "hello_blocking")
        o.argv.insert(o.argv.end(), {"--workers", "8"}); // 1000 threads are slow under TSan
    o.env = {{"SERVER_STARTER_PORT", listener.key() + "=" + std::to_string(listener.fd.get())},
             {"NOTIFY_SOCKET", notify_address},
             {"LISTEN_FDS", std::nullopt},
             {"LISTEN_PID", std::nullopt}};
    o.inherit_fds = {listener.fd.get()};
    child_process hello(std::move(o));

    std::string message;
    ASSERT_TRUE(receive_datagram(notify.get(), message, 20s)) << hello.output();
    EXPECT_EQ(message, "READY=1");
    auto c = connect(listener.port);
    ASSERT_FALSE(c.send(get_a));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.framing,
              program == "hello" ? body_framing::chunked : body_framing::content_length);
    EXPECT_EQ(r.response.body, "Hello, baton!\n");
    EXPECT_FALSE(r.response.is_connection_close());

    // The keep-alive connection stays idle through the drain: closed after the grace, cleanly.
    ASSERT_TRUE(hello.signal(SIGTERM));
    ASSERT_TRUE(receive_datagram(notify.get(), message));
    EXPECT_EQ(message, "STOPPING=1");
    // A second SIGTERM during the drain (the idle connection holds it for drain_grace) is
    // not a force: no thread of the worker may take it with the default action.
    ASSERT_TRUE(hello.signal(SIGTERM));
    EXPECT_TRUE(ends_with_clean_close(c));
    auto status = hello.wait_for_exit(5s);
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
}

INSTANTIATE_TEST_SUITE_P(Examples, HttpHelloWorker, testing::Values("hello", "hello_blocking"),
                         [](const testing::TestParamInfo<const char*>& p) {
                             return std::string(p.param);
                         });

} // namespace
