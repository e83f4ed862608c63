// SPDX-License-Identifier: MIT
#include "support/child_process.hpp"
#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace baton::test;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------------------------------------
// A one-connection server on a thread, for raw_http: it accepts, reads the request head, then
// runs its script on the connected socket. The test calls `release()` to let a waiting script
// go on; nothing sleeps.

class scripted_server {
public:
    using script = std::function<void(int fd, scripted_server& self)>;

    explicit scripted_server(script s)
        : listener_(listen_tcp())
        , released_future_(released_.get_future().share())
        , thread_([this, s = std::move(s)] { run(s); })
    {}

    scripted_server(const scripted_server&) = delete;
    scripted_server& operator=(const scripted_server&) = delete;

    ~scripted_server()
    {
        release();
        thread_.join();
    }

    std::uint16_t port() const { return listener_.port; }

    /// Let a script blocked in `wait_released()` continue.
    void release()
    {
        if (!is_released_.exchange(true))
            released_.set_value();
    }

    /// For scripts: wait (bounded) until the test calls `release()`.
    void wait_released() const { (void)released_future_.wait_for(30s); }

    /// The request head the server read (complete once the script ran).
    std::string request() const { return request_future_.get(); }

    /// Connect a client to this server.
    raw_connection connect() const { return raw_connection{connect_tcp(ip_family::v4, port())}; }

    static void write_all(int fd, std::string_view bytes)
    {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0)
                return;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    /// Close with RST instead of FIN.
    static void abort_connection(int fd)
    {
        const linger l{1, 0};
        (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }

private:
    void run(const script& s)
    {
        unique_fd fd = accept_connection(listener_.fd.get(), 10s);
        std::string head;
        if (fd) {
            std::array<char, 4096> buffer{};
            const auto deadline = std::chrono::steady_clock::now() + 10s;
            while (head.find("\r\n\r\n") == std::string::npos &&
                   std::chrono::steady_clock::now() < deadline) {
                const ssize_t n = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
                if (n <= 0)
                    break;
                head.append(buffer.data(), static_cast<std::size_t>(n));
            }
        }
        request_promise_.set_value(head);
        if (fd)
            s(fd.get(), *this);
    }

    tcp_listener listener_;
    std::promise<void> released_;
    std::shared_future<void> released_future_;
    std::atomic<bool> is_released_{false};
    std::promise<std::string> request_promise_;
    std::shared_future<std::string> request_future_ = request_promise_.get_future().share();
    std::thread thread_;
};

/// A server that answers the request with `bytes` and closes.
scripted_server::script respond_with(std::string bytes)
{
    return [bytes = std::move(bytes)](int fd, scripted_server&) {
        scripted_server::write_all(fd, bytes);
    };
}

} // namespace

// ---------------------------------------------------------------------------------------------
// raw_http over a real socket

TEST(RawHttp, SendsRequestBytesExactly)
{
    const std::string request = "GET /a%20b HTTP/1.1\r\nHost: x\r\nX-Odd:  two  spaces \r\n\r\n";
    scripted_server server(respond_with("HTTP/1.1 204 No Content\r\n\r\n"));
    raw_connection client = server.connect();

    ASSERT_FALSE(client.send(request));
    const read_result result = client.read_response();

    EXPECT_EQ(server.request(), request);
    EXPECT_EQ(result.outcome, read_outcome::complete) << result.detail;
}

TEST(RawHttp, ParsesContentLengthResponse)
{
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello";
    scripted_server server(respond_with(response));
    raw_connection client = server.connect();
    ASSERT_FALSE(client.send(make_get_request()));

    const read_result result = client.read_response();

    ASSERT_EQ(result.outcome, read_outcome::complete) << result.detail;
    const http_response& r = result.response;
    EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.reason, "OK");
    EXPECT_EQ(r.version_minor, 1);
    EXPECT_EQ(r.framing, body_framing::content_length);
    EXPECT_EQ(r.body, "hello");
    EXPECT_EQ(r.raw, response);
    EXPECT_EQ(r.header_count("X-A"), 2U);
    EXPECT_EQ(r.header("x-A"), "1");
    EXPECT_FALSE(r.is_connection_close());
}

