#pragma once
// SPDX-License-Identifier: MIT
// TLS for tests: a certificate chain made in a temp dir (OpenSSL's C API, valid for a day),
// and a blocking OpenSSL client over a loopback socket that tells a close_notify, a bare FIN
// and a reset apart.
#include "support/loopback.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct ssl_st;
struct ssl_ctx_st;
struct ssl_session_st;

namespace baton::test {

/// A root CA, an intermediate it signed, and a leaf for 127.0.0.1/localhost the intermediate
/// signed, as PEM files in `dir`: root.pem, chain.pem (leaf then intermediate), key.pem (the
/// leaf's), other_key.pem (a key of no certificate). @throws std::runtime_error
struct test_certs {
    std::filesystem::path root, chain, key, other_key;
};

test_certs make_test_certs(const std::filesystem::path& dir, std::string_view cn = "localhost");

/// 80 random bytes: an nginx ticket-key file. Returns its path.
std::filesystem::path make_ticket_key_file(const std::filesystem::path& path);

enum class tls_end {
    close_notify, ///< the server's close_notify, then a FIN: the clean end
    fin_only,     ///< a FIN without close_notify (a truncation)
    reset,
    timeout,
    data, ///< application data arrived instead of the end
};
std::ostream& operator<<(std::ostream& os, tls_end e);

struct tls_client_options {
    int min_version = 0; ///< TLS1_2_VERSION, TLS1_3_VERSION; 0: any
    int max_version = 0;
    std::vector<std::string> alpn = {"http/1.1"}; ///< empty: no ALPN extension
    std::filesystem::path ca;                     ///< verify against it; empty: no check
    ssl_session_st* session = nullptr;            ///< resume this one (not owned)
    std::chrono::milliseconds timeout{5000};
};

/// Options that verify the server against `ca`, pinned to `version` (0: any).
tls_client_options trusting(const std::filesystem::path& ca, int version = 0);

/// The bytes of a TLS 1.2/1.3 ClientHello offering http/1.1, as a client would send them.
std::string client_hello();

/// A handshake whose ClientHello reaches 127.0.0.1:port one byte per send(); true once done
/// with http/1.1 selected, else false and `error`.
bool handshake_byte_by_byte(std::uint16_t port, std::string& error);

/// One TLS connection to 127.0.0.1:port; every call bounded by the options' timeout.
class tls_client {
public:
    tls_client(std::uint16_t port, const tls_client_options& opts);
    ~tls_client();
    tls_client(const tls_client&) = delete;
    tls_client& operator=(const tls_client&) = delete;

    /// Connect (unless socket() was given one) and handshake; false with error() on failure.
    bool handshake();

    const std::string& error() const noexcept { return error_; }

    bool send(std::string_view data);
    /// One response, read whole (Content-Length or chunked); empty on failure.
    std::string read_response();
    /// Read until the stream ends: how it ended.
    tls_end read_end();

    std::string alpn() const;
    int version() const;
    bool is_resumed() const;
    /// The session to resume, owned by the caller (SSL_SESSION_free); null if none.
    ssl_session_st* take_session();
    /// The peer certificate's subject CN.
    std::string peer_cn() const;

    unique_fd& socket() noexcept { return fd_; }

private:
    std::uint16_t port_;
    tls_client_options opts_;
    unique_fd fd_;
    ssl_ctx_st* ctx_ = nullptr;
    ssl_st* ssl_ = nullptr;
    std::string error_;
    std::string pending_; ///< read beyond the last response
};

} // namespace baton::test
