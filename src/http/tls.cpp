// SPDX-License-Identifier: MIT
#include "tls.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>

namespace baton::http::detail {

namespace {

/// The last OpenSSL error's reason, and the queue emptied.
std::string openssl_reason()
{
    unsigned long e = ERR_peek_last_error();
    std::string out = e != 0 ? ERR_reason_error_string(e) != nullptr ? ERR_reason_error_string(e)
                                                                     : "error " + std::to_string(e)
                             : "unknown error";
    ERR_clear_error();
    return out;
}

[[noreturn]] void fail(const std::string& what)
{
    ERR_clear_error(); // the thread's queue is left as it was found
    throw std::runtime_error("baton::http tls: " + what);
}

/// ALPN: http/1.1 or nothing. A client that offers protocols but not this one gets the
/// fatal no_application_protocol alert (RFC 7301 §3.2) rather than a connection it cannot use.
int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                const unsigned char* in, unsigned int inlen, void* /*arg*/)
{
    static constexpr unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

/// Session tickets under the keys of the files (RFC 5077's layout, as nginx does it): the
/// first key encrypts; a ticket under a later one decrypts and is renewed under the first.
int ticket_cb(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cctx,
              EVP_MAC_CTX* hctx, int enc)
{
    const auto& keys = tls_context::of(ssl).ticket_keys();
    const ticket_key* key = nullptr;
    std::size_t index = 0;
    if (enc == 1) {
        key = &keys.front();
        std::memcpy(key_name, key->name.data(), key->name.size());
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
            return -1;
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv) != 1)
            return -1;
    } else {
        auto it = std::find_if(keys.begin(), keys.end(), [&](const ticket_key& k) {
            return std::memcmp(k.name.data(), key_name, k.name.size()) == 0;
        });
        if (it == keys.end())
            return 0; // not ours (or retired): a full handshake
        key = &*it;
        index = static_cast<std::size_t>(it - keys.begin());
        if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, key->aes_key.data(), iv) != 1)
            return -1;
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(
                               OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac_key.data()),
                               key->hmac_key.size()),
                           OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return -1;
    return enc == 1 || index == 0 ? 1 : 2;
}

int app_data_index()
{
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

} // namespace

ticket_key read_ticket_key(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        fail("cannot read the ticket-key file " + path);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ticket_key k;
    if (bytes.size() != k.name.size() + k.hmac_key.size() + k.aes_key.size())
        fail("the ticket-key file " + path + " has " + std::to_string(bytes.size()) +
             " bytes, not 80");
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::copy_n(p, k.name.size(), k.name.begin());
    std::copy_n(p + 16, k.hmac_key.size(), k.hmac_key.begin());
    std::copy_n(p + 48, k.aes_key.size(), k.aes_key.begin());
    return k;
}

tls_context::tls_context(const tls_config& cfg)
    : ctx_(boost::asio::ssl::context::tls_server)
    , handshake_timeout_(cfg.handshake_timeout)
{
    SSL_CTX* c = ctx_.native_handle();
    SSL_CTX_set_ex_data(c, app_data_index(), this);
    ERR_clear_error();
    if (SSL_CTX_set_min_proto_version(
            c, cfg.min_version == tls_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION) != 1)
        fail("min_version: " + openssl_reason());
    // No renegotiation (a client could make the server redo handshakes at will), no
    // compression (CRIME).
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    // An idle connection gives its read and write buffers back (~34 KiB each connection).
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_dh_auto(c, 1);
    if (SSL_CTX_set_cipher_list(c, cfg.ciphers.c_str()) != 1)
        fail("no usable cipher in \"" + cfg.ciphers + "\"");
    if (SSL_CTX_set_ciphersuites(c, cfg.ciphersuites.c_str()) != 1)
        fail("no usable ciphersuite in \"" + cfg.ciphersuites + "\"");
    if (SSL_CTX_use_certificate_chain_file(c, cfg.cert_chain_file.c_str()) != 1)
        fail("cannot load the certificate chain " + cfg.cert_chain_file + ": " + openssl_reason());
    const std::string mismatch = "the private key " + cfg.key_file +
                                 " does not match the certificate " + cfg.cert_chain_file;
    if (SSL_CTX_use_PrivateKey_file(c, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
            fail(mismatch);
        fail("cannot load the private key " + cfg.key_file + ": " + openssl_reason());
    }
    if (SSL_CTX_check_private_key(c) != 1)
        fail(mismatch);
    SSL_CTX_set_alpn_select_cb(c, select_alpn, nullptr);
    // Resumption is by ticket only: a per-process cache would not survive a restart and
    // costs memory per session.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    static constexpr unsigned char sid_ctx[] = "baton";
    SSL_CTX_set_session_id_context(c, sid_ctx, sizeof sid_ctx - 1);
    for (const auto& f : cfg.ticket_key_files)
        keys_.push_back(read_ticket_key(f));
    if (!keys_.empty())
        SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_cb);
}

tls_context& tls_context::of(const void* ssl_handle) noexcept
{
    const SSL_CTX* c = SSL_get_SSL_CTX(static_cast<const SSL*>(ssl_handle));
    return *static_cast<tls_context*>(SSL_CTX_get_ex_data(c, app_data_index()));
}

} // namespace baton::http::detail
