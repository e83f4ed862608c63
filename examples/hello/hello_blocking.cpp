// SPDX-License-Identifier: MIT
// The seed worker's naive form: a plain function that blocks 100 ms. It runs on the worker
// pool (never on an event loop), so 1000 concurrent requests need 1000 workers (the default;
// `--workers N` for another count). The address is the other argument (default
// 127.0.0.1:8080), unless start_server hands down sockets.
#include <baton/http/serve.hpp>
#include <baton/http/server.hpp>

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

int main(int argc, char** argv)
{
    using namespace std::chrono_literals;
    baton::http::options opts;
    opts.worker_threads = 1000;
    std::string_view address = "127.0.0.1:8080";
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--workers" && i + 1 < argc)
            opts.worker_threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
        else
            address = arg;
    }
    opts.on_error = [](const boost::system::error_code& ec, std::string_view what) {
        std::fprintf(stderr, "hello_blocking: %.*s: %s\n", static_cast<int>(what.size()),
                     what.data(), ec.message().c_str());
    };
    baton::http::server server(opts,
                               [](const baton::http::request&, baton::http::response_writer& w) {
                                   w.set(boost::beast::http::field::content_type, "text/plain");
                                   w.write("Hello, ");
                                   std::this_thread::sleep_for(100ms);
                                   w.write("baton!\n");
                               });
    try {
        server.listen_or_inherit(address);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hello_blocking: %s\n", e.what());
        return 111;
    }
    baton::http::serve_options serve;
    serve.drain_timeout = 5s;
    auto ec = baton::http::serve_until_signal(server, serve);
    if (ec)
        std::fprintf(stderr, "hello_blocking: %s\n", ec.message().c_str());
    return ec ? 1 : 0;
}
