#pragma once
// SPDX-License-Identifier: MIT

// connection<Stream>'s response path: the handler, the header's keep-alive and framing, the
// one send path of respond()'s end and of flush() (included by connection.hpp only).

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/system_error.hpp>

#include <utility>

namespace baton::http::detail {

namespace conn_impl {

/// The response buffer a connection keeps between responses (a header and a small body);
/// beyond it the buffer is freed once written.
inline constexpr std::size_t kept_out_capacity = 1024;

/// Room for a usual header (and a chunk's framing): the scratch buffer below is first made
/// with it (grown from empty, the seed's 150-byte response cost three allocations), and a
/// large response's buffer with it beside the body.
inline constexpr std::size_t first_out_capacity = 256;

/** Where a response whose body is no larger than kept_out_capacity is made, one per thread
    (every connection of a loop uses its loop's): it almost always leaves whole in the send
    that follows, and only what the socket did not take is copied to the connection's own
    buffer. So a response costs no allocation, and a connection holds no response buffer
    between its responses. What a large header grew it to is given back after the send.
    @throws std::bad_alloc */
inline std::string& out_scratch()
{
    thread_local std::string scratch;
    scratch.clear();
    if (scratch.capacity() < first_out_capacity)
        scratch.reserve(first_out_capacity);
    return scratch;
}

} // namespace conn_impl

template <class Stream>
boost::asio::awaitable<bool> connection<Stream>::respond(const request& req, bool is_in_grace)
{
    namespace bhttp = boost::beast::http;
    response_state rs;
    rs.version = req.version();
    rs.is_head = req.method() == bhttp::verb::head;
    rs.wants_keep_alive = req.keep_alive();
    rs.server = &st_;

    std::exception_ptr failure;
    if (st_.coroutine_handler) {
        response_writer w(rs, this);
        try {
            co_await st_.coroutine_handler(req, w);
        } catch (...) {
            failure = std::current_exception();
        }
    } else {
        // A plain function may block: it runs on the worker pool, never on this loop.
        response_writer w(rs, nullptr);
        try {
            co_await boost::asio::co_spawn(
                st_.pool()->get_executor(),
                [&]() -> boost::asio::awaitable<void> {
                    st_.plain_handler(req, w);
                    co_return;
                },
                boost::asio::use_awaitable);
        } catch (...) {
            failure = std::current_exception();
        }
    }
    if (is_forced_ || is_broken_)
        co_return false; // close() cut us, or a flush found the client gone
    if (failure) {
        std::string what = "handler threw";
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            what += ": ";
            what += e.what();
        } catch (...) {
        }
        st_.report(errc::handler_exception, what);
        if (rs.is_header_sent)
            co_return false; // too late for a 500: end the body abruptly
        rs.status = bhttp::status::internal_server_error;
        rs.fields.clear();
        rs.body = "Internal Server Error\n";
        rs.wants_keep_alive = false;
    }
    // The rest of the response: usually all of it leaves in send_now(), and then no coroutine
    // frame is made for the write (write_rest's is made only when the socket is full).
    std::string_view rest;
    auto ec = send_now(rs, true, rest);
    if (!ec && !rest.empty())
        ec = co_await write_rest(rest);
    give_back_out();
    if (ec)
        co_return false;
    st_.counters.requests_served.fetch_add(1, std::memory_order_relaxed);
    if (is_in_grace)
        st_.counters.requests_served_in_grace.fetch_add(1, std::memory_order_relaxed);
    co_return rs.is_keep_alive;
}

template <class Stream>
boost::asio::awaitable<void> connection<Stream>::flush(response_state& rs)
{
    std::string_view rest;
    auto ec = send_now(rs, false, rest);
    if (!ec && !rest.empty())
        ec = co_await write_rest(rest);
    give_back_out();
    if (ec)
        throw boost::system::system_error(ec, "flush");
}

