// SPDX-License-Identifier: MIT
// tls_stream: OpenSSL on a socket's descriptor, over a socketpair, a server stream of a
// listener's tls_context against a client stream (one event loop, no threads).
#include "http/tls.hpp"
#include "http/tls_stream.hpp"
#include "support/loopback.hpp"
#include "support/tls_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using socket_type = asio::local::stream_protocol::socket;
using stream = baton::http::detail::tls_stream<socket_type>;
using baton::http::detail::tls_context;

struct ctx_free {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};

/// A server stream and a client stream on the two ends of a socketpair.
struct tls_pair {
    asio::io_context ioc;
    baton::test::temp_dir dir;
    baton::test::test_certs certs = baton::test::make_test_certs(dir.path());
    std::unique_ptr<tls_context> server_ctx;
    std::unique_ptr<SSL_CTX, ctx_free> client_ctx{SSL_CTX_new(TLS_client_method())};
    std::optional<stream> server;
    std::optional<stream> client;

    explicit tls_pair(int client_sndbuf = 0)
    {
        baton::http::tls_config cfg;
        cfg.cert_chain_file = certs.chain;
        cfg.key_file = certs.key;
        server_ctx = std::make_unique<tls_context>(cfg);
        static constexpr unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
        SSL_CTX_set_alpn_protos(client_ctx.get(), alpn, sizeof alpn);
        socket_type a(ioc);
        socket_type b(ioc);
        asio::local::connect_pair(a, b);
        if (client_sndbuf > 0) {
            // a small buffer on both sides: the server's writes meet a full socket
            ::setsockopt(a.native_handle(), SOL_SOCKET, SO_SNDBUF, &client_sndbuf,
                         sizeof client_sndbuf);
            ::setsockopt(b.native_handle(), SOL_SOCKET, SO_RCVBUF, &client_sndbuf,
                         sizeof client_sndbuf);
        }
        server.emplace(std::move(a), server_ctx->ssl().native_handle());
        client.emplace(std::move(b), client_ctx.get());
    }

    /// Run the loop until it has no work left (bounded).
    void run()
    {
        ioc.run_for(std::chrono::seconds(10));
        ioc.restart();
    }

    /// Both handshakes; the server's error and the client's.
    std::pair<error_code, error_code> handshake()
    {
        error_code s = asio::error::would_block;
        error_code c = asio::error::would_block;
        server->async_handshake(stream::server, [&](error_code ec) { s = ec; });
        client->async_handshake(stream::client, [&](error_code ec) { c = ec; });
        run();
        return {s, c};
    }
};

std::string pattern(std::size_t n)
{
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>('a' + i % 23);
    return s;
}

TEST(TlsStream, HandshakeSelectsHttp11OverTheDescriptor)
{
    tls_pair p;
    auto [s, c] = p.handshake();
    ASSERT_FALSE(s) << s.message();
    ASSERT_FALSE(c) << c.message();
    const unsigned char* proto = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(p.server->native_handle(), &proto, &len);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(proto), len), "http/1.1");
}

TEST(TlsStream, ReadSomeGetsWhatThePeerWrote)
{
    tls_pair p;
    ASSERT_FALSE(p.handshake().first);
    std::string got(64, '\0');
    std::size_t n = 0;
    error_code read_ec = asio::error::would_block;
    p.server->async_read_some(asio::buffer(got), [&](error_code ec, std::size_t k) {
        read_ec = ec;
        n = k;
    });
    asio::async_write(*p.client, asio::buffer(std::string_view("GET / HTTP/1.1\r\n\r\n")),
                      [](error_code, std::size_t) {});
    p.run();
    ASSERT_FALSE(read_ec) << read_ec.message();
    EXPECT_EQ(got.substr(0, n), "GET / HTTP/1.1\r\n\r\n");
}

TEST(TlsStream, BigBodyArrivesWholeThroughPartialWrites)
{
    tls_pair p(16 * 1024);
    ASSERT_FALSE(p.handshake().first);
    const std::string body = pattern(1 << 20);
    std::string got(body.size(), '\0');
    error_code write_ec = asio::error::would_block;
    error_code read_ec = asio::error::would_block;
    std::size_t written = 0;
    asio::async_write(*p.server, asio::buffer(body), [&](error_code ec, std::size_t n) {
        write_ec = ec;
        written = n;
    });
    asio::async_read(*p.client, asio::buffer(got),
                     [&](error_code ec, std::size_t) { read_ec = ec; });
    p.run();
    ASSERT_FALSE(write_ec) << write_ec.message();
    ASSERT_FALSE(read_ec) << read_ec.message();
    EXPECT_EQ(written, body.size());
    EXPECT_TRUE(got == body);
}

