#pragma once
// SPDX-License-Identifier: MIT

// A readiness probe a load balancer or Kubernetes can poll: 200 while the server serves,
// 503 from the moment its stop began (server::leave_pool(), serve_options::drain_delay,
// shutdown()).

#include <baton/http/handler.hpp>

#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace baton::http {

/** Answer `req` if it is a `GET` or `HEAD` of `path` (the query ignored): `200 ready` while
    the server serves, `503 draining` once w.is_draining(); `text/plain`, `Cache-Control:
    no-store`. Returns false, writing nothing, for any other request. Call it first in a
    handler: `if (answer_readiness(req, w)) co_return;` costs one comparison per request. */
bool answer_readiness(const request& req, response_writer& w, std::string_view path = "/readyz");

/// `next` behind the readiness probe at `path`: a handler of the same form (coroutine or
/// plain function) that answers the probe and hands every other request to `next`.
template <request_handler F>
auto with_readiness(F next, std::string path = "/readyz")
{
    using result = std::invoke_result_t<F&, const request&, response_writer&>;
    if constexpr (std::is_same_v<result, boost::asio::awaitable<void>>) {
        return [next = std::move(next), path = std::move(path)](
                   const request& req, response_writer& w) -> boost::asio::awaitable<void> {
            if (!answer_readiness(req, w, path))
                co_await next(req, w);
        };
    } else {
        return [next = std::move(next), path = std::move(path)](const request& req,
                                                                response_writer& w) {
            if (!answer_readiness(req, w, path))
                next(req, w);
        };
    }
}

} // namespace baton::http
