// SPDX-License-Identifier: MIT
// baton::http over TLS on loopback: handshakes, ALPN, the drain's clean ends (close_notify,
// then a FIN), bad input before and during the handshake, resumption across servers that
// share a ticket-key file.
#include "http_server_fixture.hpp"
#include "support/tls_client.hpp"

#include <gtest/gtest.h>

#include <openssl/ssl.h>

#include <future>
#include <random>
#include <string>
#include <thread>

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

    tls_client_options client(int version = 0) const { return trusting(certs.root, version); }
};

constexpr std::string_view get_close = "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

bool has_close(const std::string& response)
{
    return response.find("Connection: close\r\n") != std::string::npos;
}

/// GET /a on `c` is answered with Connection: close, then close_notify and a FIN; the drain
/// `done` returns in time.
void expect_last_answer_then_clean_end(tls_client& c, std::future<boost::system::error_code>& done)
{
    ASSERT_TRUE(c.send(get_a));
    auto r = c.read_response();
    EXPECT_NE(r.find("ok /a"), std::string::npos) << r;
    EXPECT_TRUE(has_close(r)) << r;
    EXPECT_EQ(c.read_end(), tls_end::close_notify);
    EXPECT_FALSE(done.get());
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
    expect_last_answer_then_clean_end(c, done);
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
    expect_last_answer_then_clean_end(c, done);
}

TEST(TlsShutdown, FirstRequestAfterTheHandshakeIsServedEvenAfterTheGrace)
{
    tls_setup s;
    auto o = fixture::defaults();
    o.drain_grace = 50ms;
    fixture f(o, &s.tls);
    tls_client c(f.port, s.client());
    ASSERT_TRUE(c.handshake()) << c.error();
    auto done = f.shutdown_async();
    ASSERT_TRUE(wait_until([&] { return f.has_shutdown_begun.load(); }, 5s));
    std::this_thread::sleep_for(250ms); // a client slow to send after its handshake
    ASSERT_TRUE(c.send(get_a));
    const auto r = c.read_response();
    EXPECT_NE(r.find("ok /a"), std::string::npos) << r;
    EXPECT_TRUE(has_close(r)) << r;
    EXPECT_EQ(c.read_end(), tls_end::close_notify);
    EXPECT_FALSE(done.get());
}

// --- bad input before and during the handshake ------------------------------------------------

/// The server is still serving TLS clients (after some bad input).
void expect_still_serving(const fixture& f, const tls_setup& s)
{
    tls_client c(f.port, s.client());
    ASSERT_TRUE(c.handshake()) << c.error();
    ASSERT_TRUE(c.send(get_a));
    EXPECT_NE(c.read_response().find("ok /a"), std::string::npos);
}

/// A connection that sent `bytes` (then its FIN when `is_finished`) is closed without a reset.
void expect_closed_cleanly_after(const fixture& f, std::string_view bytes, bool is_finished)
{
    auto c = connect(f.port);
    ASSERT_FALSE(c.send(bytes));
    if (is_finished)
        ::shutdown(c.fd(), SHUT_WR);
    auto eof = c.read_until_eof();
    EXPECT_EQ(eof.outcome, read_outcome::closed) << "never a reset";
}

TEST(TlsBadInput, PlainHttpIsClosedCleanlyAndCounted)
{
    tls_setup s;
    fixture f(fixture::defaults(), &s.tls);
    expect_closed_cleanly_after(f, get_a, false);
    EXPECT_TRUE(wait_until([&] { return f.server->stats().tls_handshake_failures == 1; }, 5s));
    expect_still_serving(f, s);
}

TEST(TlsBadInput, PlainHttpIsAnswered400InClearTextThenAFin)
{
    tls_setup s;
    fixture f(fixture::defaults(), &s.tls);
    auto c = connect(f.port);
    ASSERT_FALSE(c.send(get_a));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << " " << r.detail;
    EXPECT_EQ(r.response.status, 400);
    EXPECT_TRUE(r.response.is_connection_close());
    EXPECT_EQ(c.read_until_eof().outcome, read_outcome::closed) << "a FIN, never a reset";
    expect_still_serving(f, s);
}

