// SPDX-License-Identifier: MIT
// tls_context: what a listener's TLS configuration accepts and how it refuses the rest.
#include "http/tls.hpp"
#include "support/loopback.hpp"
#include "support/tls_client.hpp"

#include <gtest/gtest.h>

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

} // namespace
