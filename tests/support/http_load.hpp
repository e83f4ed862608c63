#pragma once
// SPDX-License-Identifier: MIT

// HTTP load for restart-under-load tests: client threads sending GET with keep-alive, GET
// over HTTP/1.0 (a connection per request, as ab does) and POST with a body and keep-alive,
// back to back, until told to stop. Every response must be complete, 2xx and carry the
// expected body; anything else is counted as a failure and kept (the first few) for the
// assertion message. Correctness only: speed is measured in bench/.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace baton::test {

enum class load_kind { get_keep_alive, get_close, post_keep_alive };

inline constexpr std::array<load_kind, 3> every_load_kind{
    load_kind::get_keep_alive, load_kind::get_close, load_kind::post_keep_alive};

/// "GET keep-alive", "GET HTTP/1.0", "POST keep-alive".
std::string_view to_string(load_kind kind);

/// The bytes a client of `kind` sends for each request (the POST carries a 1 KiB body).
std::string request_for(load_kind kind);

/// What the load saw, shared by its threads.
struct load_tally {
    std::atomic<int> completed{0};
    std::atomic<int> failed{0};
    std::atomic<int> non_2xx{0};               ///< complete responses that were wrong
    std::array<std::atomic<int>, 3> by_kind{}; ///< completed, indexed by load_kind
    std::atomic<int> closes_on_keep_alive{0};  ///< `Connection: close` while keeping alive

    void fail(std::string what);

    /// The first failures, one per line, for an assertion message.
    std::string failure_report();

private:
    std::mutex mutex_;
    std::vector<std::string> failures_;
};

/// One client: requests of `kind` to 127.0.0.1:port back to back until `is_done` (bounded by
/// `max_requests`), each answered within `timeout`; a new connection when the last one
/// closed, failed or is not kept alive.
void run_load_client(std::uint16_t port, load_kind kind, int max_requests,
                     const std::atomic<bool>& is_done, load_tally& t,
                     std::string_view expected_body,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// `clients_per_kind` clients of every kind, started at once and stopped (joined) by
/// `stop()` or the destructor, so a failing assertion never leaves a thread running.
class http_load {
public:
    http_load(std::uint16_t port, int clients_per_kind, int max_requests_each,
              std::string expected_body);
    http_load(const http_load&) = delete;
    http_load& operator=(const http_load&) = delete;
    ~http_load();

    load_tally& tally() noexcept { return tally_; }

    /// Tell every client to stop after its current request, and join them.
    void stop();

private:
    std::string expected_body_;
    load_tally tally_;
    std::atomic<bool> is_done_{false};
    std::vector<std::thread> clients_;
};

} // namespace baton::test