TEST(TlsStream, WriteNowStopsAtAFullSocketAndTheAsyncWriteFinishesIt)
{
    tls_pair p(16 * 1024);
    ASSERT_FALSE(p.handshake().first);
    const std::string body = pattern(1 << 20);
    std::string_view rest = body;
    error_code ec;
    rest.remove_prefix(p.server->write_now(rest, ec)); // what the socket takes now
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(p.server->write_now(rest, ec), 0U) << "the socket is full: nothing more now";
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_FALSE(rest.empty()) << "the socket took a whole MiB: its buffer is not full";
    EXPECT_LT(rest.size(), body.size()) << "some was written at once";
    std::string got(body.size(), '\0');
    error_code write_ec = asio::error::would_block;
    error_code read_ec = asio::error::would_block;
    asio::async_write(*p.server, asio::buffer(rest),
                      [&](error_code e, std::size_t) { write_ec = e; });
    asio::async_read(*p.client, asio::buffer(got), [&](error_code e, std::size_t) { read_ec = e; });
    p.run();
    ASSERT_FALSE(write_ec) << write_ec.message();
    ASSERT_FALSE(read_ec) << read_ec.message();
    EXPECT_TRUE(got == body);
}

TEST(TlsStream, PeerCloseWithoutCloseNotifyIsATruncation)
{
    tls_pair p;
    ASSERT_FALSE(p.handshake().first);
    char buf[16];
    error_code read_ec;
    p.server->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { read_ec = ec; });
    // a FIN (a close() would be a reset: the client left the server's tickets unread)
    ::shutdown(p.client->next_layer().native_handle(), SHUT_WR);
    p.run();
    EXPECT_EQ(read_ec, asio::ssl::error::stream_truncated) << read_ec.message();
}

TEST(TlsStream, CloseNotifyIsTheEndOfStreamAndShutdownCompletesOnTheAnswer)
{
    tls_pair p;
    ASSERT_FALSE(p.handshake().first);
    error_code server_shutdown = asio::error::would_block;
    error_code client_read = asio::error::would_block;
    error_code client_shutdown = asio::error::would_block;
    char buf[16];
    p.server->async_shutdown([&](error_code ec) { server_shutdown = ec; });
    p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) {
        client_read = ec;
        p.client->async_shutdown([&](error_code e) { client_shutdown = e; });
    });
    p.run();
    EXPECT_EQ(client_read, asio::error::eof) << client_read.message();
    EXPECT_FALSE(client_shutdown) << client_shutdown.message();
    EXPECT_FALSE(server_shutdown) << server_shutdown.message();
    EXPECT_NE(SSL_get_shutdown(p.server->native_handle()) & SSL_RECEIVED_SHUTDOWN, 0);
}

TEST(TlsStream, RecordsReadTogetherAreServedFromTheStashThenTheCloseNotify)
{
    tls_pair p;
    ASSERT_FALSE(p.handshake().first);
    // two records and a close_notify in the socket before the server reads: the wait's
    // read brings them all, and what OpenSSL did not take yet is served without the socket
    error_code ec;
    ASSERT_EQ(p.client->write_now("first", ec), 5U);
    ASSERT_EQ(p.client->write_now("second", ec), 6U);
    ASSERT_EQ(SSL_shutdown(p.client->native_handle()), 0); // ours sent, theirs not awaited
    std::vector<std::pair<error_code, std::string>> reads;
    std::string buf(16, '\0');
    std::function<void()> read_next = [&] {
        p.server->async_read_some(asio::buffer(buf), [&](error_code e, std::size_t n) {
            reads.emplace_back(e, buf.substr(0, n));
            if (reads.size() == 1) {
                EXPECT_EQ(p.server->next_layer().available(), 0U) << "all read at once";
                EXPECT_GT(p.server->available(), 0U) << "the second record, not decrypted";
            }
            if (reads.size() < 4)
                read_next();
        });
    };
    read_next();
    p.run();
    ASSERT_EQ(reads.size(), 4U);
    EXPECT_FALSE(reads[0].first) << reads[0].first.message();
    EXPECT_EQ(reads[0].second, "first");
    EXPECT_FALSE(reads[1].first) << reads[1].first.message();
    EXPECT_EQ(reads[1].second, "second");
    // the close_notify, and again at once: a read after it never waits for the socket
    EXPECT_EQ(reads[2].first, asio::error::eof) << reads[2].first.message();
    EXPECT_EQ(reads[3].first, asio::error::eof) << reads[3].first.message();
}

