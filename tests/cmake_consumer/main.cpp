// SPDX-License-Identifier: MIT
#include <baton/listener.hpp>
#include <baton/notify.hpp>

#include <cstdio>

int main()
{
    const auto entries = baton::listener::parse_port_env("127.0.0.1:8080=3;/run/a.sock=4");
    if (baton::listener::format_port_env(entries) != "127.0.0.1:8080=3;/run/a.sock=4")
        return 1;
    std::error_code ec;
    baton::notify::send_to("/nonexistent/notify.sock", "READY=1", ec);
    if (!ec)
        return 1; // nobody listens there: the error must come through
    std::puts("consumer: ok");
    return 0;
}
