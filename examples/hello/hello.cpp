// SPDX-License-Identifier: MIT
// The seed worker: "Hello, ", a flush, 100 ms on an awaitable timer, then "baton!\n".
// Serves the sockets start_server hands down (or the address in argv[1], default
// 127.0.0.1:8080) until SIGTERM, then drains. `--no-flush` skips the flush (the response
// then gets a Content-Length, so HTTP/1.0 keep-alive clients such as `ab -k` stay alive).
// `--threads N` runs N event-loop threads (default: one per core). `GET /readyz` is the
// readiness probe; `--drain-delay=SECONDS` keeps serving that long after SIGTERM with the
// probe at 503 (alone behind a load balancer; ignored under start_server).
// `--tls-cert=FILE --tls-key=FILE [--tls-ticket-keys=FILE]...` serve HTTPS instead (the
// ticket-key files in nginx's 80-byte format, the first one encrypting).
#include <baton/http/readiness.hpp>
#include <baton/http/serve.hpp>
#include <baton/http/server.hpp>
#include <baton/http/sleep.hpp>
#include <baton/http/tls.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace {

constexpr const char* usage =
    "usage: hello [ADDRESS] [--threads N] [--no-flush] [--drain-delay=SECONDS]\n"
    "             [--tls-cert=FILE --tls-key=FILE [--tls-ticket-keys=FILE]...]\n"
    "Serves \"Hello, baton!\" (a flush and 100 ms between the two words) on the sockets\n"
    "start_server hands down, or else on ADDRESS (default 127.0.0.1:8080); GET /readyz is\n"
    "the readiness probe; SIGTERM drains.\n";

// Seconds as text (`2`, `0.5`) → milliseconds; false when it is not a number from 0 to a day.
bool parse_seconds(std::string_view text, std::chrono::milliseconds& out)
{
    const std::string s(text);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0 || v > 86'400)
        return false;
    out = std::chrono::milliseconds(std::llround(v * 1000));
    return true;
}

/// What the command line asks for.
struct hello_args {
    std::string_view address = "127.0.0.1:8080";
    bool is_flushing = true;
    baton::http::options opts;
    baton::http::serve_options serve;
    baton::http::tls_config tls;
};

/// The command line into `a`; an exit status when hello is not to serve (a bad option: its
/// one line on stderr, 2; --help: the usage on stdout, 0).
std::optional<int> parse_args(int argc, char** argv, hello_args& a)
{
    auto& [address, is_flushing, opts, serve, tls] = a;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.starts_with("--tls-cert=")) {
            tls.cert_chain_file = arg.substr(arg.find('=') + 1);
        } else if (arg.starts_with("--tls-key=")) {
            tls.key_file = arg.substr(arg.find('=') + 1);
        } else if (arg.starts_with("--tls-ticket-keys=")) {
            tls.ticket_key_files.emplace_back(arg.substr(arg.find('=') + 1));
        } else if (arg == "--drain-delay" || arg.starts_with("--drain-delay=")) {
            const std::string_view v = arg == "--drain-delay" ? (i + 1 < argc ? argv[++i] : "")
                                                              : arg.substr(arg.find('=') + 1);
            if (!parse_seconds(v, serve.drain_delay)) {
                std::fprintf(stderr, "hello: --drain-delay wants seconds from 0 to 86400\n");
                return 2;
            }
        } else if (arg == "--no-flush") {
            is_flushing = false;
        } else if (arg == "--threads") {
            std::string_view n = i + 1 < argc ? argv[++i] : "";
            auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), opts.threads);
            if (ec != std::errc{} || end != n.data() + n.size() || opts.threads > 1024) {
                std::fprintf(stderr, "hello: --threads wants a number from 0 to 1024\n");
                return 2;
            }
        } else if (arg == "--help" || arg == "-h") {
            std::fputs(usage, stdout);
            return 0;
        } else if (arg.starts_with("-")) {
            std::fprintf(stderr, "hello: unknown option %.*s (hello --help)\n",
                         static_cast<int>(arg.size()), arg.data());
            return 2;
        } else {
            address = arg;
        }
    }
    const bool is_tls = !tls.cert_chain_file.empty() || !tls.key_file.empty();
    if (is_tls && (tls.cert_chain_file.empty() || tls.key_file.empty())) {
        std::fprintf(stderr, "hello: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (!is_tls && !tls.ticket_key_files.empty()) {
        std::fprintf(stderr, "hello: --tls-ticket-keys wants --tls-cert and --tls-key\n");
        return 2;
    }
    return std::nullopt;
}

} // namespace

int main(int argc, char** argv)
{
    using namespace std::chrono_literals;
    hello_args args;
    args.serve.drain_timeout = 5s;
    if (auto status = parse_args(argc, argv, args))
        return *status;
    auto& [address, flushing, opts, serve, tls] = args;
    const bool is_flushing = flushing; // a variable: clang's C++20 captures no binding
    const bool is_tls = !tls.cert_chain_file.empty();
    opts.defer_accept = true; // the kernel hands a connection over with its request
    opts.on_error = [](const boost::system::error_code& ec, std::string_view what) {
        std::fprintf(stderr, "hello: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
                     ec.message().c_str());
    };
    baton::http::server server(
        opts,
        [is_flushing](const baton::http::request& req,
                      baton::http::response_writer& w) -> boost::asio::awaitable<void> {
            if (baton::http::answer_readiness(req, w))
                co_return;
            w.set(boost::beast::http::field::content_type, "text/plain");
            w.write("Hello, ");
            if (is_flushing)
                co_await w.flush();
            co_await baton::http::sleep_for(100ms);
            w.write("baton!\n");
        });
    try {
        if (is_tls)
            server.listen_or_inherit(address, tls);
        else
            server.listen_or_inherit(address);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hello: %s\n", e.what());
        return 111;
    }
    auto ec = baton::http::serve_until_signal(server, serve);
    if (ec)
        std::fprintf(stderr, "hello: %s\n", ec.message().c_str());
    return ec ? 1 : 0;
}
