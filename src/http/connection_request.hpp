#pragma once
// SPDX-License-Identifier: MIT

// connection<Stream>'s request loop: accept to close, the idle wait, the header and the body
// under their deadlines (included by connection.hpp only).

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <utility>

namespace baton::http::detail {

namespace conn_impl {

/// An idle connection waits with a small buffer: 1000 idle keep-alive clients must not
/// hold 16 MiB. Small requests (curl, wrk, API clients) fit; bigger ones grow the buffer
/// while they are read. 512 rather than 1024: this buffer is most of an idle connection.
inline constexpr std::size_t idle_read_chunk = 512;

/// Beast's parse errors in baton's terms.
inline boost::system::error_code map_parse_error(const boost::system::error_code& ec) noexcept
{
    namespace bhttp = boost::beast::http;
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
connection<Stream>::connection(server_state& st, Stream stream, registry* reg, idle_lot* lot)
    : st_(st)
    , stream_(std::move(stream))
    , reg_(reg)
    , deadline_(*this)
    , lot_(can_park ? lot : nullptr)
{
    if (reg_ != nullptr)
        reg_->push_back(*this);
}

template <class Stream>
connection<Stream>::~connection()
{
    if (idle_lot::is_in_lot(*this))
        lot_->unpark(*this);
    if (reg_ != nullptr)
        reg_->erase(reg_->iterator_to(*this));
    st_.release_connection();
}

template <class Stream>
void connection<Stream>::start(std::shared_ptr<connection> c, wake w)
{
    auto ex = c->stream_.get_executor();
    auto* raw = c.get();
    // run(), not serve() with a completion handler that holds the connection: co_spawn may
    // post that handler (after a coroutine that never suspended), and a close() that stops the
    // loop first would leave a parked connection held by it until the server is destroyed.
    boost::asio::co_spawn(ex, raw->run(std::move(c), w), boost::asio::detached);
}

template <class Stream>
void connection<Stream>::on_wake(wake w) noexcept
{
    if (w == wake::park) { // waiting in wait_first_byte(): it parks once its wait ends
        is_park_requested_ = true;
        traits::cancel(stream_);
        return;
    }
    auto self = std::move(parked_self_);
    st_.counters.idle_connections_parked.fetch_sub(1, std::memory_order_relaxed);
    if (w != wake::forced && !is_forced_) {
        try {
            start(self, w); // a copy: should it throw, the connection still lives here
            return;
        } catch (...) {
            st_.report(errc::bad_request, "out of memory: an idle connection is closed");
        }
    }
    is_idle_ = false;
    traits::close(stream_); // and `self` lets the connection go
}

template <class Stream>
boost::asio::awaitable<void> connection<Stream>::run(std::shared_ptr<connection> self, wake w)
{
    try {
        co_await serve(w);
        if (parked_self_ != nullptr)
            co_return; // parked: the lot holds the connection, and wakes it
    } catch (const std::exception& e) {
        st_.report(errc::bad_request, e.what());
    }
    is_idle_ = false;
    deadline_.disarm();
    traits::close(stream_);
    (void)self; // the frame holds the connection until here
}

template <class Stream>
typename connection<Stream>::parser_type& connection<Stream>::begin_request()
{
    if (reader_ == nullptr)
        reader_ = std::make_unique<request_reader>();
    auto& p = reader_->parser.emplace();
    reader_->folds = {};
    p.header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(st_.opts.max_header_bytes, UINT32_MAX)));
    p.body_limit(st_.opts.max_body_bytes);
    p.eager(false); // stop after the header: framing is checked before the body
    return p;
}

template <class Stream>
typename connection<Stream>::idle connection<Stream>::idle_step(wake w)
{
    const bool is_swept = std::exchange(is_park_requested_, false);
    if (is_forced_)
        return idle::closed; // force_close() closed it
    if (w == wake::drain || lot_ == nullptr || st_.is_draining())
        return idle::wait;
    if (w == wake::none && !lot_->wants_parking())
        return idle::wait; // serving under load: wait in the coroutine (wait_first_byte)
    if constexpr (can_park) {
        boost::system::error_code ec;
        if (read_at_once(ec))
            return ec ? idle::closed : idle::request;
        if (w == wake::expired)
            return idle::expired;
        // Nothing to read: park with nothing but the connection object. What it held while
        // it served is given back, to be made again by the next request (one allocation each).
        buf_ = {};
        reader_.reset();
        std::string().swap(out_);
        deadline_.release();
        parked_self_ = this->shared_from_this();
        is_idle_ = true;
        const auto due = is_swept ? idle_due_ : clock::now() + st_.opts.idle_timeout;
        if (lot_->park(*this, stream_.native_handle(), due)) {
            st_.counters.idle_connections_parked.fetch_add(1, std::memory_order_relaxed);
            return idle::parked;
        }
        parked_self_.reset(); // the lot is closed or failed: wait by itself
    }
    return idle::wait;
}

template <class Stream>
bool connection<Stream>::is_closed_at_once(const request& req) noexcept
{
    // A client that asked for the close (Connection: close, or HTTP/1.0 without keep-alive)
    // sends nothing after its request (RFC 9112 section 9.6). When nothing of it is unread
    // once the response is written, there is no FIN of its own to wait for: the close
    // follows at once (nginx's lingering_close on does the same), one wake-up, one timer and
    // one read fewer per connection. A byte that came anyway would turn close() into a reset,
    // so that close is staged, as is every close the server decides. close() alone sends the
    // FIN, on the response's held last segment (see respond()): the descriptor is close-on-exec
    // and held once, so no other process keeps the connection open (a child forked without
    // exec would hold it until it exits or execs).
    return !session_traits<traits> && !req.keep_alive() && !is_forced_ && !has_pending_request();
}

template <class Stream>
boost::asio::awaitable<void> connection<Stream>::serve(wake w)
{
    if constexpr (session_traits<traits>) {
        if (w == wake::none && !co_await handshake())
            co_return;
    }
    for (bool is_first = w == wake::none;; is_first = false) {
        // Wait for the first byte of the next request (or use a pipelined one).
        bool is_in_grace = false;
        if (buf_.size() == 0) {
            if constexpr (can_park) {
                if (!is_first) {
                    const auto step = idle_step(std::exchange(w, wake::none));
                    if (step == idle::expired)
                        co_await staged_close();
                    if (step != idle::request && step != idle::wait)
                        co_return; // closed, parked, or closed in stages just now
                }
            }
            if (buf_.size() == 0) {
                boost::system::error_code ec;
                if (!is_first || !read_at_once(ec)) // no frame made when the request is here
                    ec = co_await wait_first_byte(is_first);
                if (ec && is_park_requested_) {
                    w = wake::readable; // the loop has time again: park (or serve what came)
                    continue;
                }
                if (ec)
                    co_return; // closed, in stages where it was ours to close
            }
            is_in_grace = st_.is_draining();
        }
        is_idle_ = false;
        auto& parser = begin_request();

        auto header_ec = parse_buffered_header(); // a whole header: no coroutine frame
        if (!header_ec)
            header_ec = co_await read_header(is_first);
        if (*header_ec) {
            co_await reject(*header_ec);
            co_return;
        }
        if (st_.opts.admit) {
            auto verdict = st_.opts.admit(parser.get().base());
            if (verdict != boost::beast::http::status::unknown) {
                // answered from the header alone: the body is never read
                st_.counters.requests_served.fetch_add(1, std::memory_order_relaxed);
                co_await answer_and_close(verdict);
                co_return;
            }
        }
        if (parser.get().version() == 11 && !parser.is_done() &&
            boost::beast::iequals(parser.get()[boost::beast::http::field::expect],
                                  "100-continue")) {
            auto write_ec = co_await write_all("HTTP/1.1 100 Continue\r\n\r\n");
            if (write_ec)
                co_return;
        }
        if (!parser.is_done()) {
            auto body_ec = co_await read_body();
            if (body_ec) {
                co_await reject(body_ec);
                co_return;
            }
        }

        request req = parser.release();
        reader_->parser.reset();
        bool is_keep_alive = co_await respond(req, is_in_grace);
        if (!is_keep_alive) {
            if (is_closed_at_once(req))
                traits::close(stream_);
            else
                co_await staged_close();
            co_return;
        }
    }
}

template <class Stream>
bool connection<Stream>::read_at_once(boost::system::error_code& ec)
{
    if constexpr (requires(boost::asio::mutable_buffer b, boost::system::error_code & e) {
                      traits::try_read(stream_, b, e);
                  }) {
        auto n = traits::try_read(stream_, buf_.prepare(conn_impl::idle_read_chunk), ec);
        buf_.commit(n);
        if (n > 0)
            return true;
        if (ec) {
            traits::close(stream_); // the client closed (or the stream failed)
            return true;
        }
    }
    return false;
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code> connection<Stream>::wait_first_byte(bool is_first)
{
    is_idle_ = !is_first;
    auto now = clock::now();
    is_drain_watch_ = is_idle_ && st_.is_draining();
    if (is_drain_watch_) {
        deadline_.arm(now + st_.opts.drain_grace); // step 4: the drain grace
    } else if (is_first) {
        deadline_.arm(accepted_at_ + st_.opts.header_timeout);
    } else {
        idle_due_ = now + st_.opts.idle_timeout;
        deadline_.arm(idle_due_);
        if (lot_ != nullptr)
            lot_->enter_waiting(*this); // parks once its loop has time again (wake::park)
    }
    if (buf_.capacity() > conn_impl::idle_read_chunk)
        buf_.shrink_to_fit(); // empty here: gives the memory back
    // Read in place rather than through read_more(): one coroutine frame less per idle
    // connection.
    auto [ec, n] =
        co_await stream_.async_read_some(buf_.prepare(conn_impl::idle_read_chunk), tuple_op);
    buf_.commit(n);
    if (idle_lot::is_in_lot(*this))
        lot_->leave_waiting(*this);
    const bool is_park_requested = std::exchange(is_park_requested_, false);
    bool timed_out = deadline_.take_expired();
    bool is_drain = is_drain_watch_; // the peek below arms its own deadline
    if (!ec)
        co_return ec;
    if (is_forced_)
        co_return ec;
    if (is_park_requested && ec == boost::asio::error::operation_aborted && !timed_out) {
        // serve() parks it; or, should the drain have begun meanwhile, waits again, for the
        // drain grace
        is_park_requested_ = true;
        co_return ec;
    }
    // Step 4: before closing an idle connection, check whether request bytes are already
    // waiting (non-blocking peek); if so, serve them.
    if (timed_out && traits::available(stream_) > 0) {
        deadline_.arm(clock::now() + st_.opts.header_timeout);
        ec = co_await read_more();
        deadline_.disarm();
        if (!ec)
            co_return ec;
    }
    if (timed_out && is_drain)
        st_.counters.connections_closed_by_drain.fetch_add(1, std::memory_order_relaxed);
    if (ec == boost::asio::error::eof || !timed_out) {
        traits::close(stream_); // the client closed (or the stream failed): nothing to linger for
        co_return ec;
    }
    co_await staged_close();
    co_return ec;
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code> connection<Stream>::read_header(bool is_first)
{
    // The first request's header is due header_timeout after the accept; a later one's
    // from the moment more must be read (a header that arrived whole needed no deadline,
    // nor a clock read).
    deadline_.arm((is_first ? accepted_at_ : clock::now()) + st_.opts.header_timeout);
    for (;;) {
        if (auto read_ec = co_await read_more_unparsed(errc::header_timeout))
            co_return read_ec;
        if (auto verdict = parse_buffered_header())
            co_return *verdict;
    }
}

template <class Stream>
std::optional<boost::system::error_code> connection<Stream>::parse_buffered_header()
{
    namespace bhttp = boost::beast::http;
    auto& p = *reader_->parser;
    auto& folds = reader_->folds;
    if (buf_.size() == 0)
        return std::nullopt;
    boost::system::error_code ec;
    auto n = p.put(buf_.data(), ec);
    folds.feed(std::string_view(static_cast<const char*>(buf_.data().data()), n), false);
    buf_.consume(n);
    if (ec == bhttp::error::bad_version &&
        has_unsupported_version(
            std::string_view(static_cast<const char*>(buf_.data().data()), buf_.size()))) {
        deadline_.disarm();
        return errc::unsupported_version;
    }
    if (ec && ec != bhttp::error::need_more) {
        deadline_.disarm();
        return conn_impl::map_parse_error(ec);
    }
    if (!p.is_header_done())
        return std::nullopt;
    deadline_.disarm();
    if (folds.has_fold())
        return errc::bad_request; // obs-fold: RFC 9112 §5.2 lets a server reject it
    auto version = p.get().version();
    if (version != 10 && version != 11)
        return errc::unsupported_version;
    return validate_framing(p.get().base());
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code> connection<Stream>::read_body()
{
    namespace bhttp = boost::beast::http;
    auto& p = *reader_->parser;
    if (p.is_done())
        co_return boost::system::error_code{};
    p.eager(true);
    const bool is_chunked = p.chunked();
    if (is_chunked) {
        reader_->chunk_ext = {0, st_.opts.max_header_bytes};
        p.on_chunk_header(reader_->chunk_ext);
    }
    deadline_.arm(clock::now() + st_.opts.body_timeout);
    for (;;) {
        // Beast 1.81 BOOST_ASSERTs (n >= 5 in parse_chunk_header) when the end of a valid
        // chunked body arrives split across reads; fixed in Boost 1.86. Never hand it fewer
        // than 5 bytes of a chunked body: what is left of a valid one never is ("0\r\n\r\n").
        if (buf_.size() > 0 && (!is_chunked || buf_.size() >= 5)) {
            boost::system::error_code ec;
            auto n = p.put(buf_.data(), ec);
            buf_.consume(n);
            if (ec && ec != bhttp::error::need_more) {
                deadline_.disarm();
                co_return conn_impl::map_parse_error(ec);
            }
            if (p.is_done()) {
                // trailer fields join the header's: together they are held to the limit
                if (is_chunked && conn_impl::field_bytes(p.get()) > st_.opts.max_header_bytes) {
                    deadline_.disarm();
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
    deadline_.disarm();
    co_return boost::system::error_code{};
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code>
connection<Stream>::read_more_unparsed(errc on_timeout)
{
    // What is still unparsed (a header, a chunk header, a trailer) is held to the header limit.
    if (buf_.size() >= st_.opts.max_header_bytes) {
        deadline_.disarm();
        co_return errc::header_too_large;
    }
    auto read_ec = co_await read_more();
    if (read_ec) {
        bool timed_out = deadline_.take_expired();
        co_return timed_out ? boost::system::error_code(on_timeout) : read_ec;
    }
    co_return boost::system::error_code{};
}

template <class Stream>
boost::asio::awaitable<boost::system::error_code> connection<Stream>::read_more(std::size_t chunk)
{
    auto [ec, n] = co_await stream_.async_read_some(buf_.prepare(chunk), tuple_op);
    buf_.commit(n);
    co_return ec;
}

template <class Stream>
bool connection<Stream>::has_pending_request() noexcept
{
    return buf_.size() > 0 || traits::available(stream_) > 0;
}

} // namespace baton::http::detail