TEST(RawHttp, ParsesChunkedResponseWithExtensionsAndTrailers)
{
    const std::string response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "7\r\nHello, \r\n"
                                 "6;ext=1\r\nworld!\r\n"
                                 "0\r\nX-Trailer: yes\r\n\r\n";
    scripted_server server(respond_with(response));
    raw_connection client = server.connect();
    ASSERT_FALSE(client.send(make_get_request()));

    const read_result result = client.read_response();

    ASSERT_EQ(result.outcome, read_outcome::complete) << result.detail;
    EXPECT_EQ(result.response.framing, body_framing::chunked);
    EXPECT_EQ(result.response.body, "Hello, world!");
    ASSERT_EQ(result.response.trailers.size(), 1U);
    EXPECT_EQ(result.response.trailers[0].name, "X-Trailer");
    EXPECT_EQ(result.response.raw, response);
}

TEST(RawHttp, ParsesCloseDelimitedResponse)
{
    const std::string response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end";
    scripted_server server(respond_with(response));
    raw_connection client = server.connect();
    ASSERT_FALSE(client.send("GET / HTTP/1.0\r\n\r\n"));

    const read_result result = client.read_response();

    ASSERT_EQ(result.outcome, read_outcome::complete) << result.detail;
    EXPECT_EQ(result.response.framing, body_framing::until_close);
    EXPECT_EQ(result.response.body, "until the end");
    EXPECT_TRUE(result.response.is_connection_close());
    EXPECT_EQ(client.read_response().outcome, read_outcome::closed);
}

