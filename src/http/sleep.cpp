// SPDX-License-Identifier: MIT
#include "sleep_end.hpp"

#include <baton/http/sleep.hpp>

#include <boost/asio/deferred.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

namespace baton::http {

boost::asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d)
{
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                    detail::sleep_end(std::chrono::steady_clock::now(), d));
    co_await timer.async_wait(boost::asio::deferred); // awaited in place: no frame of its own
}

} // namespace baton::http
