#pragma once
// SPDX-License-Identifier: MIT

// connection<Stream>'s close path: the rejected request's answer, the staged close, drain()
// and force_close() (included by connection.hpp only).

#include <string>

namespace baton::http::detail {

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
    const std::string response = error_response(s, 11, st_.opts.date);
    auto write_ec = co_await write_all(response);
    if (write_ec) {
        traits::close(stream_);
        co_return;
    }
    co_await staged_close();
}

template <class Stream>
boost::asio::awaitable<void> connection<Stream>::staged_close(bool is_session_open)
{
    is_idle_ = false;
    if (is_forced_)
        co_return;
    // 0. TLS: close_notify first, so that the client sees a clean end of the stream.
    if constexpr (session_traits<traits>) {
        if (is_session_open) {
            deadline_.arm(clock::now() + st_.opts.linger_timeout);
            co_await end_session();
            deadline_.disarm();
        }
    } else {
        (void)is_session_open;
    }
    // 1. Write side first: the client reads the whole response, then a FIN (never a RST).
    traits::shutdown_send(stream_);
    // 2. A bounded read-and-discard: unread request bytes at close() would make a RST.
    if constexpr (traits::lingers) {
        deadline_.arm(clock::now() + st_.opts.linger_timeout);
        std::size_t discarded = 0;
        while (discarded < st_.opts.linger_bytes) {
            buf_.clear();
            auto [ec, n] =
                co_await lowest().async_read_some(buf_.prepare(conn_impl::read_chunk), tuple_op);
            if (ec)
                break;
            discarded += n;
        }
        deadline_.disarm();
    }
    // 3. Close.
    traits::close(stream_);
}

template <class Stream>
boost::asio::awaitable<void> connection<Stream>::end_session()
{
    // async_shutdown writes our close_notify, then reads until theirs: the armed linger
    // deadline bounds the wait (its cancel ends it), and whatever the client sends instead
    // is read and discarded below the session by the linger that follows.
    auto [ec] = co_await stream_.async_shutdown(tuple_op);
    (void)ec; // theirs or not, the close goes on
}

template <class Stream>
boost::asio::awaitable<bool> connection<Stream>::handshake()
{
    // Not idle while handshaking, nor after it until its first request: drain() leaves it
    // alone, and the request that follows is served with Connection: close.
    is_idle_ = false;
    deadline_.arm(accepted_at_ + traits::handshake_timeout(stream_));
    auto [ec] = co_await stream_.async_handshake(Stream::server, tuple_op);
    const bool timed_out = deadline_.take_expired();
    if (!ec)
        co_return true;
    if (is_forced_)
        co_return false;
    auto& counter =
        timed_out ? st_.counters.handshake_timeouts : st_.counters.tls_handshake_failures;
    counter.fetch_add(1, std::memory_order_relaxed);
    st_.report(timed_out ? boost::system::error_code(errc::handshake_timeout) : ec,
               "TLS handshake");
    // The alert (if any) is written; a FIN and a bounded discard, so that what the client
    // sent (plain HTTP, say) does not turn the close into a reset.
    co_await staged_close(false);
    co_return false;
}

template <class Stream>
void connection<Stream>::drain()
{
    // Steps 3 and 4: a request in flight finishes (its response gets Connection: close);
    // an idle connection keeps waiting, but only for the drain grace. A parked one is woken
    // by its lot once the registry walk is over (idle_lot::close), and waits by itself then.
    if (!is_idle_ || is_forced_ || idle_lot::is_parked(*this))
        return;
    auto grace_end = st_.drain_start() + st_.opts.drain_grace;
    if (grace_end < deadline_.due()) {
        deadline_.arm(grace_end);
        is_drain_watch_ = true;
    }
}

template <class Stream>
void connection<Stream>::force_close()
{
    if (is_forced_)
        return;
    is_forced_ = true;
    if (st_.is_draining())
        st_.counters.connections_force_closed.fetch_add(1, std::memory_order_relaxed);
    deadline_.disarm();
    if (idle_lot::is_parked(*this))
        return; // its lot closes it once the registry walk is over (idle_lot::close)
    traits::close(stream_);
}

} // namespace baton::http::detail
