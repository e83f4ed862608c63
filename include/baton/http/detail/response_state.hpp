#pragma once
// SPDX-License-Identifier: MIT

// The wire state of a response behind response_writer: framing, keep-alive, the connection
// side of flush(). Not for handlers; it changes with the framing.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/status.hpp>

#include <string>

namespace baton::http::detail {

class server_state;

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
    const server_state* server = nullptr; ///< whose drain response_writer::is_draining() reads
};

/// The connection side of flush().
class response_sink {
public:
    virtual boost::asio::awaitable<void> flush(response_state& rs) = 0;

protected:
    ~response_sink() = default;
};

} // namespace baton::http::detail