TEST(TlsBadInput, SilentClientIsCutAtTheHandshakeTimeout)
{
    tls_setup s;
    s.tls.handshake_timeout = 200ms;
    fixture f(fixture::defaults(), &s.tls);
    auto silent = connect(f.port);
    EXPECT_EQ(silent.read_until_eof().outcome, read_outcome::closed);
    EXPECT_EQ(f.server->stats().handshake_timeouts, 1U);
    EXPECT_TRUE(wait_until([&] { return f.server->stats().open_connections == 0; }, 5s))
        << "the slot is given back";
    expect_still_serving(f, s);
}

TEST(TlsBadInput, RandomBytesAreClosedCleanly)
{
    tls_setup s;
    fixture f(fixture::defaults(), &s.tls);
    std::mt19937 gen(16);
    std::string noise(4096, '\0');
    for (auto& ch : noise)
        ch = static_cast<char>(gen());
    expect_closed_cleanly_after(f, noise, false);
    expect_still_serving(f, s);
}

TEST(TlsBadInput, TruncatedClientHelloIsClosedCleanly)
{
    tls_setup s;
    fixture f(fixture::defaults(), &s.tls);
    auto hello = client_hello();
    ASSERT_GT(hello.size(), 100U);
    expect_closed_cleanly_after(f, hello.substr(0, hello.size() / 2), true);
    EXPECT_TRUE(wait_until([&] { return f.server->stats().tls_handshake_failures == 1; }, 5s));
    expect_still_serving(f, s);
}

TEST(TlsBadInput, ClientHelloByteByByteCompletesTheHandshake)
{
    tls_setup s;
    fixture f(fixture::defaults(), &s.tls);
    std::string error;
    EXPECT_TRUE(handshake_byte_by_byte(f.port, error)) << error;
    expect_still_serving(f, s);
}

TEST(TlsLimits, HeaderLimitAppliesBehindTls)
{
    tls_setup s;
    auto o = fixture::defaults();
    o.max_header_bytes = 1024;
    fixture f(o, &s.tls);
    tls_client c(f.port, s.client());
    ASSERT_TRUE(c.handshake()) << c.error();
    ASSERT_TRUE(
        c.send("GET /a HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2048, 'b') + "\r\n\r\n"));
    auto r = c.read_response();
    EXPECT_EQ(r.substr(0, 12), "HTTP/1.1 431") << r;
    EXPECT_EQ(c.read_end(), tls_end::close_notify);
}

// --- resumption across servers sharing a ticket-key file (generations, in one process) ------

/// A session from a server with `first`'s ticket keys, offered to one with `second`'s.
bool resumes_across(const tls_setup& s, int version, const std::vector<std::string>& first,
                    const std::vector<std::string>& second)
{
    auto tls = s.tls;
    tls.ticket_key_files = first;
    SSL_SESSION* session = nullptr;
    {
        fixture a(fixture::defaults(), &tls);
        tls_client c(a.port, s.client(version));
        EXPECT_TRUE(c.handshake()) << c.error();
        EXPECT_TRUE(c.send(get_a));
        EXPECT_FALSE(c.read_response().empty()); // TLS 1.3: the tickets came before it
        session = c.take_session();
    }
    tls.ticket_key_files = second;
    fixture b(fixture::defaults(), &tls);
    auto o = s.client(version);
    o.session = session;
    tls_client c(b.port, o);
    EXPECT_TRUE(c.handshake()) << c.error();
    const bool resumed = c.is_resumed();
    SSL_SESSION_free(session);
    return resumed;
}

class TlsResumption : public ::testing::TestWithParam<int> {};

TEST_P(TlsResumption, ResumesOnTheNextServerSharingTheKeyFile)
{
    tls_setup s;
    auto key = make_ticket_key_file(s.dir / "ticket.key").string();
    EXPECT_TRUE(resumes_across(s, GetParam(), {key}, {key}));
}

TEST_P(TlsResumption, ResumesUnderAnOldKeyKeptForDecryptionAfterRotation)
{
    tls_setup s;
    auto old_key = make_ticket_key_file(s.dir / "old.key").string();
    auto new_key = make_ticket_key_file(s.dir / "new.key").string();
    EXPECT_TRUE(resumes_across(s, GetParam(), {old_key}, {new_key, old_key}));
}

TEST_P(TlsResumption, DoesNotResumeWithoutAKeyFile)
{
    tls_setup s;
    EXPECT_FALSE(resumes_across(s, GetParam(), {}, {}));
}

INSTANTIATE_TEST_SUITE_P(Tls, TlsResumption, ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION));

} // namespace
} // namespace baton::test
