// SPDX-License-Identifier: MIT
// idle_clients [--tls] PORT [N]: opens N (<= 5000) keep-alive connections to 127.0.0.1:PORT,
// sends one request on each and reads its response, prints "open N ok M", then holds them
// open, idle, until killed (at most 120 s). `--tls`: each connection is a TLS one first
// (OpenSSL, ALPN http/1.1, the certificate not checked), and the request and its response go
// through it; the session stays open, idle, as a browser's would.
#include "connect_loopback.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// One request over a fresh TLS session on `fd`; the session, or null when any step failed.
SSL* tls_request(SSL_CTX* ctx, int fd)
{
    SSL* ssl = SSL_new(ctx);
    if (ssl == nullptr)
        return nullptr;
    char buf[1024];
    if (SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1 ||
        SSL_write(ssl, request.data(), static_cast<int>(request.size())) !=
            static_cast<int>(request.size()) ||
        SSL_read(ssl, buf, sizeof buf) <= 0) {
        SSL_free(ssl);
        return nullptr;
    }
    return ssl;
}

} // namespace

int main(int argc, char** argv)
{
    const bool is_tls = argc > 1 && std::string_view(argv[1]) == "--tls";
    const int first = is_tls ? 2 : 1;
    if (argc <= first) {
        std::fprintf(stderr, "usage: idle_clients [--tls] PORT [N]\n");
        return 111;
    }
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[first]));
    const int n = argc > first + 1 ? std::clamp(std::atoi(argv[first + 1]), 1, 5000) : 1000;
    alarm(120); // bounded, whatever the caller does
    SSL_CTX* ctx = nullptr;
    if (is_tls) {
        static constexpr unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
        ctx = SSL_CTX_new(TLS_client_method());
        if (ctx == nullptr || SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn) != 0) {
            std::fprintf(stderr, "idle_clients: cannot make an OpenSSL client context\n");
            return 111;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr); // a bench's self-signed certificate
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);   // the clients' memory is not measured
    }
    std::vector<int> fds;
    std::vector<SSL*> sessions; // held, never freed: the process ends with them open
    int ok = 0;
    for (int i = 0; i < n; ++i) {
        int fd = connect_loopback(port);
        if (fd < 0)
            break;
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        fds.push_back(fd);
        if (is_tls) {
            if (SSL* ssl = tls_request(ctx, fd)) {
                sessions.push_back(ssl);
                ++ok;
            }
            continue;
        }
        char buf[1024];
        if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()) &&
            ::read(fd, buf, sizeof buf) > 0)
            ++ok;
    }
    std::printf("open %zu ok %d\n", fds.size(), ok);
    std::fflush(stdout);
    for (;;)
        pause();
}