template <class Stream>
boost::system::error_code connection<Stream>::send_now(response_state& rs, bool is_final,
                                                       std::string_view& rest)
{
    // A large body: one allocation, room for the header and its framing beside it.
    const std::size_t body_size = rs.is_head ? 0 : rs.body.size();
    std::string& out = body_size <= conn_impl::kept_out_capacity
                           ? conn_impl::out_scratch()
                           : take_out(body_size + conn_impl::first_out_capacity);
    if (!rs.is_header_sent)
        append_response_header(out, rs, is_final);
    if (!rs.is_head) {
        switch (rs.mode) {
        case body_mode::content_length:
        case body_mode::close_delimited:
            out += rs.body;
            break;
        case body_mode::chunked:
            append_chunk(out, rs.body);
            if (is_final)
                out += last_chunk;
            break;
        case body_mode::none:
            break;
        }
    }
    rs.body.clear();
    rest = out;
    if (rest.empty())
        return {};
    // The last response of its connection: its last segment waits (MSG_MORE) for the
    // shutdown that serve() does right after, and goes out with the FIN on it.
    auto ec = write_now(rest, is_final && !rs.is_keep_alive);
    if (&out != &out_) {
        if (!ec && !rest.empty()) {
            out_.assign(rest); // the rest is written later, from the connection's own
            rest = out_;
        }
        if (out.capacity() > conn_impl::kept_out_capacity)
            std::string().swap(out);
    }
    return ec;
}

template <class Stream>
void connection<Stream>::append_response_header(std::string& out, response_state& rs, bool is_final)
{
    // A whole body has a Content-Length; one still being written is chunked on HTTP/1.1 and
    // delimited by the close on HTTP/1.0.
    if (!status_has_body(rs.status))
        rs.mode = body_mode::none;
    else if (is_final)
        rs.mode = body_mode::content_length;
    else
        rs.mode = rs.version == 11 ? body_mode::chunked : body_mode::close_delimited;
    // Step 3: a response whose header is not written yet carries Connection: close once
    // shutdown began (or the server left the pool), unless more pipelined requests are
    // already here (they are answered too, and the last response carries it).
    rs.is_keep_alive = rs.wants_keep_alive && rs.mode != body_mode::close_delimited &&
                       (!st_.is_leaving() || has_pending_request());
    append_header(out, rs, rs.mode, rs.is_keep_alive, rs.body.size(), st_.keep_alive_hint_s,
                  st_.opts.date);
    rs.is_header_sent = true;
}

template <class Stream>
boost::system::error_code connection<Stream>::write_now(std::string_view& data,
                                                        bool is_last) noexcept
{
    if (is_broken_ || is_forced_)
        return boost::asio::error::operation_aborted;
    boost::system::error_code ec;
    data.remove_prefix(traits::try_write(stream_, data, ec, is_last));
    if (ec)
        is_broken_ = true;
    return ec;
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code>
connection<Stream>::write_rest(std::string_view data)
{
    if (is_broken_ || is_forced_)
        co_return boost::asio::error::operation_aborted;
    deadline_.arm(clock::now() + st_.opts.write_timeout);
    auto [ec, n] = co_await boost::asio::async_write(stream_, boost::asio::buffer(data), tuple_op);
    (void)n;
    bool timed_out = deadline_.take_expired();
    if (ec) {
        is_broken_ = true;
        if (timed_out) {
            ec = errc::write_timeout;
            st_.report(ec, "writing a response"); // a client gone away is not worth a line
        }
    }
    co_return ec;
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code>
connection<Stream>::write_all(std::string_view data)
{
    auto ec = write_now(data);
    if (!ec && !data.empty())
        ec = co_await write_rest(data);
    co_return ec;
}

template <class Stream>
std::string& connection<Stream>::take_out(std::size_t capacity)
{
    out_.clear();
    out_.reserve(capacity);
    return out_;
}

template <class Stream>
void connection<Stream>::give_back_out() noexcept
{
    // What a large body grew it to is not kept: an idle connection holds a small buffer.
    // (take_out() clears what a small one still holds.)
    if (out_.capacity() > conn_impl::kept_out_capacity)
        std::string().swap(out_);
}

} // namespace baton::http::detail
