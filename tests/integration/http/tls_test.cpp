// SPDX-License-Identifier: MIT
// baton::http over TLS on loopback: handshakes, ALPN, the drain's clean ends (close_notify,
// then a FIN), bad input before and during the handshake, resumption across servers that
// share a ticket-key file.
#include "http_server_fixture.hpp"
#include "support/tls_client.hpp"

#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include <future>
#include <random>
#include <string>

namespace baton::test {
namespace {

struct tls_setup {
    temp_dir dir;
    test_certs certs = make_test_certs(dir.path());
    baton::http::tls_config tls;

    tls_setup()
    {
        tls.cert_chain_file = certs.chain;
        tls.key_file = certs.key;
    }

    tls_client_options client(int version = 0) const
    {
        tls_client_options o;
        o.ca = certs.root;
        o.min_version = version;
        o.max_version = version;
        return o;
    }
};

constexpr std::string_view get_close = "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

bool has_close(const std::string& response)
{
    return response.find("Connection: close\r\n") != std::string::npos;
}

class TlsVersions : public ::testing::TestWithParam<int> {};

TEST_P(TlsVersions, HandshakeVerifiesChainAndSelectsHttp11)
{
    tls_setup s;
    fixture f(fixture::defaults(), &s.tls);
    tls_client c(f.port, s.client(GetParam()));
    ASSERT_TRUE(c.handshake()) << c.error();
    EXPECT_EQ(c.version(), GetParam());
    EXPECT_EQ(c.alpn(), "http/1.1");
    EXPECT_EQ(c.peer_cn(), "localhost");
    ASSERT_TRUE(c.send(get_a));
    auto r = c.read_response();
    EXPECT_EQ(r.substr(0, 15), "HTTP/1.1 200 OK");
    EXPECT_NE(r.find("ok /a"), std::string::npos) << r;
    ASSERT_TRUE(c.send(get_close)); // keep-alive held, then the close the client asked for
    EXPECT_TRUE(has_close(c.read_response()));
    EXPECT_EQ(c.read_end(), tls_end::close_notify);
}

INSTANTIATE_TEST_SUITE_P(Tls, TlsVersions, ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION));

TEST(Tls, ClientOfferingOnlyH2FailsTheHandshakeAndIsCounted)
{
    tls_setup s;
    fixture f(fixture::defaults(), &s.tls);
    auto o = s.client();
    o.alpn = {"h2"};
    tls_client c(f.port, o);
    EXPECT_FALSE(c.handshake());
    EXPECT_NE(c.error().find("no application protocol"), std::string::npos) << c.error();
    EXPECT_TRUE(wait_until([&] { return f.server->stats().tls_handshake_failures == 1; }, 5s));
    tls_client ok(f.port, s.client());
    EXPECT_TRUE(ok.handshake()) << ok.error();
}

TEST(Tls, MinimumVersionRefusesOlderClients)
{
    tls_setup s;
    s.tls.min_version = baton::http::tls_version::tls1_3;
    fixture f(fixture::defaults(), &s.tls);
    tls_client old(f.port, s.client(TLS1_2_VERSION));
    EXPECT_FALSE(old.handshake());
    tls_client c(f.port, s.client(TLS1_3_VERSION));
    EXPECT_TRUE(c.handshake()) << c.error();
}

// --- the drain over TLS ----------------------------------------------------------------------

TEST(TlsShutdown, InFlightRequestFinishesWithConnectionCloseThenCloseNotify)
{
    tls_setup s;
    fixture f(fixture::defaults(), &s.tls);
    tls_client c(f.port, s.client());
    ASSERT_TRUE(c.handshake()) << c.error();
    ASSERT_TRUE(c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(wait_until([&] { return f.entered.load() == 1; }, 5s));
    auto done = f.shutdown_async();
    auto r = c.read_response();
    EXPECT_NE(r.find("slow done"), std::string::npos) << r;
    EXPECT_TRUE(has_close(r)) << r;
    EXPECT_EQ(c.read_end(), tls_end::close_notify);
    EXPECT_FALSE(done.get());
}

TEST(TlsShutdown, IdleKeepAliveGetsTheGraceThenCloseNotify)
{
    tls_setup s;
    auto o = fixture::defaults();
    o.drain_grace = 200ms;
    fixture f(o, &s.tls);
    tls_client c(f.port, s.client());
    ASSERT_TRUE(c.handshake()) << c.error();
    ASSERT_TRUE(c.send(get_a));
    ASSERT_FALSE(c.read_response().empty());
    auto done = f.shutdown_async();
    EXPECT_EQ(c.read_end(), tls_end::close_notify);
    EXPECT_FALSE(done.get());
    EXPECT_EQ(f.server->stats().connections_closed_by_drain, 1U);
}

TEST(TlsShutdown, RequestInsideTheGraceIsServedWithConnectionClose)
{
    tls_setup s;
    fixture f(fixture::defaults(), &s.tls);
    tls_client c(f.port, s.client());
    ASSERT_TRUE(c.handshake()) << c.error();
    ASSERT_TRUE(c.send(get_a));
    ASSERT_FALSE(c.read_response().empty());
    auto done = f.shutdown_async();
    ASSERT_TRUE(c.send(get_a));
    auto r = c.read_response();
    EXPECT_NE(r.find("ok /a"), std::string::npos) << r;
    EXPECT_TRUE(has_close(r)) << r;
    EXPECT_EQ(c.read_end(), tls_end::close_notify);
    EXPECT_FALSE(done.get());
    EXPECT_EQ(f.server->stats().requests_served_in_grace, 1U);
}

TEST(TlsShutdown, ClientMidHandshakeFinishesItAndIsServedInTheGrace)
{
    tls_setup s;
    fixture f(fixture::defaults(), &s.tls);
    // Connected, accepted, nothing sent yet: the handshake has not begun when the drain does.
    tls_client c(f.port, s.client());
    std::error_code ec;
    auto early = connect_tcp("127.0.0.1", f.port, ec);
    ASSERT_FALSE(ec);
    ASSERT_TRUE(wait_until([&] { return f.server->stats().open_connections == 1; }, 5s));
    auto done = f.shutdown_async();
    // hand the accepted socket to the client: the handshake starts now, inside the drain
    c.socket() = std::move(early);
    ASSERT_TRUE(c.handshake()) << c.error();
    ASSERT_TRUE(c.send(get_a));
    auto r = c.read_response();
    EXPECT_NE(r.find("ok /a"), std::string::npos) << r;
    EXPECT_TRUE(has_close(r)) << r;
    EXPECT_EQ(c.read_end(), tls_end::close_notify);
    EXPECT_FALSE(done.get());
}

} // namespace
} // namespace baton::test
