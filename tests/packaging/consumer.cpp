// SPDX-License-Identifier: MIT
// A program built with `pkg-config --cflags --libs baton` only: baton::http (so baton.pc's
// Boost definitions must match the library's), baton::listener and baton::notify.
#include <baton/http/server.hpp>
#include <baton/listener.hpp>
#include <baton/notify.hpp>

#include <cstdio>

int main()
{
    if (baton::listener::format_port_env(baton::listener::parse_port_env("127.0.0.1:8080=3")) !=
        "127.0.0.1:8080=3")
        return 1;
    std::error_code ec;
    baton::notify::send_to("/nonexistent/notify.sock", "READY=1", ec);
    if (!ec)
        return 1; // nobody listens there: the error must come through
    baton::http::server server(
        {}, [](const baton::http::request&, baton::http::response_writer& w) { w.write("ok\n"); });
    server.listen("127.0.0.1", 0);
    if (server.local_ports().empty() || server.local_ports().front() == 0)
        return 1;
    std::puts("consumer: ok");
    return 0;
}