TEST(RawHttp, ReadsPipelinedResponsesInOrder)
{
    scripted_server server(respond_with("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
                                        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"));
    raw_connection client = server.connect();
    ASSERT_FALSE(client.send(make_get_request() + make_get_request()));

    const read_result first = client.read_response();
    const read_result second = client.read_response();
    const read_result third = client.read_response();

    EXPECT_EQ(first.response.body, "one");
    EXPECT_EQ(second.response.body, "two");
    EXPECT_EQ(third.outcome, read_outcome::closed);
}

TEST(RawHttp, ReportsTruncationWhenPeerClosesMidBody)
{
    scripted_server server(respond_with("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"));
    raw_connection client = server.connect();
    ASSERT_FALSE(client.send(make_get_request()));

    const read_result result = client.read_response();

    EXPECT_EQ(result.outcome, read_outcome::truncated);
    EXPECT_EQ(result.response.raw, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
}

TEST(RawHttp, ReportsCleanCloseWithoutResponse)
{
    scripted_server server(respond_with(""));
    raw_connection client = server.connect();
    ASSERT_FALSE(client.send(make_get_request()));

    EXPECT_EQ(client.read_response().outcome, read_outcome::closed);
}

TEST(RawHttp, ReportsResetWhenPeerAborts)
{
    scripted_server server([](int fd, scripted_server&) { scripted_server::abort_connection(fd); });
    raw_connection client = server.connect();
    ASSERT_FALSE(client.send(make_get_request()));

    const read_result result = client.read_response();

    EXPECT_EQ(result.outcome, read_outcome::reset) << result.detail;
}

TEST(RawHttp, WasResetTellsResetFromCleanClose)
{
    scripted_server aborting(
        [](int fd, scripted_server&) { scripted_server::abort_connection(fd); });
    scripted_server closing(respond_with("bye"));
    raw_connection reset_client = aborting.connect();
    raw_connection closed_client = closing.connect();
    ASSERT_FALSE(reset_client.send(make_get_request()));
    ASSERT_FALSE(closed_client.send(make_get_request()));

    EXPECT_TRUE(reset_client.was_reset());
    const eof_result eof = closed_client.read_until_eof();
    EXPECT_EQ(eof.outcome, read_outcome::closed);
    EXPECT_EQ(eof.data, "bye");
}

TEST(RawHttp, ReportsTimeoutAndKeepsPartialBytes)
{
    scripted_server server([](int fd, scripted_server& self) {
        scripted_server::write_all(fd, "HTTP/1.1 200 OK\r\nContent-Le");
        self.wait_released();
        scripted_server::write_all(fd, "ngth: 2\r\n\r\nok");
    });
    raw_connection client = server.connect();
    ASSERT_FALSE(client.send(make_get_request()));

    const read_result early = client.read_response(100ms);
    server.release();
    const read_result late = client.read_response();

    EXPECT_EQ(early.outcome, read_outcome::timeout);
    EXPECT_EQ(late.outcome, read_outcome::complete) << late.detail;
    EXPECT_EQ(late.response.body, "ok");
}

TEST(RawHttp, InterimContinueIsReadAsItsOwnResponse)
{
    scripted_server server(respond_with("HTTP/1.1 100 Continue\r\n\r\n"
                                        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    raw_connection client = server.connect();
    ASSERT_FALSE(client.send(make_get_request()));

    EXPECT_EQ(client.read_response().response.status, 100);
    EXPECT_EQ(client.read_response().response.status, 200);
}

TEST(RawHttp, HeadResponseHasNoBodyWhateverContentLengthSays)
{
    scripted_server server(respond_with("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"));
    raw_connection client = server.connect();
    ASSERT_FALSE(client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"));

    const read_result result = client.read_response(default_io_timeout, {.is_head_response = true});

    ASSERT_EQ(result.outcome, read_outcome::complete) << result.detail;
    EXPECT_EQ(result.response.framing, body_framing::none);
    EXPECT_TRUE(result.response.body.empty());
}

TEST(RawHttp, ExchangeSendsAndReadsOneResponse)
{
    scripted_server server(respond_with("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"));

    const read_result result = exchange(connect_tcp(ip_family::v4, server.port()),
                                        make_get_request("/", "Connection: close\r\n"));

    EXPECT_EQ(result.response.body, "hi");
}

// ---------------------------------------------------------------------------------------------
// raw_http's parser alone: strictness

namespace {

parse_status parse(std::string_view data, std::string* detail = nullptr, bool is_eof = false)
{
    http_response response;
    std::size_t consumed = 0;
    std::string d;
    const parse_status s = parse_response(data, is_eof, {}, response, consumed, d);
    if (detail != nullptr)
        *detail = d;
    return s;
}

} // namespace

TEST(RawHttpParser, RejectsBareLineFeed)
{
    EXPECT_EQ(parse("HTTP/1.1 200 OK\nContent-Length: 0\n\n"), parse_status::malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n"), parse_status::malformed);
}

TEST(RawHttpParser, RejectsObsoleteLineFolding)
{
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 0\r\n\r\n"),
              parse_status::malformed);
}

TEST(RawHttpParser, RejectsBothContentLengthAndTransferEncoding)
{
    std::string detail;
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                    &detail),
              parse_status::malformed);
    EXPECT_NE(detail.find("both"), std::string::npos) << detail;
}

TEST(RawHttpParser, RejectsInvalidOrRepeatedContentLength)
{
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"), parse_status::malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), parse_status::malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
              parse_status::malformed);
}

TEST(RawHttpParser, RejectsBadStatusLines)
{
    EXPECT_EQ(parse("HTTP/2.0 200 OK\r\n\r\n"), parse_status::malformed);
    EXPECT_EQ(parse("HTTP/1.1 20 OK\r\n\r\n"), parse_status::malformed);
    EXPECT_EQ(parse("HTTP/1.1 200\r\n\r\n"), parse_status::malformed); // SP before reason needed
    EXPECT_EQ(parse("HTTP/1.2 200 OK\r\n\r\n"), parse_status::malformed);
    EXPECT_EQ(parse("hello"), parse_status::malformed); // fails before a whole line arrives
}

TEST(RawHttpParser, AcceptsEmptyReasonPhrase)
{
    EXPECT_EQ(parse("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), parse_status::complete);
}

TEST(RawHttpParser, RejectsBadFieldLines)
{
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"), parse_status::malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nName : x\r\n\r\n"), parse_status::malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n"), parse_status::malformed);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"), parse_status::malformed);
}

TEST(RawHttpParser, RejectsBadChunkFraming)
{
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    EXPECT_EQ(parse(head + "zz\r\n"), parse_status::malformed);
    EXPECT_EQ(parse(head + "3\r\nabcX\r\n"), parse_status::malformed); // no CRLF after data
    EXPECT_EQ(parse(head + "3\nabc\r\n0\r\n\r\n"), parse_status::malformed);
}

TEST(RawHttpParser, NeedsMoreUntilFramingIsSatisfied)
{
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab"), parse_status::need_more);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"),
              parse_status::need_more);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\n\r\nabc"), parse_status::need_more);
    EXPECT_EQ(parse("HTTP/1.1 200 OK\r\n\r\nabc", nullptr, true), parse_status::complete);
}

TEST(RawHttpParser, NoBodyFor204And304)
{
    EXPECT_EQ(parse("HTTP/1.1 204 No Content\r\n\r\n"), parse_status::complete);
    EXPECT_EQ(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
              parse_status::complete);
}
