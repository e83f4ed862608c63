// SPDX-License-Identifier: MIT
// The connection over beast::test::stream: parsing, pipelining, chunked in and out, 1.0 vs
// 1.1 framing, limits, framing rules, errors driven with test::fail_count, and the drain.
#include "http/connection.hpp"
#include "http/wire.hpp"
#include "unit/http/test_requests.hpp"
#include "unit/http/test_stream_traits.hpp"

#include <baton/http/sleep.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/fail_count.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using namespace std::chrono_literals;
using baton::http::options;
using baton::http::request;
using baton::http::response_writer;
using baton::http::test::count;
using baton::http::test::get_a;
using baton::http::test::get_b;
using conn = baton::http::detail::connection<beast::test::stream>;

/// Runs one connection over a test stream and collects what the client received.
class harness {
public:
    explicit harness(options o = small_limits())
        : state_(std::move(o), baton::http::detail::make_handlers(echo()))
    {}

    template <baton::http::request_handler Handler>
    harness(options o, Handler&& h)
        : state_(std::move(o), baton::http::detail::make_handlers(std::forward<Handler>(h)))
    {}

    static options small_limits()
    {
        options o;
        o.max_header_bytes = 1024;
        o.max_body_bytes = 4096;
        o.header_timeout = o.body_timeout = o.idle_timeout = 2s;
        o.drain_grace = 50ms;
        o.keep_alive_hint = 0s; // the exact-bytes tests leave it out; its own tests set it
        o.date = false;         // ditto (wire_test.cpp tests it)
        o.on_error = [](const boost::system::error_code&, std::string_view) {};
        return o;
    }

    /// The handler every test uses unless it brings its own: echoes method, target and body.
    baton::http::handler echo()
    {
        return [this](const request& req, response_writer& w) -> asio::awaitable<void> {
            calls_.fetch_add(1);
            w.set(bhttp::field::content_type, "text/plain");
            w.write(std::string(req.method_string()) + " " + std::string(req.target()) + " " +
                    req.body());
            co_return;
        };
    }

    /** Feed `input` (then EOF when `is_eof`), `read_size` bytes per read at most, optionally
        failing the Nth stream operation; run until the connection is gone or 5 s passed. */
    std::string exchange(std::string_view input, std::size_t read_size = 0, bool is_eof = true,
                         beast::test::fail_count* fc = nullptr)
    {
        std::optional<beast::test::stream> server_side;
        if (fc != nullptr)
            server_side.emplace(ioc_, *fc);
        else
            server_side.emplace(ioc_);
        beast::test::stream client(ioc_);
        server_side->connect(client);
        if (read_size != 0)
            server_side->read_size(read_size);
        server_side->append(input);
        if (is_eof)
            server_side->close_remote();
        EXPECT_TRUE(state_.claim_connection());
        conn::start(std::make_shared<conn>(state_, std::move(*server_side), &registry_));
        ioc_.run_for(5s);
        ioc_.restart();
        EXPECT_EQ(state_.live_connections(), 0U) << "the connection must end";
        return std::string(client.str());
    }

    int calls() const { return calls_.load(); }

    baton::http::detail::server_state& state() { return state_; }

    asio::io_context& ioc() { return ioc_; }

    baton::http::detail::registry& registry() { return registry_; }

private:
    asio::io_context ioc_;
    std::atomic<int> calls_{0};
    baton::http::detail::registry registry_;
    baton::http::detail::server_state state_;
};

// ---------------------------------------------------------------------------------------------
// Parsing and framing of good requests

TEST(HttpConnection, AnswersGetWithContentLength)
{
    harness h;
    auto out = h.exchange(get_a);
    EXPECT_EQ(out,
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\nGET /a ");
    EXPECT_EQ(h.calls(), 1);
    EXPECT_EQ(h.state().counters.requests_served.load(), 1U);
}

TEST(HttpConnection, AnswersPipelinedRequestsInOrder)
{
    harness h;
    auto out = h.exchange(std::string(get_a) + std::string(get_b) +
                          "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz");
    auto a = out.find("GET /a ");
    auto b = out.find("GET /b ");
    auto c = out.find("POST /c xyz");
    ASSERT_NE(a, std::string::npos);
    ASSERT_NE(b, std::string::npos);
    ASSERT_NE(c, std::string::npos);
    EXPECT_LT(a, b);
    EXPECT_LT(b, c);
    EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 3U);
    EXPECT_EQ(count(out, "Connection: close"), 0U);
}

