#pragma once
// SPDX-License-Identifier: MIT

// baton::http::tls_config: HTTPS on a listener (OpenSSL 3, run on the socket itself).

#include <chrono>
#include <string>
#include <vector>

namespace baton::http {

/// The TLS versions a listener may accept at the least.
enum class tls_version { tls1_2, tls1_3 };

/** HTTPS on one listener (server::add_listener(fd, tls) or listen(host, port, tls)): TLS 1.2
    and 1.3, ALPN `http/1.1` only (a client offering only `h2` is refused with the
    no_application_protocol alert), renegotiation refused. The defaults are Mozilla's
    "intermediate" profile. Every file is read when the listener is added: an unreadable file,
    a key that does not match the certificate or a bad ticket key throws std::runtime_error
    with a one-line message; nothing is read again (a new certificate comes with a restart). */
struct tls_config {
    /// PEM: the server's certificate first, then its intermediates.
    std::string cert_chain_file;
    /// PEM: the certificate's private key (unencrypted).
    std::string key_file;
    tls_version min_version = tls_version::tls1_2;
    /// TLS 1.2's cipher list (OpenSSL syntax).
    std::string ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                          "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"
                          "DHE-RSA-CHACHA20-POLY1305";
    /// TLS 1.3's ciphersuites.
    std::string ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                               "TLS_CHACHA20_POLY1305_SHA256";
    /** Session-ticket keys, nginx's `ssl_session_ticket_key` files: 80 bytes each (16-byte
        name, 32-byte HMAC key, 32-byte AES-256 key). The first file's key encrypts new
        tickets, later ones only decrypt (a ticket under one of them is renewed): rotate by
        putting a new file first between restarts. Every generation given the same files
        resumes the others' sessions. Empty: a random key per process, so every restart
        costs each returning client a full handshake. */
    std::vector<std::string> ticket_key_files;
    /// A client must finish its handshake within this time of the accept, or is cut.
    std::chrono::milliseconds handshake_timeout{10'000};
};

} // namespace baton::http
