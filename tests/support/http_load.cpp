// SPDX-License-Identifier: MIT
#include "support/http_load.hpp"

#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <optional>
#include <system_error>
#include <utility>

namespace baton::test {

std::string_view to_string(load_kind kind)
{
    switch (kind) {
    case load_kind::get_keep_alive:
        return "GET keep-alive";
    case load_kind::get_close:
        return "GET HTTP/1.0";
    case load_kind::post_keep_alive:
        break;
    }
    return "POST keep-alive";
}

std::string request_for(load_kind kind)
{
    switch (kind) {
    case load_kind::get_keep_alive:
        return make_get_request("/");
    case load_kind::get_close:
        return "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
    case load_kind::post_keep_alive:
        break;
    }
    const std::string body(1024, 'x');
    return "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

void load_tally::fail(std::string what)
{
    ++failed;
    const std::lock_guard lock(mutex_);
    if (failures_.size() < 10)
        failures_.push_back(std::move(what));
}

std::string load_tally::failure_report()
{
    const std::lock_guard lock(mutex_);
    std::string report;
    for (const auto& line : failures_)
        report += "  " + line + "\n";
    return report;
}

void run_load_client(std::uint16_t port, load_kind kind, int max_requests,
                     const std::atomic<bool>& is_done, load_tally& t,
                     std::string_view expected_body, std::chrono::milliseconds timeout)
{
    const std::string request = request_for(kind);
    const std::string name(to_string(kind));
    std::optional<raw_connection> conn;
    for (int i = 0; i < max_requests && !is_done; ++i) {
        if (!conn) {
            std::error_code ec;
            unique_fd fd = connect_tcp("127.0.0.1", port, ec);
            if (!fd) {
                t.fail(name + ": connect: " + ec.message());
                continue;
            }
            conn.emplace(std::move(fd));
        }
        const auto sent = conn->send(request);
        const auto r = sent ? read_result{} : conn->read_response(timeout);
        if (sent || !r.is_complete()) {
            t.fail(name + ": " + (sent ? sent.message() : r.detail) + " (" +
                   std::string(to_string(r.outcome)) + ")");
            conn.reset();
            continue;
        }
        const bool is_right = r.response.status / 100 == 2 && r.response.body == expected_body;
        if (!is_right) {
            ++t.non_2xx;
            t.fail(name + ": " + r.response.status_line + " body \"" + r.response.body + "\"");
        } else {
            ++t.completed;
            ++t.by_kind.at(static_cast<std::size_t>(kind));
        }
        const bool is_closing = r.response.is_connection_close();
        if (is_closing && kind != load_kind::get_close)
            ++t.closes_on_keep_alive;
        // a client drops a connection that gave an error, as browsers and ab do
        if (!is_right || kind == load_kind::get_close || is_closing)
            conn.reset();
    }
}

http_load::http_load(std::uint16_t port, int clients_per_kind, int max_requests_each,
                     std::string expected_body)
    : expected_body_(std::move(expected_body))
{
    for (auto kind : every_load_kind)
        for (int i = 0; i < clients_per_kind; ++i)
            clients_.emplace_back(run_load_client, port, kind, max_requests_each,
                                  std::cref(is_done_), std::ref(tally_),
                                  std::string_view(expected_body_),
                                  std::chrono::milliseconds(std::chrono::seconds(10)));
}

http_load::~http_load()
{
    stop();
}

void http_load::stop()
{
    is_done_ = true;
    for (auto& c : clients_)
        c.join();
    clients_.clear();
}

} // namespace baton::test
