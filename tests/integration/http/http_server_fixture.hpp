#pragma once
// SPDX-License-Identifier: MIT
// What baton::http's loopback tests share: a raw client's helpers and a server with the seed's
// handlers (slow, stuck, flushed) on 127.0.0.1 port 0.
#include "support/child_process.hpp"
#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <baton/http/server.hpp>
#include <baton/http/sleep.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <optional>
#include <string>
#include <string_view>

namespace baton::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using baton::http::request;
using baton::http::response_writer;

/// A connection to the server under test, spoken to in raw HTTP/1.x.
inline raw_connection connect(std::uint16_t port)
{
    return raw_connection(connect_tcp(ip_family::v4, port));
}

/** POST a body of `size` bytes: the header, then the whole body (however early the server
    answers), then read the response. */
inline ::testing::AssertionResult post_large_body(raw_connection& c, std::size_t size,
                                                  read_result& r)
{
    if (auto ec = c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                         std::to_string(size) + "\r\n\r\n"))
        return ::testing::AssertionFailure() << "header not sent: " << ec.message();
    if (auto ec = c.send(std::string(size, 'p')))
        return ::testing::AssertionFailure() << "body not sent: " << ec.message();
    r = c.read_response();
    if (!r.is_complete())
        return ::testing::AssertionFailure() << r.outcome << ' ' << r.detail;
    return ::testing::AssertionSuccess();
}

/// The server closed with a FIN and sent nothing more: no reset, no stray bytes.
inline ::testing::AssertionResult ends_with_clean_close(raw_connection& c)
{
    auto eof = c.read_until_eof();
    if (eof.outcome != read_outcome::closed)
        return ::testing::AssertionFailure() << "ended " << eof.outcome;
    if (!eof.data.empty())
        return ::testing::AssertionFailure() << "extra bytes: " << eof.data;
    return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------------
// The server under test, with the seed's handlers.

struct fixture {
    baton::http::options opts;
    std::atomic<int> entered{0};
    std::atomic<int> flushed{0};
    std::atomic<bool> has_shutdown_begun{false};
    std::optional<baton::http::server> server;
    std::uint16_t port = 0;

    /// `tls`: serve HTTPS with it instead (tls_test.cpp).
    explicit fixture(baton::http::options o = defaults(),
                     const baton::http::tls_config* tls = nullptr)
        : opts(std::move(o))
    {
        server.emplace(opts,
                       [this](const request& req, response_writer& w) -> asio::awaitable<void> {
                           return handle(req, w);
                       });
        if (tls != nullptr)
            server->listen("127.0.0.1", 0, *tls);
        else
            server->listen("127.0.0.1", 0);
        port = server->local_ports().at(0);
        server->on_shutdown([this] { has_shutdown_begun = true; });
        server->start();
    }

    static baton::http::options defaults()
    {
        baton::http::options o;
        o.threads = 2;
        o.drain_grace = 1s;
        o.on_error = [](const boost::system::error_code&, std::string_view) {};
        return o;
    }

    asio::awaitable<void> handle(const request& req, response_writer& w)
    {
        entered.fetch_add(1);
        auto target = std::string(req.target());
        if (target == "/slow") {
            co_await baton::http::sleep_for(300ms);
            w.write("slow done");
        } else if (target == "/stuck") {
            co_await baton::http::sleep_for(30s);
        } else if (target == "/hello") {
            w.write("Hello, ");
            co_await w.flush();
            flushed.fetch_add(1);
            co_await baton::http::sleep_for(100ms);
            w.write("world!\n");
        } else {
            w.write("ok " + target);
        }
    }

    /// shutdown() on another thread, as a signal handler thread would.
    std::future<boost::system::error_code> shutdown_async(std::chrono::milliseconds timeout = 10s)
    {
        auto f =
            std::async(std::launch::async, [this, timeout] { return server->shutdown(timeout); });
        EXPECT_TRUE(wait_until([&] { return has_shutdown_begun.load(); }, 5s));
        return f;
    }
};

inline constexpr std::string_view get_a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";

} // namespace baton::test
