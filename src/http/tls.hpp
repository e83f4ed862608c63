#pragma once
// SPDX-License-Identifier: MIT

// A listener's TLS context, built from tls_config once, when the listener is added (private).

#include <baton/http/tls.hpp>

#include <boost/asio/ssl/context.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <vector>

namespace baton::http::detail {

/// One session-ticket key in nginx's 80-byte layout.
struct ticket_key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> hmac_key{};
    std::array<unsigned char, 32> aes_key{};
};

/// The SSL_CTX of a listener and what its connections need besides (SSL_CTX's app data
/// points here, so a connection finds it through its SSL handle).
class tls_context {
public:
    /// @throws std::runtime_error with a one-line message naming the file and the reason.
    explicit tls_context(const tls_config& cfg);

    tls_context(const tls_context&) = delete;
    tls_context& operator=(const tls_context&) = delete;

    boost::asio::ssl::context& ssl() noexcept { return ctx_; }

    std::chrono::milliseconds handshake_timeout() const noexcept { return handshake_timeout_; }

    const std::vector<ticket_key>& ticket_keys() const noexcept { return keys_; }

    /// The tls_context whose SSL_CTX made the SSL handle `ssl_handle` (an SSL*).
    static tls_context& of(const void* ssl_handle) noexcept;

private:
    boost::asio::ssl::context ctx_;
    std::chrono::milliseconds handshake_timeout_;
    std::vector<ticket_key> keys_; ///< from the files; empty: OpenSSL's random key
};

/// Read one 80-byte nginx ticket-key file. @throws std::runtime_error
ticket_key read_ticket_key(const std::string& path);

} // namespace baton::http::detail