TEST(HttpConnection, AnswersPipelinedRequestsDeliveredOneByteAtATime)
{
    harness h;
    auto out = h.exchange(std::string(get_a) + std::string(get_b), 1);
    EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 2U);
    EXPECT_EQ(h.calls(), 2);
}

TEST(HttpConnection, ClosesHttp10ConnectionWithoutKeepAlive)
{
    harness h;
    auto out = h.exchange("GET /a HTTP/1.0\r\n\r\n" + std::string(get_b));
    EXPECT_EQ(out.rfind("HTTP/1.0 200 OK\r\n", 0), 0U);
    EXPECT_NE(out.find("Content-Length: 7\r\nConnection: close\r\n"), std::string::npos);
    EXPECT_EQ(h.calls(), 1) << "nothing is read after a closing response";
}

TEST(HttpConnection, KeepsHttp10ConnectionAliveWhenAskedAndLengthKnown)
{
    harness h;
    auto out = h.exchange("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                          "GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_EQ(count(out, "HTTP/1.0 200 OK"), 2U);
    EXPECT_EQ(count(out, "Connection: keep-alive"), 2U);
}

// ---------------------------------------------------------------------------------------------
// The Keep-Alive hint (docs/design.md §3.4)

TEST(HttpKeepAliveHint, DefaultsToOneSecondUnderTheIdleTimeout)
{
    options o;
    EXPECT_EQ(baton::http::detail::keep_alive_hint_seconds(o), 59U);
    o.idle_timeout = 5'500ms;
    EXPECT_EQ(baton::http::detail::keep_alive_hint_seconds(o), 4U);
    o.idle_timeout = 1'999ms; // a 0 s hint would tell the client never to reuse
    EXPECT_EQ(baton::http::detail::keep_alive_hint_seconds(o), 0U);
    o.keep_alive_hint = 7s;
    EXPECT_EQ(baton::http::detail::keep_alive_hint_seconds(o), 7U);
    o.keep_alive_hint = -3s;
    EXPECT_EQ(baton::http::detail::keep_alive_hint_seconds(o), 0U);
}

TEST(HttpKeepAliveHint, RidesOnEveryResponseThatKeepsTheConnection)
{
    auto o = harness::small_limits();
    o.keep_alive_hint = 7s;
    harness h(o, [](const request&, response_writer& w) -> asio::awaitable<void> {
        w.set(bhttp::field::keep_alive, "timeout=600"); // hop-by-hop: the server's own
        w.write("x");
        co_return;
    });
    auto out = h.exchange(std::string(get_a) + std::string(get_b) +
                          "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 3U);
    EXPECT_EQ(count(out, "Keep-Alive: timeout=7\r\n"), 2U) << out;
    EXPECT_EQ(count(out, "Keep-Alive"), 2U)
        << "none on the closing response, none of the handler's";
    EXPECT_EQ(count(out, "Connection: close\r\n"), 1U);
    EXPECT_GT(out.find("Connection: close\r\n"), out.rfind("Keep-Alive: timeout=7"));
}

TEST(HttpKeepAliveHint, RidesOnHttp10KeepAliveAndChunkedResponses)
{
    auto o = harness::small_limits();
    o.keep_alive_hint.reset(); // idle_timeout 2 s: a 1 s hint
    harness h(o, [](const request&, response_writer& w) -> asio::awaitable<void> {
        w.write("Hello, ");
        co_await w.flush();
        w.write("world!\n");
    });
    auto out = h.exchange("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=1\r\n"
                   "\r\n7\r\nHello, \r\n7\r\nworld!\n\r\n0\r\n\r\n");

    harness h10(o);
    out = h10.exchange("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    EXPECT_NE(out.find("Connection: keep-alive\r\nKeep-Alive: timeout=1\r\n\r\n"),
              std::string::npos)
        << out;
}

TEST(HttpKeepAliveHint, IsLeftOutOnceDraining)
{
    auto o = harness::small_limits();
    o.keep_alive_hint = 7s;
    harness h(o);
    h.state().begin_drain();
    auto out = h.exchange(get_a);
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(count(out, "Keep-Alive"), 0U) << out;
}

TEST(HttpConnection, DecodesChunkedRequestBody)
{
    harness h;
    auto out = h.exchange("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n" +
                          std::string(get_b));
    EXPECT_NE(out.find("POST /c abcde"), std::string::npos);
    EXPECT_NE(out.find("GET /b "), std::string::npos);
}

// regress: Beast 1.81 BOOST_ASSERT(n >= 5) on a valid chunked body whose end is split.
TEST(HttpConnection, AcceptsChunkedBodyWhoseEndArrivesSplitAtEveryByte)
{
    const std::string body_first_last =
        "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    const std::string body_one_chunk =
        "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n";
    for (std::size_t read_size = 1; read_size <= 8; ++read_size) {
        harness h;
        auto out = h.exchange(body_first_last + body_one_chunk + std::string(get_b), read_size);
        EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 3U) << "read_size " << read_size;
        EXPECT_NE(out.find("POST /c z"), std::string::npos);
    }
}

TEST(HttpConnection, Sends100ContinueBeforeReadingBody)
{
    harness h;
    auto out = h.exchange("POST /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                          "Content-Length: 2\r\n\r\nhi");
    EXPECT_EQ(out.rfind("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 0), 0U);
    EXPECT_NE(out.find("POST /c hi"), std::string::npos);
}

TEST(HttpConnection, AnswersHeadWithContentLengthAndNoBody)
{
    harness h;
    auto out = h.exchange("HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n" + std::string(get_b));
    EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\n"
                        "HTTP/1.1 200 OK",
                        0),
              0U);
}

TEST(HttpConnection, SendsFlushedHttp11ResponseChunked)
{
    harness h(harness::small_limits(),
              [](const request&, response_writer& w) -> asio::awaitable<void> {
                  w.write("Hello, ");
                  co_await w.flush();
                  co_await baton::http::sleep_for(1ms);
                  w.write("world!\n");
              });
    auto out = h.exchange(std::string(get_a) + std::string(get_b));
    const std::string one = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "7\r\nHello, \r\n7\r\nworld!\n\r\n0\r\n\r\n";
    EXPECT_EQ(out, one + one);
}

TEST(HttpConnection, SendsFlushedHttp10ResponseCloseDelimited)
{
    harness h(harness::small_limits(),
              [](const request&, response_writer& w) -> asio::awaitable<void> {
                  w.write("Hello, ");
                  co_await w.flush();
                  w.write("world!\n");
              });
    auto out = h.exchange("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" +
                          std::string("GET /b HTTP/1.0\r\n\r\n"));
    EXPECT_EQ(out, "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nHello, world!\n");
}

TEST(HttpConnection, OmitsBodyAndLengthFor204)
{
    harness h(harness::small_limits(),
              [](const request&, response_writer& w) -> asio::awaitable<void> {
                  w.status(bhttp::status::no_content);
                  co_return;
              });
    auto out = h.exchange(get_a);
    EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(HttpConnection, AnswersFromHeaderAloneWhenAdmitSaysSoWithout100Continue)
{
    auto o = harness::small_limits();
    o.admit = [](const bhttp::request_header<>& h) {
        return h.target() == "/private" ? bhttp::status::unauthorized : bhttp::status::unknown;
    };
    harness h(o);
    auto out = h.exchange("POST /private HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                          "Content-Length: 3\r\n\r\nabc" +
                          std::string(get_b));
    EXPECT_EQ(out.rfind("HTTP/1.1 401 Unauthorized\r\n", 0), 0U) << out;
    EXPECT_EQ(out.find("100 Continue"), std::string::npos);
    EXPECT_EQ(count(out, "HTTP/1.1"), 1U);
    EXPECT_EQ(h.calls(), 0);
}

TEST(HttpConnection, TurnsHandlerExceptionInto500AndClose)
{
    std::atomic<int> errors{0};
    auto o = harness::small_limits();
    o.on_error = [&](const boost::system::error_code& ec, std::string_view) {
        if (ec == baton::http::errc::handler_exception)
            errors.fetch_add(1);
    };
    harness h(o, [](const request&, response_writer& w) -> asio::awaitable<void> {
        w.write("partial");
        throw std::runtime_error("boom");
        co_return;
    });
    auto out = h.exchange(std::string(get_a) + std::string(get_b));
    EXPECT_EQ(out.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0U);
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(out.find("partial"), std::string::npos);
    EXPECT_EQ(count(out, "HTTP/1.1"), 1U) << "the pipelined request is not served";
    EXPECT_EQ(errors.load(), 1);
}

TEST(HttpConnection, RunsPlainHandlerOnWorkerPoolNotOnEventLoop)
{
    std::thread::id handler_thread;
    auto o = harness::small_limits();
    o.worker_threads = 2;
    harness h(o, [&](const request& req, response_writer& w) {
        handler_thread = std::this_thread::get_id();
        w.write(std::string(req.target()));
    });
    auto out = h.exchange(std::string(get_a) + std::string(get_b));
    EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 2U);
    EXPECT_NE(out.find("Content-Length: 2\r\n\r\n/a"), std::string::npos);
    EXPECT_NE(handler_thread, std::thread::id{});
    EXPECT_NE(handler_thread, std::this_thread::get_id());
}

// ---------------------------------------------------------------------------------------------
// Framing rules (RFC 9112 §6) and limits: the right status, a close, and a request pipelined
// behind the bad one is never served.

struct rejection {
    const char* name;
    std::string request;
    const char* status_line;
};

class HttpRejection : public testing::TestWithParam<rejection> {};

TEST_P(HttpRejection, AnswersWithStatusClosesAndNeverServesPipelinedRequest)
{
    harness h;
    auto out = h.exchange(GetParam().request + std::string(get_b));
    EXPECT_EQ(out.rfind(GetParam().status_line, 0), 0U) << out;
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(count(out, "HTTP/1."), 1U) << out;
    EXPECT_EQ(h.calls(), 0);
    EXPECT_EQ(h.state().counters.requests_rejected.load(), 1U);
}

const std::string post = "POST /p HTTP/1.1\r\nHost: x\r\n";
const std::string chunked = "Transfer-Encoding: chunked\r\n";
constexpr const char* s400 = "HTTP/1.1 400 Bad Request\r\n";
constexpr const char* s413 = "HTTP/1.1 413 Payload Too Large\r\n";
constexpr const char* s431 = "HTTP/1.1 431 Request Header Fields Too Large\r\n";
constexpr const char* s501 = "HTTP/1.1 501 Not Implemented\r\n";
constexpr const char* s505 = "HTTP/1.1 505 HTTP Version Not Supported\r\n";

INSTANTIATE_TEST_SUITE_P(
    Framing, HttpRejection,
    testing::Values(
        rejection{"UnknownCoding", post + "Transfer-Encoding: gzip\r\n\r\nxx", s501},
        rejection{"FinalCodingNotChunked",
                  post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", s501},
        rejection{"ChunkedTwice", post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
                  s400},
        rejection{"ChunkedTwiceInTwoFields", post + chunked + chunked + "\r\n0\r\n\r\n", s400},
        rejection{"EmptyTransferEncoding", post + "Transfer-Encoding: \r\n\r\n", s400},
        rejection{"TransferEncodingWithContentLength",
                  post + chunked + "Content-Length: 5\r\n\r\n0\r\n\r\n", s400},
        rejection{"TransferEncodingOnHttp10", "POST /p HTTP/1.0\r\n" + chunked + "\r\n0\r\n\r\n",
                  s400},
        rejection{"DuplicateContentLength",
                  post + "Content-Length: 2\r\nContent-Length: 2\r\n\r\nxx", s400},
        rejection{"ConflictingContentLength",
                  post + "Content-Length: 2\r\nContent-Length: 3\r\n\r\nxxx", s400},
        rejection{"ContentLengthList", post + "Content-Length: 2, 2\r\n\r\nxx", s400},
        rejection{"EmptyContentLength", post + "Content-Length: \r\n\r\n", s400},
        rejection{"SignedContentLength", post + "Content-Length: +2\r\n\r\nxx", s400},
        rejection{"NegativeContentLength", post + "Content-Length: -1\r\n\r\n", s400},
        rejection{"HexContentLength", post + "Content-Length: 0x2\r\n\r\nxx", s400},
        rejection{"NonHexChunkSize", post + chunked + "\r\nzz\r\nxx\r\n0\r\n\r\n", s400},
        rejection{"OverflowingChunkSize",
                  post + chunked + "\r\n1ffffffffffffffffff\r\nxx\r\n0\r\n\r\n", s400},
        rejection{"ChunkSizeWith0xPrefix", post + chunked + "\r\n0x2\r\nxx\r\n0\r\n\r\n", s400},
        rejection{"EmptyChunkSize", post + chunked + "\r\n\r\nxx\r\n0\r\n\r\n", s400},
        rejection{"MissingChunkDataCrlf", post + chunked + "\r\n2\r\nxxyy\r\n0\r\n\r\n", s400},
        rejection{"Http11WithoutHost", std::string("GET / HTTP/1.1\r\n\r\n"), s400},
        rejection{"Http11WithTwoHosts", std::string("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
                  s400},
        rejection{"ObsoleteLineFolding",
                  std::string("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"), s400},
        rejection{"ObsoleteLineFoldingWithTab",
                  std::string("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n"), s400},
        rejection{"GarbageRequestLine", std::string("HELLO\r\n\r\n"), s400},
        rejection{"Http20", std::string("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), s505},
        rejection{"Http09", std::string("GET / HTTP/0.9\r\n\r\n"), s505},
        rejection{"HeaderOverLimit",
                  "GET / HTTP/1.1\r\nHost: x\r\nX: " + std::string(2000, 'a') + "\r\n\r\n", s431},
        rejection{"ContentLengthOverLimit", post + "Content-Length: 5000\r\n\r\n", s413},
        rejection{"ChunkedBodyOverLimit",
                  post + chunked + "\r\n800\r\n" + std::string(2048, 'a') + "\r\n800\r\n" +
                      std::string(2048, 'a') + "\r\n800\r\n" + std::string(2048, 'a') +
                      "\r\n0\r\n\r\n",
                  s413},
        rejection{"ChunkExtensionsOverLimit",
                  post + chunked + "\r\n" +
                      [] {
                          std::string s;
                          for (int i = 0; i < 40; ++i)
                              s += "1;e=" + std::string(40, 'v') + "\r\nx\r\n";
                          return s;
                      }() +
                      "0\r\n\r\n",
                  s431},
        rejection{"TrailersOverLimit",
                  post + chunked + "\r\n0\r\nX: " + std::string(1100, 't') + "\r\n\r\n", s431}),
    [](const testing::TestParamInfo<rejection>& p) { return p.param.name; });

// ---------------------------------------------------------------------------------------------
// Timeouts, write failures and the drain, without sockets

TEST(HttpConnection, ClosesConnectionWhoseHeaderNeverCompletes)
{
    auto o = harness::small_limits();
    o.header_timeout = 50ms;
    harness h(o);
    auto started = std::chrono::steady_clock::now();
    h.exchange("GET / HTTP/1.1\r\nHos", 0, false);
    EXPECT_EQ(h.calls(), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 4s) << "the watchdog ended it";
}

TEST(HttpConnection, ClosesConnectionWhoseBodyNeverCompletes)
{
    auto o = harness::small_limits();
    o.body_timeout = 50ms;
    harness h(o);
    auto started = std::chrono::steady_clock::now();
    h.exchange("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", 0, false);
    EXPECT_EQ(h.calls(), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 4s) << "the watchdog ended it";
}

TEST(HttpConnection, ClosesIdleKeepAliveConnectionAfterIdleTimeout)
{
    auto o = harness::small_limits();
    o.idle_timeout = 50ms;
    harness h(o);
    auto out = h.exchange(get_a, 0, false);
    EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 1U);
}

TEST(HttpConnection, SurvivesEveryFailingStreamOperation)
{
    // Fail the Nth read or write, N = 0, 1, ... until the exchange succeeds in full.
    const std::string input = "POST /c HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + chunked +
                              "\r\n3\r\nabc\r\n0\r\n\r\n" + std::string(get_b);
    bool is_complete = false;
    std::size_t n = 0;
    for (; n < 200 && !is_complete; ++n) {
        harness h;
        beast::test::fail_count fc(n);
        auto out = h.exchange(input, 7, true, &fc);
        is_complete = count(out, "HTTP/1.1 200 OK") == 2;
        if (!is_complete) {
            EXPECT_LT(h.state().counters.requests_served.load(), 2U);
        }
    }
    EXPECT_TRUE(is_complete);
    EXPECT_GT(n, 3U) << "some operations were failed before the exchange succeeded";
}

TEST(HttpConnection, AbortsResponseWhenFlushFails)
{
    std::atomic<bool> saw_error{false};
    harness h(harness::small_limits(),
              [&](const request&, response_writer& w) -> asio::awaitable<void> {
                  w.write("Hello, ");
                  try {
                      co_await w.flush();
                  } catch (const boost::system::system_error&) {
                      saw_error = true;
                      throw;
                  }
                  w.write("world");
              });
    beast::test::fail_count fc(2); // the 1st operation reads the request, the 2nd flushes
    auto out = h.exchange(get_a, 0, true, &fc);
    EXPECT_TRUE(saw_error.load());
    EXPECT_EQ(h.state().counters.requests_served.load(), 0U);
}

TEST(HttpDrain, AnswersRequestWithConnectionCloseOnceDraining)
{
    harness h;
    h.state().begin_drain();
    auto out = h.exchange(get_a);
    EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0U);
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_EQ(h.state().counters.requests_served_in_grace.load(), 1U);
}

TEST(HttpDrain, AnswersWholePipelinedBatchAndClosesAfterTheLast)
{
    harness h;
    h.state().begin_drain();
    auto out = h.exchange(std::string(get_a) + std::string(get_b) + std::string(get_a));
    EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 3U);
    EXPECT_EQ(count(out, "Connection: close\r\n"), 1U);
    EXPECT_GT(out.find("Connection: close\r\n"), out.rfind("HTTP/1.1 200 OK"));
    EXPECT_EQ(h.state().counters.requests_served_in_grace.load(), 1U);
}

TEST(HttpDrain, NewConnectionKeepsItsHeaderTimeoutNotTheGrace)
{
    auto o = harness::small_limits(); // its client is about to send its first request:
    o.header_timeout = 300ms;         // it is not idle, so not cut at the 50 ms grace
    harness h(o);
    h.state().begin_drain();
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(h.exchange("", 0, false), "");
    EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
    EXPECT_EQ(h.state().counters.connections_closed_by_drain.load(), 0U);
}

TEST(HttpDrain, ShortensIdleWaitOfRegisteredConnectionToGrace)
{
    auto o = harness::small_limits();
    o.idle_timeout = o.header_timeout = 60s;
    harness h(o);
    // Drain from inside the loop as server::shutdown does, once its one request was served.
    asio::steady_timer t(h.ioc());
    std::function<void()> drain_when_idle = [&] {
        t.expires_after(5ms);
        t.async_wait([&](const boost::system::error_code& ec) {
            if (ec)
                return;
            if (h.state().counters.requests_served.load() == 0) {
                drain_when_idle();
                return;
            }
            h.state().begin_drain();
            for (auto& c : h.registry())
                c.drain();
        });
    };
    drain_when_idle();
    auto started = std::chrono::steady_clock::now();
    auto out = h.exchange(get_a, 0, false);
    EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 1U);
    EXPECT_EQ(h.state().counters.connections_closed_by_drain.load(), 1U);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 4s);
}

} // namespace
