// SPDX-License-Identifier: MIT
// The hello server of bench/http/run.sh, on one event-loop thread.
//   hello_bench_server serve [PORT] [TLS OPTIONS]
//                                    answers "Hello, world!" (13 bytes) on 127.0.0.1:PORT (0:
//                                    any), prints "port N", drains on SIGTERM/SIGINT. Over
//                                    HTTPS with --tls-cert=FILE --tls-key=FILE, and then
//                                    --tls-min=1.2|1.3, --tls-ciphers=LIST (1.2),
//                                    --tls-ciphersuites=LIST (1.3), --tls-ticket-keys=FILE...
//                                    set the tls_config's fields of the same names, so that
//                                    bench/http/run.sh pins what nginx is pinned to.
//   hello_bench_server drain [N]     opens N keep-alive connections to itself, each with a
//                                    request in flight (a handler that answers 20 ms after
//                                    shutdown began), calls shutdown() and prints the drain
//                                    time: from the last response the clients read to
//                                    shutdown() returning.
#include "connect_loopback.hpp"

#include <baton/http/serve.hpp>
#include <baton/http/server.hpp>
#include <baton/http/sleep.hpp>
#include <baton/http/tls.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::string_view hello = "Hello, world!";

int fail(const char* what)
{
    std::fprintf(stderr, "hello_bench_server: %s\n", what);
    return 111;
}

struct serve_args {
    std::uint16_t port = 0;
    std::optional<baton::http::tls_config> tls; // set by any --tls-* option
};

// `serve`'s arguments (argv after the mode); a one-line error on stderr and nullopt when
// one is not understood.
std::optional<serve_args> parse_serve(int argc, char** argv)
{
    serve_args out;
    bool has_port = false;
    for (int i = 0; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const auto eq = arg.find('=');
        const std::string_view name = arg.substr(0, eq);
        const std::string value(eq == std::string_view::npos ? "" : arg.substr(eq + 1));
        if (!arg.starts_with("--")) {
            unsigned port = 0;
            auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), port);
            if (has_port || ec != std::errc{} || end != arg.data() + arg.size() || port > 65535) {
                std::fprintf(stderr, "hello_bench_server: bad port \"%s\"\n", argv[i]);
                return std::nullopt;
            }
            out.port = static_cast<std::uint16_t>(port);
            has_port = true;
            continue;
        }
        if (eq == std::string_view::npos || value.empty()) {
            std::fprintf(stderr, "hello_bench_server: %s wants =VALUE\n", argv[i]);
            return std::nullopt;
        }
        auto& tls = out.tls ? *out.tls : out.tls.emplace();
        if (name == "--tls-cert") {
            tls.cert_chain_file = value;
        } else if (name == "--tls-key") {
            tls.key_file = value;
        } else if (name == "--tls-ticket-keys") {
            tls.ticket_key_files.push_back(value);
        } else if (name == "--tls-ciphers") {
            tls.ciphers = value;
        } else if (name == "--tls-ciphersuites") {
            tls.ciphersuites = value;
        } else if (name == "--tls-min" && (value == "1.2" || value == "1.3")) {
            tls.min_version = value == "1.3" ? baton::http::tls_version::tls1_3
                                             : baton::http::tls_version::tls1_2;
        } else {
            std::fprintf(stderr, "hello_bench_server: unknown option %s\n", argv[i]);
            return std::nullopt;
        }
    }
    if (out.tls && (out.tls->cert_chain_file.empty() || out.tls->key_file.empty())) {
        std::fprintf(stderr, "hello_bench_server: TLS wants --tls-cert and --tls-key\n");
        return std::nullopt;
    }
    return out;
}

int serve(const serve_args& args)
{
    baton::http::options opts;
    opts.threads = 1;
    baton::http::server server(opts,
                               [](const baton::http::request&,
                                  baton::http::response_writer& w) -> boost::asio::awaitable<void> {
                                   w.write(hello);
                                   co_return;
                               });
    if (args.tls)
        server.listen("127.0.0.1", args.port, *args.tls);
    else
        server.listen("127.0.0.1", args.port);
    std::printf("port %u\n", static_cast<unsigned>(server.local_ports().at(0)));
    std::fflush(stdout);
    baton::http::serve_options serve;
    serve.drain_timeout = std::chrono::seconds(5);
    auto ec = baton::http::serve_until_signal(server, serve);
    return ec ? 1 : 0;
}

