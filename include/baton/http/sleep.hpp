#pragma once
// SPDX-License-Identifier: MIT

// An awaitable sleep for coroutine handlers: the event loop keeps serving meanwhile.

#include <boost/asio/awaitable.hpp>

#include <chrono>

namespace baton::http {

/// Suspend the calling coroutine for `d` on its executor's timer.
boost::asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d);

} // namespace baton::http
