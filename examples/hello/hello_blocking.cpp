// SPDX-License-Identifier: MIT
// The seed worker's naive form: a plain function that blocks 100 ms. It runs on the worker
// pool (never on an event loop), so 1000 concurrent requests need worker_threads = 1000.
#include <baton/http/serve.hpp>
#include <baton/http/server.hpp>

#include <cstdio>
#include <string_view>
#include <thread>

int main(int argc, char** argv)
{
    using namespace std::chrono_literals;
    baton::http::options opts;
    opts.worker_threads = 1000;
    opts.on_error = [](const boost::system::error_code& ec, std::string_view what) {
        std::fprintf(stderr, "hello_blocking: %.*s: %s\n", static_cast<int>(what.size()),
                     what.data(), ec.message().c_str());
    };
    baton::http::server server(opts,
                               [](const baton::http::request&, baton::http::response_writer& w) {
                                   w.write("Hello, ");
                                   std::this_thread::sleep_for(100ms);
                                   w.write("baton!\n");
                               });
    try {
        server.listen_or_inherit(argc > 1 ? std::string_view(argv[1]) : "127.0.0.1:8080");
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