int drain(int n)
{
    using namespace std::chrono_literals;
    std::atomic<int> entered{0};
    std::atomic<bool> stopping{false};
    baton::http::options opts;
    opts.threads = 1;
    // Every response waits for the shutdown: one written before it would leave its connection
    // idle, and an idle connection is given the whole drain_grace (1 s) to bring another
    // request. (With a plain 20 ms handler, a loaded machine that took over 20 ms to get the
    // N requests in made this bench measure the grace, not the drain: ~1 s.)
    baton::http::server server(
        opts,
        [&entered, &stopping](const baton::http::request&,
                              baton::http::response_writer& w) -> boost::asio::awaitable<void> {
            entered.fetch_add(1, std::memory_order_relaxed);
            for (int i = 0; i < 10'000 && !stopping.load(); ++i)
                co_await baton::http::sleep_for(1ms);
            co_await baton::http::sleep_for(20ms);
            w.write(hello);
        });
    server.on_shutdown([&stopping] { stopping.store(true); });
    server.listen("127.0.0.1", 0);
    server.start();
    const auto port = server.local_ports().at(0);

    std::vector<pollfd> fds;
    const std::string req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (int i = 0; i < n; ++i) {
        int fd = connect_loopback(port);
        if (fd < 0 || ::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size()))
            return fail("connect/write failed");
        fds.push_back({fd, POLLIN, 0});
    }
    // The clients: read each response and then EOF (the server closes after
    // `Connection: close`), recording when the last response arrived.
    clock_type::time_point last_response{};
    std::thread clients([&] {
        std::vector<bool> got(fds.size(), false);
        std::size_t open = fds.size();
        const auto give_up = clock_type::now() + 10s;
        char buf[4096];
        while (open > 0 && clock_type::now() < give_up) {
            if (::poll(fds.data(), fds.size(), 100) <= 0)
                continue;
            for (std::size_t i = 0; i < fds.size(); ++i) {
                if (fds[i].fd < 0 || fds[i].revents == 0)
                    continue;
                ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
                if (r > 0 && !got[i]) {
                    got[i] = true;
                    last_response = std::max(last_response, clock_type::now());
                } else if (r <= 0) {
                    ::close(fds[i].fd);
                    fds[i].fd = -1;
                    --open;
                }
            }
        }
    });
    const auto wait_until = clock_type::now() + 5s;
    while (entered.load() < n && clock_type::now() < wait_until)
        std::this_thread::sleep_for(100us);
    if (entered.load() < n) {
        server.close();
        clients.join();
        return fail("requests did not reach the handler");
    }
    const auto t0 = clock_type::now();
    auto ec = server.shutdown(5s);
    const auto t1 = clock_type::now();
    clients.join();
    if (ec)
        server.close();
    server.join();
    auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
    std::printf("drain_ms %.3f shutdown_ms %.3f served %llu timeout %d\n", ms(t1 - last_response),
                ms(t1 - t0), static_cast<unsigned long long>(server.stats().requests_served),
                ec ? 1 : 0);
    return ec ? 1 : 0;
}

} // namespace

int main(int argc, char** argv)
{
    std::string_view mode = argc > 1 ? argv[1] : "serve";
    try {
        if (mode == "serve") {
            const auto args = parse_serve(argc > 2 ? argc - 2 : 0, argv + 2);
            return args ? serve(*args) : 2;
        }
        if (mode == "drain")
            return drain(argc > 2 ? std::clamp(std::atoi(argv[2]), 1, 1000) : 100);
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    return fail("usage: hello_bench_server serve [PORT] [--tls-cert=F --tls-key=F "
                "[--tls-min=1.2|1.3] [--tls-ciphers=L] [--tls-ciphersuites=L] "
                "[--tls-ticket-keys=F]...] | drain [N]");
}
