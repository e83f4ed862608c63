#pragma once
// SPDX-License-Identifier: MIT

// The two handler forms: a coroutine (primary) and a plain function run on a worker pool.

#include <baton/http/response_writer.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>

namespace baton::http {

/// A complete request, body included (decoded from chunked when it was).
using request = boost::beast::http::request<boost::beast::http::string_body>;

/// A coroutine handler, run on the connection's event loop. `req` and `w` live until it ends.
using handler = std::function<boost::asio::awaitable<void>(const request& req, response_writer& w)>;

/// A plain (possibly blocking) handler, run on the bounded worker pool, never on an event loop.
using blocking_handler = std::function<void(const request& req, response_writer& w)>;

} // namespace baton::http
