#pragma once
// SPDX-License-Identifier: MIT

// What a handler writes its response to: status, fields, body, and flush().

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>

#include <string>
#include <string_view>

namespace baton::http {

namespace detail {

/// How the body of a response is delimited on the wire.
enum class body_mode { none, content_length, chunked, close_delimited };

/// The response as it is being built; owned by the connection.
struct response_state {
    boost::beast::http::status status = boost::beast::http::status::ok;
    boost::beast::http::fields fields;
    std::string body;             ///< written but not yet sent
    unsigned version = 11;        ///< of the request: 10 or 11
    bool is_head = false;         ///< a HEAD request: no body on the wire
    bool wants_keep_alive = true; ///< what the request allows
    bool is_header_sent = false;
    bool is_keep_alive = false; ///< as sent in the header
    body_mode mode = body_mode::none;
};

/// The connection side of flush().
class response_sink {
public:
    virtual boost::asio::awaitable<void> flush(response_state& rs) = 0;

protected:
    ~response_sink() = default;
};

} // namespace detail

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

private:
    detail::response_state* state_;
    detail::response_sink* sink_;
};

} // namespace baton::http
