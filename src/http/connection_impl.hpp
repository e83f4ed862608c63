#pragma once
// SPDX-License-Identifier: MIT

// The definitions of connection<Stream> (included by connection.hpp only).

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <utility>

namespace baton::http::detail {

namespace conn_impl {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using error_code = boost::system::error_code;

inline constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
inline constexpr std::size_t read_chunk = 16 * 1024;
/// An idle connection waits with a small buffer: 1000 idle keep-alive clients must not
/// hold 16 MiB. Small requests (curl, wrk, API clients) fit; bigger ones grow the buffer
/// while they are read. 512 rather than 1024: about 0.5 MB less at 1,000 idle connections
/// (bench/http), the difference between meeting the 8 MB target and missing it.
inline constexpr std::size_t idle_read_chunk = 512;
/// The response buffer a connection keeps between responses (a header and a small body);
/// beyond it the buffer is freed once written.
inline constexpr std::size_t kept_out_capacity = 1024;

/// Beast's parse errors in baton's terms.
inline error_code map_parse_error(const error_code& ec) noexcept
{
    if (ec == bhttp::error::header_limit)
        return errc::header_too_large;
    if (ec == bhttp::error::body_limit)
        return errc::body_too_large;
    return errc::bad_request;
}

/// The size of a message's fields as they were on the wire (name, ": ", value, CRLF).
template <class Fields>
std::size_t field_bytes(const Fields& fields) noexcept
{
    std::size_t n = 0;
    for (const auto& f : fields)
        n += f.name_string().size() + f.value().size() + 4;
    return n;
}

} // namespace conn_impl

template <class Stream>
connection<Stream>::connection(server_state& st, Stream stream, registry* reg)
    : st_(st)
    , stream_(std::move(stream))
    , reg_(reg)
    , timer_(stream_.get_executor())
{
    if (reg_ != nullptr)
        it_ = reg_->insert(reg_->end(), this);
    on_chunk_header_ = [this](std::uint64_t, boost::beast::string_view ext,
                              boost::system::error_code& ec) {
        // chunk extensions count against max_header_bytes, like the header itself
        chunk_ext_bytes_ += ext.size();
        if (chunk_ext_bytes_ > st_.opts.max_header_bytes)
            ec = boost::beast::http::error::header_limit;
    };
}

template <class Stream>
connection<Stream>::~connection()
{
    if (reg_ != nullptr)
        reg_->erase(it_);
    st_.release_connection();
}

template <class Stream>
void connection<Stream>::start(std::shared_ptr<connection> c)
{
    auto ex = c->stream_.get_executor();
    auto* raw = c.get();
    boost::asio::co_spawn(ex, raw->run(std::move(c)), boost::asio::detached);
}

template <class Stream>
void connection<Stream>::arm(clock::time_point deadline, watch w)
{
    is_expired_ = false;
    watch_ = w;
    deadline_ = deadline;
    // Lazy: a pending wait that ends before the deadline stays; when it ends, on_timer()
    // waits again for the deadline. Only an earlier deadline starts a new wait. Re-arming on
    // every request changed the timer queue's first entry almost every time (the connection
    // that waited longest is the next to send), one timerfd_settime syscall per request.
    if (deadline < wait_end_)
        start_wait(deadline);
}

template <class Stream>
void connection<Stream>::disarm() noexcept
{
    deadline_ = clock::time_point::max(); // a pending wait that ends finds nothing to watch
}

template <class Stream>
void connection<Stream>::start_wait(clock::time_point end)
{
    wait_end_ = end;
    timer_.expires_at(end); // a wait still pending ends with operation_aborted
    timer_.async_wait(
        [weak = this->weak_from_this(), gen = ++wait_gen_](const boost::system::error_code& ec) {
            auto self = weak.lock();
            if (ec || !self || gen != self->wait_gen_)
                return; // replaced by a newer wait, or the connection is gone
            self->on_timer();
        });
}

template <class Stream>
void connection<Stream>::on_timer()
{
    wait_end_ = clock::time_point::max();
    if (deadline_ == clock::time_point::max())
        return; // disarmed since: the next arm() starts a wait
    if (clock::now() < deadline_) {
        start_wait(deadline_); // armed again since, for later
        return;
    }
    is_expired_ = true;
    traits::cancel(stream_);
}

template <class Stream>
boost::asio::awaitable<void> connection<Stream>::run(std::shared_ptr<connection> self)
{
    try {
        co_await serve();
    } catch (const std::exception& e) {
        st_.report(errc::bad_request, e.what());
    }
    state_ = conn_state::closing;
    disarm();
    traits::close(stream_);
    (void)self; // the frame holds the connection until here
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code>
connection<Stream>::read_more_unparsed(errc on_timeout)
{
    // What is still unparsed (a header, a chunk header, a trailer) is held to the header limit.
    if (buf_.size() >= st_.opts.max_header_bytes) {
        disarm();
        co_return errc::header_too_large;
    }
    auto read_ec = co_await read_more();
    if (read_ec) {
        bool timed_out = is_expired_;
        disarm();
        co_return timed_out ? boost::system::error_code(on_timeout) : read_ec;
    }
    co_return boost::system::error_code{};
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code> connection<Stream>::read_more(std::size_t chunk)
{
    auto [ec, n] =
        co_await stream_.async_read_some(buf_.prepare(chunk), conn_impl::tuple_awaitable);
    buf_.commit(n);
    co_return ec;
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
    arm(clock::now() + st_.opts.write_timeout, watch::write);
    auto [ec, n] = co_await boost::asio::async_write(stream_, boost::asio::buffer(data),
                                                     conn_impl::tuple_awaitable);
    (void)n;
    bool timed_out = is_expired_;
    disarm();
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
boost::asio::awaitable<void> connection<Stream>::serve()
{
    for (bool is_first = true;; is_first = false) {
        // Wait for the first byte of the next request (or use a pipelined one).
        bool is_in_grace = false;
        if (buf_.size() == 0) {
            auto ec = co_await wait_first_byte(is_first);
            if (ec)
                co_return; // closed, in stages where it was ours to close
            is_in_grace = st_.is_draining();
        }
        // The first request's header is due header_timeout after the accept; a later one's
        // after its first byte (from the moment more must be read: a header that arrived
        // whole needs no deadline, nor a clock read).
        std::optional<clock::time_point> header_deadline;
        if (is_first)
            header_deadline = accepted_at_ + st_.opts.header_timeout;

        state_ = conn_state::reading;
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(st_.opts.max_header_bytes, UINT32_MAX)));
        parser_->body_limit(st_.opts.max_body_bytes);
        parser_->eager(false); // stop after the header: framing is checked before the body

        auto header_ec = co_await read_header(header_deadline);
        if (header_ec) {
            co_await reject(header_ec);
            co_return;
        }
        if (st_.opts.admit) {
            auto verdict = st_.opts.admit(parser_->get().base());
            if (verdict != boost::beast::http::status::unknown) {
                // answered from the header alone: the body is never read
                st_.counters.requests_served.fetch_add(1, std::memory_order_relaxed);
                co_await answer_and_close(verdict);
                co_return;
            }
        }
        if (parser_->get().version() == 11 && !parser_->is_done() &&
            boost::beast::iequals(parser_->get()[boost::beast::http::field::expect],
                                  "100-continue")) {
            auto write_ec = co_await write_all("HTTP/1.1 100 Continue\r\n\r\n");
            if (write_ec)
                co_return;
        }
        if (!parser_->is_done()) {
            auto body_ec = co_await read_body();
            if (body_ec) {
                co_await reject(body_ec);
                co_return;
            }
        }

        request req = parser_->release();
        parser_.reset();
        bool is_keep_alive = co_await respond(req, is_in_grace);
        if (!is_keep_alive) {
            // A client that asked for the close (Connection: close, or HTTP/1.0 without
            // keep-alive) sends nothing after its request (RFC 9112 section 9.6). When nothing
            // of it is unread once the response is written, there is no FIN of its own to wait
            // for: the close follows at once (nginx's lingering_close on does the same), one
            // wake-up, one timer and one read fewer per connection. A byte that came anyway
            // would turn close() into a reset, so that close is staged, as is every close the
            // server decides. shutdown_send() first: the FIN goes out (on the response's held
            // last segment, see finish()) even if a forked child still holds the descriptor.
            if (!req.keep_alive() && !is_forced_ && !has_pending_request()) {
                state_ = conn_state::closing;
                traits::shutdown_send(stream_);
                traits::close(stream_);
            } else {
                co_await staged_close();
            }
            co_return;
        }
    }
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code> connection<Stream>::wait_first_byte(bool is_first)
{
    state_ = conn_state::idle;
    auto now = clock::now();
    if (st_.is_draining())
        arm(now + st_.opts.drain_grace, watch::drain); // step 4: the drain grace
    else if (is_first)
        arm(accepted_at_ + st_.opts.header_timeout, watch::header);
    else
        arm(now + st_.opts.idle_timeout, watch::idle);
    if (buf_.capacity() > conn_impl::idle_read_chunk)
        buf_.shrink_to_fit(); // empty here: gives the memory back
    // Read in place rather than through read_more(): one coroutine frame less per idle
    // connection.
    auto [ec, n] = co_await stream_.async_read_some(buf_.prepare(conn_impl::idle_read_chunk),
                                                    conn_impl::tuple_awaitable);
    buf_.commit(n);
    bool timed_out = is_expired_;
    auto w = watch_;
    disarm();
    if (!ec)
        co_return ec;
    if (is_forced_)
        co_return ec;
    // Step 4: before closing an idle connection, check whether request bytes are already
    // waiting (non-blocking peek); if so, serve them.
    if (timed_out && traits::available(stream_) > 0) {
        arm(clock::now() + st_.opts.header_timeout, watch::header);
        ec = co_await read_more();
        disarm();
        if (!ec)
            co_return ec;
    }
    if (timed_out && w == watch::drain)
        st_.counters.connections_closed_by_drain.fetch_add(1, std::memory_order_relaxed);
    if (ec == boost::asio::error::eof || !timed_out) {
        traits::close(stream_); // the client closed (or the stream failed): nothing to linger for
        co_return ec;
    }
    co_await staged_close();
    co_return ec;
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code>
connection<Stream>::read_header(std::optional<clock::time_point> deadline)
{
    namespace bhttp = boost::beast::http;
    fold_scanner folds;
    bool is_armed = false;
    auto& p = *parser_;
    for (;;) {
        if (buf_.size() > 0) {
            boost::system::error_code ec;
            auto n = p.put(buf_.data(), ec);
            folds.feed(std::string_view(static_cast<const char*>(buf_.data().data()), n), false);
            buf_.consume(n);
            if (ec == bhttp::error::bad_version &&
                has_unsupported_version(
                    std::string_view(static_cast<const char*>(buf_.data().data()), buf_.size()))) {
                disarm();
                co_return errc::unsupported_version;
            }
            if (ec && ec != bhttp::error::need_more) {
                disarm();
                co_return conn_impl::map_parse_error(ec);
            }
            if (p.is_header_done())
                break;
        }
        if (!is_armed) {
            arm(deadline.value_or(clock::now() + st_.opts.header_timeout), watch::header);
            is_armed = true;
        }
        if (auto read_ec = co_await read_more_unparsed(errc::header_timeout))
            co_return read_ec;
    }
    disarm();
    if (folds.has_fold())
        co_return errc::bad_request; // obs-fold: RFC 9112 §5.2 lets a server reject it
    auto version = p.get().version();
    if (version != 10 && version != 11)
        co_return errc::unsupported_version;
    co_return validate_framing(p.get().base());
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code> connection<Stream>::read_body()
{
    namespace bhttp = boost::beast::http;
    auto& p = *parser_;
    if (p.is_done())
        co_return boost::system::error_code{};
    p.eager(true);
    const bool is_chunked = p.chunked();
    if (is_chunked) {
        chunk_ext_bytes_ = 0;
        p.on_chunk_header(on_chunk_header_);
    }
    arm(clock::now() + st_.opts.body_timeout, watch::body);
    for (;;) {
        // Beast 1.81 BOOST_ASSERTs (n >= 5 in parse_chunk_header) when the end of a valid
        // chunked body arrives split across reads; fixed in Boost 1.86. Never hand it fewer
        // than 5 bytes of a chunked body: what is left of a valid one never is ("0\r\n\r\n").
        if (buf_.size() > 0 && (!is_chunked || buf_.size() >= 5)) {
            boost::system::error_code ec;
            auto n = p.put(buf_.data(), ec);
            buf_.consume(n);
            if (ec && ec != bhttp::error::need_more) {
                disarm();
                co_return conn_impl::map_parse_error(ec);
            }
            if (p.is_done()) {
                // trailer fields join the header's: together they are held to the limit
                if (is_chunked && conn_impl::field_bytes(p.get()) > st_.opts.max_header_bytes) {
                    disarm();
                    co_return errc::header_too_large;
                }
                break;
            }
            if (!ec && n > 0)
                continue;
        }
        // What is left unparsed is an unfinished chunk header or the trailer section.
        if (auto read_ec = co_await read_more_unparsed(errc::body_timeout))
            co_return read_ec;
    }
    disarm();
    co_return boost::system::error_code{};
}

template <class Stream>
boost::asio::awaitable<bool> connection<Stream>::respond(const request& req, bool is_in_grace)
{
    namespace bhttp = boost::beast::http;
    response_state rs;
    rs.version = req.version();
    rs.is_head = req.method() == bhttp::verb::head;
    rs.wants_keep_alive = req.keep_alive();
    state_ = conn_state::handling;

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
    bool is_finished = co_await finish(rs);
    if (!is_finished)
        co_return false;
    st_.counters.requests_served.fetch_add(1, std::memory_order_relaxed);
    if (is_in_grace)
        st_.counters.requests_served_in_grace.fetch_add(1, std::memory_order_relaxed);
    co_return rs.is_keep_alive;
}

template <class Stream>
boost::asio::awaitable<bool> connection<Stream>::finish(response_state& rs)
{
    std::string& out = take_out();
    if (!rs.is_header_sent) {
        // Step 3: a response whose header is not written yet carries Connection: close
        // once shutdown began, unless more pipelined requests are already here (they are
        // answered too, and the last response carries it).
        rs.is_keep_alive = rs.wants_keep_alive && (!st_.is_draining() || has_pending_request());
        rs.mode = status_has_body(rs.status) ? body_mode::content_length : body_mode::none;
        append_header(out, rs, rs.mode, rs.is_keep_alive, rs.body.size(), st_.keep_alive_hint_s);
        rs.is_header_sent = true;
        if (rs.mode == body_mode::content_length && !rs.is_head)
            out += rs.body;
    } else if (!rs.is_head && rs.mode == body_mode::chunked) {
        append_chunk(out, rs.body);
        out += last_chunk;
    } else if (!rs.is_head && rs.mode == body_mode::close_delimited) {
        out += rs.body;
    }
    rs.body.clear();
    if (out.empty())
        co_return true;
    std::string_view rest = out;
    // The last response of its connection: its last segment waits (MSG_MORE) for the
    // shutdown that serve() does right after, and goes out with the FIN on it.
    auto ec = write_now(rest, !rs.is_keep_alive); // usually all of it: no write_rest frame
    if (!ec && !rest.empty())
        ec = co_await write_rest(rest);
    give_back_out();
    co_return !ec;
}

template <class Stream>
boost::asio::awaitable<void> connection<Stream>::flush(response_state& rs)
{
    std::string& out = take_out();
    if (!rs.is_header_sent) {
        if (!status_has_body(rs.status))
            rs.mode = body_mode::none;
        else
            rs.mode = rs.version == 11 ? body_mode::chunked : body_mode::close_delimited;
        rs.is_keep_alive = rs.wants_keep_alive && (!st_.is_draining() || has_pending_request()) &&
                           rs.mode != body_mode::close_delimited;
        append_header(out, rs, rs.mode, rs.is_keep_alive, 0, st_.keep_alive_hint_s);
        rs.is_header_sent = true;
    }
    if (!rs.is_head && rs.mode == body_mode::chunked)
        append_chunk(out, rs.body);
    else if (!rs.is_head && rs.mode == body_mode::close_delimited)
        out += rs.body;
    rs.body.clear();
    if (out.empty())
        co_return;
    std::string_view rest = out;
    auto ec = write_now(rest);
    if (!ec && !rest.empty())
        ec = co_await write_rest(rest);
    give_back_out();
    if (ec)
        throw boost::system::system_error(ec, "flush");
}

template <class Stream>
boost::asio::awaitable<void> connection<Stream>::reject(const boost::system::error_code& ec)
{
    if (ec.category() != category() || is_forced_) {
        traits::close(stream_); // the client went away mid-request: nobody to answer
        co_return;
    }
    st_.counters.requests_rejected.fetch_add(1, std::memory_order_relaxed);
    st_.report(ec, "request rejected");
    co_await answer_and_close(status_for(ec));
}

template <class Stream>
boost::asio::awaitable<void> connection<Stream>::answer_and_close(boost::beast::http::status s)
{
    // Nothing after this request is parsed: a pipelined request behind it is never served,
    // and its unread body is read and discarded by the staged close, so the client that
    // keeps sending it still reads this answer (no reset).
    const std::string response = error_response(s, 11);
    auto write_ec = co_await write_all(response);
    if (write_ec) {
        traits::close(stream_);
        co_return;
    }
    co_await staged_close();
}

template <class Stream>
boost::asio::awaitable<void> connection<Stream>::staged_close()
{
    state_ = conn_state::closing;
    if (is_forced_)
        co_return;
    // 1. Write side first: the client reads the whole response, then a FIN (never a RST).
    traits::shutdown_send(stream_);
    // 2. A bounded read-and-discard: unread request bytes at close() would make a RST.
    if constexpr (traits::lingers) {
        arm(clock::now() + st_.opts.linger_timeout, watch::linger);
        std::size_t discarded = 0;
        while (discarded < st_.opts.linger_bytes) {
            buf_.clear();
            auto [ec, n] = co_await stream_.async_read_some(buf_.prepare(conn_impl::read_chunk),
                                                            conn_impl::tuple_awaitable);
            if (ec)
                break;
            discarded += n;
        }
        disarm();
    }
    // 3. Close.
    traits::close(stream_);
}

template <class Stream>
std::string& connection<Stream>::take_out() noexcept
{
    out_.clear(); // keeps its capacity: no allocation per response once it has grown
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

template <class Stream>
bool connection<Stream>::has_pending_request() noexcept
{
    return buf_.size() > 0 || traits::available(stream_) > 0;
}

template <class Stream>
void connection<Stream>::drain()
{
    // Steps 3 and 4: a request in flight finishes (its response gets Connection: close);
    // an idle connection keeps waiting, but only for the drain grace.
    if (state_ != conn_state::idle || is_forced_)
        return;
    auto deadline = st_.drain_start() + st_.opts.drain_grace;
    if (deadline < deadline_)
        arm(deadline, watch::drain);
}

template <class Stream>
void connection<Stream>::force_close()
{
    if (is_forced_)
        return;
    is_forced_ = true;
    if (st_.is_draining())
        st_.counters.connections_force_closed.fetch_add(1, std::memory_order_relaxed);
    disarm();
    traits::close(stream_);
}

} // namespace baton::http::detail
