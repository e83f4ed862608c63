// SPDX-License-Identifier: MIT
#include "support/tls_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <stdexcept>

namespace baton::test {

namespace {

struct key_deleter {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};

struct cert_deleter {
    void operator()(X509* c) const noexcept { X509_free(c); }
};

using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using cert_ptr = std::unique_ptr<X509, cert_deleter>;

void check(bool ok, const char* what)
{
    if (!ok)
        throw std::runtime_error(std::string("test certs: ") + what);
}

key_ptr make_key()
{
    key_ptr k(EVP_EC_gen("P-256"));
    check(k != nullptr, "EVP_EC_gen");
    return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr, "extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

/// A certificate for `key` named `cn`, signed by `issuer_key` (`issuer` null: self-signed).
cert_ptr make_cert(EVP_PKEY* key, std::string_view cn, X509* issuer, EVP_PKEY* issuer_key,
                   bool is_ca, long serial)
{
    cert_ptr c(X509_new());
    X509_set_version(c.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial);
    X509_gmtime_adj(X509_getm_notBefore(c.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(c.get()), 24L * 3600);
    X509_set_pubkey(c.get(), key);
    X509_NAME* name = X509_get_subject_name(c.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(std::string(cn).c_str()), -1,
                               -1, 0);
    X509_set_issuer_name(c.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
    X509* iss = issuer != nullptr ? issuer : c.get();
    if (is_ca) {
        add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(c.get(), iss, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
        add_ext(c.get(), iss, NID_ext_key_usage, "serverAuth");
    }
    check(X509_sign(c.get(), issuer_key, EVP_sha256()) > 0, "X509_sign");
    return c;
}

void write_pem(const std::filesystem::path& p, const std::vector<X509*>& certs, EVP_PKEY* key)
{
    FILE* f = std::fopen(p.c_str(), "w");
    check(f != nullptr, "fopen");
    bool ok = true;
    for (X509* c : certs)
        ok = ok && PEM_write_X509(f, c) == 1;
    if (key != nullptr)
        ok = ok && PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    std::fclose(f);
    check(ok, "PEM_write");
}

/// A client SSL over memory BIOs (the test moves the bytes), ALPN http/1.1.
struct memory_client {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = SSL_new(ctx);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());

    memory_client()
    {
        SSL_set_bio(ssl, in, out); // owned by ssl now
        static constexpr unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
        SSL_set_alpn_protos(ssl, alpn, sizeof alpn);
        SSL_set_connect_state(ssl);
    }

    ~memory_client()
    {
        SSL_free(ssl);
        SSL_CTX_free(ctx);
    }

    memory_client(const memory_client&) = delete;
    memory_client& operator=(const memory_client&) = delete;

    /// What the client wrote since the last call.
    std::string take_output()
    {
        std::string bytes;
        char buf[4096];
        for (int n; (n = BIO_read(out, buf, sizeof buf)) > 0;)
            bytes.append(buf, static_cast<std::size_t>(n));
        return bytes;
    }
};

} // namespace

tls_client_options trusting(const std::filesystem::path& ca, int version)
{
    tls_client_options o;
    o.ca = ca;
    o.min_version = version;
    o.max_version = version;
    return o;
}

std::string client_hello()
{
    memory_client c;
    (void)SSL_do_handshake(c.ssl); // wants to read: the ClientHello is written
    return c.take_output();
}

bool handshake_byte_by_byte(std::uint16_t port, std::string& error)
{
    std::error_code ec;
    auto fd = connect_tcp("127.0.0.1", port, ec);
    if (ec) {
        error = ec.message();
        return false;
    }
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{5, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    memory_client c;
    (void)SSL_do_handshake(c.ssl);
    for (char ch : c.take_output()) {
        if (::send(fd.get(), &ch, 1, MSG_NOSIGNAL) != 1) {
            error = "send failed";
            return false;
        }
    }
    for (int round = 0; round < 20; ++round) { // a handshake is two or three flights
        char buf[16384];
        ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n <= 0) {
            error = "the server closed or was silent";
            return false;
        }
        BIO_write(c.in, buf, static_cast<int>(n));
        const int r = SSL_do_handshake(c.ssl);
        auto reply = c.take_output();
        if (!reply.empty() && ::send(fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL) !=
                                  static_cast<ssize_t>(reply.size())) {
            error = "send failed";
            return false;
        }
        if (r == 1) {
            const unsigned char* p = nullptr;
            unsigned len = 0;
            SSL_get0_alpn_selected(c.ssl, &p, &len);
            if (std::string_view(reinterpret_cast<const char*>(p), len) != "http/1.1") {
                error = "ALPN not http/1.1";
                return false;
            }
            return true;
        }
        if (SSL_get_error(c.ssl, r) != SSL_ERROR_WANT_READ) {
            error = "handshake failed";
            return false;
        }
    }
    error = "no end of handshake";
    return false;
}

test_certs make_test_certs(const std::filesystem::path& dir, std::string_view cn)
{
    auto root_key = make_key();
    auto root = make_cert(root_key.get(), "baton test root", nullptr, root_key.get(), true, 1);
    auto mid_key = make_key();
    auto mid =
        make_cert(mid_key.get(), "baton test intermediate", root.get(), root_key.get(), true, 2);
    auto leaf_key = make_key();
    auto leaf = make_cert(leaf_key.get(), cn, mid.get(), mid_key.get(), false, 3);
    auto other = make_key();
    test_certs out{dir / "root.pem", dir / "chain.pem", dir / "key.pem", dir / "other_key.pem"};
    write_pem(out.root, {root.get()}, nullptr);
    write_pem(out.chain, {leaf.get(), mid.get()}, nullptr);
    write_pem(out.key, {}, leaf_key.get());
    write_pem(out.other_key, {}, other.get());
    return out;
}

std::filesystem::path make_ticket_key_file(const std::filesystem::path& path)
{
    unsigned char bytes[80];
    check(RAND_bytes(bytes, sizeof bytes) == 1, "RAND_bytes");
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes), sizeof bytes);
    return path;
}

std::ostream& operator<<(std::ostream& os, tls_end e)
{
    switch (e) {
    case tls_end::close_notify:
        return os << "close_notify";
    case tls_end::fin_only:
        return os << "FIN without close_notify";
    case tls_end::reset:
        return os << "reset";
    case tls_end::timeout:
        return os << "timeout";
    case tls_end::data:
        return os << "data";
    }
    return os << "?";
}

tls_client::tls_client(std::uint16_t port, const tls_client_options& opts)
    : port_(port)
    , opts_(opts)
{
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (opts_.min_version != 0)
        SSL_CTX_set_min_proto_version(ctx_, opts_.min_version);
    if (opts_.max_version != 0)
        SSL_CTX_set_max_proto_version(ctx_, opts_.max_version);
    if (!opts_.ca.empty()) {
        SSL_CTX_load_verify_locations(ctx_, opts_.ca.c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT);
}

tls_client::~tls_client()
{
    // Our close_notify (not waiting for theirs), as a polite client ends.
    if (ssl_ != nullptr && SSL_is_init_finished(ssl_) == 1)
        (void)SSL_shutdown(ssl_);
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
}

bool tls_client::handshake()
{
    if (!fd_) {
        std::error_code ec;
        fd_ = connect_tcp("127.0.0.1", port_, ec, opts_.timeout);
        if (ec) {
            error_ = "connect: " + ec.message();
            return false;
        }
    }
    timeval tv{};
    tv.tv_sec = opts_.timeout.count() / 1000;
    tv.tv_usec = (opts_.timeout.count() % 1000) * 1000;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_.get());
    static char sni[] = "localhost"; // SSL_set_tlsext_host_name, without its C cast
    SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, sni);
    SSL_set1_host(ssl_, "localhost");
    if (!opts_.alpn.empty()) {
        std::string wire;
        for (const auto& p : opts_.alpn)
            wire += static_cast<char>(p.size()) + p;
        SSL_set_alpn_protos(ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
    }
    if (opts_.session != nullptr)
        SSL_set_session(ssl_, opts_.session);
    ERR_clear_error();
    if (SSL_connect(ssl_) != 1) {
        const unsigned long e = ERR_peek_last_error();
        error_ = e != 0 && ERR_reason_error_string(e) != nullptr ? ERR_reason_error_string(e)
                                                                 : "handshake failed";
        ERR_clear_error();
        return false;
    }
    return true;
}

bool tls_client::send(std::string_view data)
{
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
}

std::string tls_client::read_response()
{
    // bounded: every SSL_read waits at most the timeout, and a response is small
    for (int reads = 0; reads < 1000; ++reads) {
        auto header_end = pending_.find("\r\n\r\n");
        if (header_end != std::string::npos) {
            const std::string header = pending_.substr(0, header_end + 4);
            std::size_t total = std::string::npos;
            if (auto cl = header.find("Content-Length: "); cl != std::string::npos)
                total = header_end + 4 + std::stoul(header.substr(cl + 16));
            else if (auto end = pending_.find("\r\n0\r\n\r\n", header_end);
                     end != std::string::npos)
                total = end + 7;
            if (total != std::string::npos && pending_.size() >= total) {
                std::string out = pending_.substr(0, total);
                pending_.erase(0, total);
                return out;
            }
        }
        char buf[4096];
        int n = SSL_read(ssl_, buf, sizeof buf);
        if (n <= 0)
            return {};
        pending_.append(buf, static_cast<std::size_t>(n));
    }
    return {};
}

tls_end tls_client::read_end()
{
    char buf[4096];
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0)
        return tls_end::data;
    const int err = SSL_get_error(ssl_, n);
    if (err != SSL_ERROR_ZERO_RETURN) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return tls_end::timeout;
        return errno == ECONNRESET ? tls_end::reset : tls_end::fin_only;
    }
    // the close_notify came: below it, the FIN (or a reset) must follow
    for (int i = 0; i < 100; ++i) {
        ssize_t r = ::recv(fd_.get(), buf, sizeof buf, 0);
        if (r == 0)
            return tls_end::close_notify;
        if (r < 0)
            return errno == ECONNRESET ? tls_end::reset : tls_end::timeout;
    }
    return tls_end::data;
}

std::string tls_client::alpn() const
{
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    return p != nullptr ? std::string(reinterpret_cast<const char*>(p), len) : std::string();
}

int tls_client::version() const
{
    return SSL_version(ssl_);
}

bool tls_client::is_resumed() const
{
    return SSL_session_reused(ssl_) == 1;
}

ssl_session_st* tls_client::take_session()
{
    // TLS 1.3's tickets come after the handshake: a read sees them (read_response did). A
    // copy: the connection's own is marked not resumable if it ends without close_notify.
    SSL_SESSION* own = SSL_get1_session(ssl_);
    SSL_SESSION* copy = own != nullptr ? SSL_SESSION_dup(own) : nullptr;
    SSL_SESSION_free(own);
    return copy;
}

std::string tls_client::peer_cn() const
{
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert == nullptr)
        return {};
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    return cn;
}

} // namespace baton::test