TEST(TlsStream, CancelEndsAPendingReadWithOperationAborted)
{
    tls_pair p;
    ASSERT_FALSE(p.handshake().first);
    char buf[16];
    error_code read_ec;
    p.server->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { read_ec = ec; });
    asio::post(p.ioc, [&] { p.server->next_layer().cancel(); });
    p.run();
    EXPECT_EQ(read_ec, asio::error::operation_aborted) << read_ec.message();
}

TEST(TlsStream, OperationsAfterCloseFailWithoutTouchingTheDescriptor)
{
    tls_pair p;
    ASSERT_FALSE(p.handshake().first);
    p.server->next_layer().close();
    error_code ec;
    EXPECT_EQ(p.server->write_now("x", ec), 0U);
    EXPECT_EQ(ec, asio::error::bad_descriptor);
    error_code write_ec;
    asio::async_write(*p.server, asio::buffer(std::string_view("x")),
                      [&](error_code e, std::size_t) { write_ec = e; });
    p.run();
    EXPECT_EQ(write_ec, asio::error::bad_descriptor);
}

TEST(TlsStream, PlainHttpToTheServerGetsA400InClearText)
{
    tls_pair p;
    error_code server_ec;
    p.server->async_handshake(stream::server, [&](error_code ec) { server_ec = ec; });
    const std::string_view get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(p.client->next_layer().native_handle(), get.data(), get.size(), 0),
              static_cast<ssize_t>(get.size()));
    p.run();
    EXPECT_TRUE(server_ec);
    std::string answer(512, '\0');
    auto n =
        ::recv(p.client->next_layer().native_handle(), answer.data(), answer.size(), MSG_DONTWAIT);
    ASSERT_GT(n, 0);
    answer.resize(static_cast<std::size_t>(n));
    EXPECT_EQ(answer.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0U) << answer;
    EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
    auto head_end = answer.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos);
    auto length_at = answer.find("Content-Length: ");
    ASSERT_NE(length_at, std::string::npos);
    EXPECT_EQ(std::stoul(answer.substr(length_at + 16)), answer.size() - head_end - 4)
        << "the body is as long as its header says";
}

TEST(TlsStream, GarbageFailsTheHandshakeWithoutAnAnswer)
{
    tls_pair p;
    error_code server_ec;
    p.server->async_handshake(stream::server, [&](error_code ec) { server_ec = ec; });
    const std::string noise(64, '\x7f');
    ASSERT_GT(::send(p.client->next_layer().native_handle(), noise.data(), noise.size(), 0), 0);
    p.run();
    EXPECT_TRUE(server_ec);
    char buf[512];
    auto n = ::recv(p.client->next_layer().native_handle(), buf, sizeof buf, MSG_DONTWAIT);
    EXPECT_NE(std::string_view(buf, n > 0 ? static_cast<std::size_t>(n) : 0).substr(0, 4), "HTTP");
}

TEST(TlsStream, BeastReadsAndWritesHttpMessagesOverIt)
{
    namespace bhttp = boost::beast::http;
    tls_pair p;
    ASSERT_FALSE(p.handshake().first);
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/echo", 11};
    req.body() = pattern(100'000);
    req.prepare_payload();
    boost::beast::flat_buffer buf;
    bhttp::request<bhttp::string_body> got;
    error_code write_ec = asio::error::would_block;
    error_code read_ec = asio::error::would_block;
    bhttp::async_write(*p.client, req, [&](error_code ec, std::size_t) { write_ec = ec; });
    bhttp::async_read(*p.server, buf, got, [&](error_code ec, std::size_t) { read_ec = ec; });
    p.run();
    ASSERT_FALSE(write_ec) << write_ec.message();
    ASSERT_FALSE(read_ec) << read_ec.message();
    EXPECT_EQ(got.target(), "/echo");
    EXPECT_TRUE(got.body() == req.body());
}

} // namespace
