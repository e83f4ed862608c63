#pragma once
// SPDX-License-Identifier: MIT

// The two handler forms: a coroutine (primary) and a plain function run on a worker pool.

#include <baton/http/response_writer.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>
#include <type_traits>
#include <utility>

namespace baton::http {

/// A complete request, body included (decoded from chunked when it was).
using request = boost::beast::http::request<boost::beast::http::string_body>;

/// A coroutine handler, run on the connection's event loop. `req` and `w` live until it ends.
using handler = std::function<boost::asio::awaitable<void>(const request& req, response_writer& w)>;

/// A plain (possibly blocking) handler, run on the bounded worker pool, never on an event loop.
using blocking_handler = std::function<void(const request& req, response_writer& w)>;

/// A callable that can serve requests: a coroutine handler or a plain function.
template <class F>
concept request_handler = std::is_invocable_v<F&, const request&, response_writer&>;

namespace detail {

/// One of the two forms, the other empty.
struct handlers {
    handler coroutine;
    blocking_handler plain;
};

/// Sort a callable by what it returns: an awaitable is a coroutine handler.
template <request_handler F>
handlers make_handlers(F&& f)
{
    using result = std::invoke_result_t<F&, const request&, response_writer&>;
    if constexpr (std::is_same_v<result, boost::asio::awaitable<void>>)
        return {handler(std::forward<F>(f)), {}};
    else
        return {{}, blocking_handler(std::forward<F>(f))};
}

} // namespace detail

} // namespace baton::http
