#pragma once
// SPDX-License-Identifier: MIT

// An awaitable sleep for coroutine handlers: the event loop keeps serving meanwhile.

#include <boost/asio/awaitable.hpp>

#include <chrono>

namespace baton::http {

/** Suspend the calling coroutine for `d` on its executor's timer; never less. A sleep of
    16 ms or more ends on the next whole millisecond of the steady clock after `d` (at most
    1 ms late): the sleeps that end in the same millisecond then cost their loop one wake-up
    between them instead of one each. */
boost::asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d);

} // namespace baton::http
