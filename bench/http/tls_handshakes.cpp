// SPDX-License-Identifier: MIT
// tls_handshakes PORT [--connections=N] [--seconds=S] [--resume]: the handshake load of
// bench/http/run.sh. N threads (16), each in a loop for S seconds (10): connect to
// 127.0.0.1:PORT, a TLS handshake, `GET /` with `Connection: close`, read the answer to the
// server's close_notify, send ours, close. With --resume each connection offers the session
// (ticket) of its thread's previous one, as a returning browser does; whether the server took
// it is SSL_session_reused's answer, counted, not assumed. Prints one line:
//   handshakes H resumed R failed F seconds T per_second X
// A connection counts in H only if its answer began with "HTTP/1.1 200". Certificates are
// not verified (the point is the server's cost; the client still checks the handshake's
// signature, which TLS requires). Every socket has 5 s timeouts; the process at most S + 30 s.
#include "connect_loopback.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct counts {
    std::atomic<std::uint64_t> done{0};
    std::atomic<std::uint64_t> resumed{0};
    std::atomic<std::uint64_t> failed{0};
};

struct ssl_free {
    void operator()(SSL* s) const { SSL_free(s); }

    void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};

using ssl_ptr = std::unique_ptr<SSL, ssl_free>;
using session_ptr = std::unique_ptr<SSL_SESSION, ssl_free>;

/// One connection: handshake (offering `offer` if any), request, answer, close. True when
/// the answer was a 200; `next` then holds the session to offer next time, `reused` whether
/// the server resumed `offer`.
bool one_connection(SSL_CTX* ctx, std::uint16_t port, SSL_SESSION* offer, session_ptr& next,
                    bool& reused)
{
    const int fd = connect_loopback(port);
    if (fd < 0)
        return false;
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    // As browsers and curl do: without it the request, written behind the client's Finished,
    // waits for the server's delayed ACK (40 ms) whenever the Finished is still unacknowledged.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ssl_ptr ssl(SSL_new(ctx));
    bool ok = false;
    if (ssl && SSL_set_fd(ssl.get(), fd) == 1 &&
        (offer == nullptr || SSL_set_session(ssl.get(), offer) == 1) &&
        SSL_connect(ssl.get()) == 1) {
        static constexpr std::string_view req =
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if (SSL_write(ssl.get(), req.data(), static_cast<int>(req.size())) ==
            static_cast<int>(req.size())) {
            char buf[2048];
            std::size_t got = 0;
            bool is_200 = false;
            // To the server's close_notify (or EOF); bounded by the socket timeouts and a count.
            for (int i = 0; i < 64; ++i) {
                const int r = SSL_read(ssl.get(), buf, sizeof buf);
                if (r <= 0)
                    break;
                if (got == 0)
                    is_200 = std::string_view(buf, static_cast<std::size_t>(r))
                                 .starts_with("HTTP/1.1 200");
                got += static_cast<std::size_t>(r);
            }
            ok = is_200;
            reused = SSL_session_reused(ssl.get()) == 1;
            // After the answer the TLS 1.3 tickets have arrived: this session resumes.
            session_ptr s(SSL_get1_session(ssl.get()));
            if (s && SSL_SESSION_is_resumable(s.get()) == 1)
                next = std::move(s);
            SSL_shutdown(ssl.get());
        }
    }
    ERR_clear_error();
    ssl.reset();
    ::close(fd);
    return ok;
}

void worker(SSL_CTX* ctx, std::uint16_t port, bool resume, clock_type::time_point end, counts& c)
{
    session_ptr session;
    // Bounded by the deadline and by a count (a connection takes at least a few µs).
    for (std::uint64_t i = 0; i < 100'000'000 && clock_type::now() < end; ++i) {
        session_ptr next;
        bool reused = false;
        if (one_connection(ctx, port, resume ? session.get() : nullptr, next, reused)) {
            c.done.fetch_add(1, std::memory_order_relaxed);
            if (reused)
                c.resumed.fetch_add(1, std::memory_order_relaxed);
        } else {
            c.failed.fetch_add(1, std::memory_order_relaxed);
        }
        if (next)
            session = std::move(next);
    }
}

bool parse_int(std::string_view text, int low, int high, int& out)
{
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size() && out >= low && out <= high;
}

int usage(const char* what)
{
    std::fprintf(stderr,
                 "tls_handshakes: %s (usage: tls_handshakes PORT [--connections=N] "
                 "[--seconds=S] [--resume])\n",
                 what);
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    int port = -1;
    int connections = 16;
    int seconds = 10;
    bool resume = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--resume") {
            resume = true;
        } else if (arg.starts_with("--connections=")) {
            if (!parse_int(arg.substr(14), 1, 1000, connections))
                return usage("--connections wants 1 to 1000");
        } else if (arg.starts_with("--seconds=")) {
            if (!parse_int(arg.substr(10), 1, 3600, seconds))
                return usage("--seconds wants 1 to 3600");
        } else if (port < 0 && parse_int(arg, 1, 65535, port)) {
            continue;
        } else {
            return usage("bad argument");
        }
    }
    if (port < 0)
        return usage("no port");
    alarm(static_cast<unsigned>(seconds) + 30); // bounded, whatever the server does

    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr)
        return usage("SSL_CTX_new failed");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    // Sessions are kept by hand (one per thread), not in OpenSSL's client cache.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    static constexpr unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);

    counts c;
    const auto t0 = clock_type::now();
    const auto end = t0 + std::chrono::seconds(seconds);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(connections));
    for (int i = 0; i < connections; ++i)
        threads.emplace_back(worker, ctx, static_cast<std::uint16_t>(port), resume, end,
                             std::ref(c));
    for (auto& t : threads)
        t.join();
    const double elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
    SSL_CTX_free(ctx);
    std::printf("handshakes %llu resumed %llu failed %llu seconds %.2f per_second %.0f\n",
                static_cast<unsigned long long>(c.done.load()),
                static_cast<unsigned long long>(c.resumed.load()),
                static_cast<unsigned long long>(c.failed.load()), elapsed,
                static_cast<double>(c.done.load()) / elapsed);
    return 0;
}
