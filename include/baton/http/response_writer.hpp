#pragma once
// SPDX-License-Identifier: MIT

// What a handler writes its response to: status, fields, body, and flush().

#include <baton/http/detail/response_state.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>

#include <string>
#include <string_view>

namespace baton::http {

/** The response of one request. Buffered until `flush()` or the handler's end; a response
    never flushed gets a `Content-Length`. After the first flush, an HTTP/1.1 response is
    chunked and an HTTP/1.0 one is close-delimited. `Connection`, `Content-Length` and
    `Transfer-Encoding` are the server's to set. Not thread-safe: one handler owns it. */
class response_writer {
public:
    response_writer(detail::response_state& state, detail::response_sink* sink) noexcept
        : state_(&state)
        , sink_(sink)
    {}

    /// Set the status (before the first flush).
    void status(boost::beast::http::status s) noexcept { state_->status = s; }

    boost::beast::http::status status() const noexcept { return state_->status; }

    /// Set a field (before the first flush); replaces a field of the same name.
    void set(boost::beast::http::field name, std::string_view value);

    /// ditto, by name.
    void set(std::string_view name, std::string_view value);

    /// The fields to send (before the first flush).
    boost::beast::http::fields& fields() noexcept { return state_->fields; }

    /// Append to the body.
    void write(std::string_view data) { state_->body.append(data); }

    /** Send the header (the first time) and what was written since the last flush.
        Only for coroutine handlers; plain-function handlers have their response buffered.
        @throws boost::system::system_error when the client is gone or too slow. */
    boost::asio::awaitable<void> flush();

    /// True once the header went out (the status and fields can no longer change).
    bool is_header_sent() const noexcept { return state_->is_header_sent; }

    /// True once the server left the pool or began its shutdown (server::is_draining()):
    /// a handler may then answer a health check with 503 or cut a long stream short.
    bool is_draining() const noexcept;

private:
    detail::response_state* state_;
    detail::response_sink* sink_;
};

} // namespace baton::http
