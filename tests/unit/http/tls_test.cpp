// SPDX-License-Identifier: MIT
// tls_context: what a listener's TLS configuration accepts and how it refuses the rest.
#include "http/tls.hpp"
#include "support/loopback.hpp"
#include "support/tls_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <gtest/gtest.h>

#include <openssl/ssl.h>

#include <fstream>
#include <stdexcept>
#include <string>

namespace {

using baton::http::tls_config;
using baton::http::detail::tls_context;

struct tls_files {
    baton::test::temp_dir dir;
    baton::test::test_certs certs = baton::test::make_test_certs(dir.path());

    tls_config config() const
    {
        tls_config c;
        c.cert_chain_file = certs.chain;
        c.key_file = certs.key;
        return c;
    }
};

/// What the constructor throws for `cfg`, or "" when it does not.
std::string refusal(const tls_config& cfg)
{
    try {
        tls_context ctx(cfg);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return {};
}

TEST(TlsContext, AcceptsChainWithIntermediate)
{
    tls_files f;
    EXPECT_EQ(refusal(f.config()), "");
}

TEST(TlsContext, RefusesKeyOfAnotherCertificateNamingBoth)
{
    tls_files f;
    auto cfg = f.config();
    cfg.key_file = f.certs.other_key;
    auto what = refusal(cfg);
    EXPECT_NE(what.find("does not match the certificate"), std::string::npos) << what;
    EXPECT_NE(what.find(f.certs.other_key.string()), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line";
}

TEST(TlsContext, RefusesMissingCertificateNamingTheFile)
{
    tls_files f;
    auto cfg = f.config();
    cfg.cert_chain_file = (f.dir / "absent.pem").string();
    auto what = refusal(cfg);
    EXPECT_NE(what.find("absent.pem"), std::string::npos) << what;
}

TEST(TlsContext, RefusesCipherListWithNothingUsable)
{
    tls_files f;
    auto cfg = f.config();
    cfg.ciphers = "NO-SUCH-CIPHER";
    EXPECT_NE(refusal(cfg).find("no usable cipher"), std::string::npos);
}

TEST(TlsContext, RefusesTicketKeyFileThatIsNot80Bytes)
{
    tls_files f;
    auto cfg = f.config();
    auto path = f.dir / "short.key";
    std::ofstream(path) << std::string(48, 'k');
    cfg.ticket_key_files = {path.string()};
    auto what = refusal(cfg);
    EXPECT_NE(what.find("has 48 bytes, not 80"), std::string::npos) << what;
}

TEST(TlsContext, ReadsNginxTicketKeyLayoutNameHmacAes)
{
    baton::test::temp_dir dir;
    std::string bytes;
    for (int i = 0; i < 80; ++i)
        bytes += static_cast<char>(i);
    std::ofstream(dir / "t.key", std::ios::binary) << bytes;
    auto k = baton::http::detail::read_ticket_key((dir / "t.key").string());
    EXPECT_EQ(k.name[0], 0);
    EXPECT_EQ(k.name[15], 15);
    EXPECT_EQ(k.hmac_key[0], 16);
    EXPECT_EQ(k.hmac_key[31], 47);
    EXPECT_EQ(k.aes_key[0], 48);
    EXPECT_EQ(k.aes_key[31], 79);
}

TEST(TlsContext, KeepsTicketKeysInFileOrder)
{
    tls_files f;
    auto cfg = f.config();
    auto first = baton::test::make_ticket_key_file(f.dir / "1.key");
    auto second = baton::test::make_ticket_key_file(f.dir / "2.key");
    cfg.ticket_key_files = {first.string(), second.string()};
    tls_context ctx(cfg);
    ASSERT_EQ(ctx.ticket_keys().size(), 2U);
    EXPECT_EQ(ctx.ticket_keys()[0].name, baton::http::detail::read_ticket_key(first.string()).name);
}

// --- a handshake over beast::test::stream: the context's policy without sockets ------------

using test_tls_stream = boost::asio::ssl::stream<boost::beast::test::stream>;

/// Handshake a client offering `alpn` (wire format) with TLS `version` against a server of
/// `ctx`; the client's error (none: done) and the protocol selected.
std::pair<boost::system::error_code, std::string>
handshake_in_memory(tls_context& ctx, std::string_view alpn, int version)
{
    boost::asio::io_context ioc;
    boost::asio::ssl::context client_ctx(boost::asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(client_ctx.native_handle(), version);
    SSL_CTX_set_max_proto_version(client_ctx.native_handle(), version);
    SSL_CTX_set_alpn_protos(client_ctx.native_handle(),
                            reinterpret_cast<const unsigned char*>(alpn.data()),
                            static_cast<unsigned>(alpn.size()));
    test_tls_stream server(boost::beast::test::stream(ioc), ctx.ssl());
    test_tls_stream client(boost::beast::test::stream(ioc), client_ctx);
    client.next_layer().connect(server.next_layer());
    boost::system::error_code client_ec;
    server.async_handshake(test_tls_stream::server, [](const boost::system::error_code&) {});
    client.async_handshake(test_tls_stream::client,
                           [&](const boost::system::error_code& ec) { client_ec = ec; });
    ioc.run_for(std::chrono::seconds(5));
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(client.native_handle(), &p, &len);
    return {client_ec,
            p != nullptr ? std::string(reinterpret_cast<const char*>(p), len) : std::string()};
}

class TlsInMemory : public ::testing::TestWithParam<int> {};

TEST_P(TlsInMemory, HandshakeSelectsHttp11)
{
    tls_files f;
    tls_context ctx(f.config());
    auto [ec, alpn] =
        handshake_in_memory(ctx, std::string_view("\x02h2\x08http/1.1", 12), GetParam());
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(alpn, "http/1.1");
}

TEST_P(TlsInMemory, ClientOfferingOnlyH2GetsNoApplicationProtocol)
{
    tls_files f;
    tls_context ctx(f.config());
    auto [ec, alpn] = handshake_in_memory(ctx, std::string_view("\x02h2", 3), GetParam());
    EXPECT_TRUE(ec);
    EXPECT_NE(ec.message().find("no application protocol"), std::string::npos) << ec.message();
}

INSTANTIATE_TEST_SUITE_P(Tls, TlsInMemory, ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION));

} // namespace
