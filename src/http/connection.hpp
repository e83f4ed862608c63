#pragma once
// SPDX-License-Identifier: MIT

// One HTTP/1.x connection: read, validate, handle, respond, drain, close in stages (private).
// A template over the stream so that unit tests drive it over beast::test::stream.

#include "deadline.hpp"
#include "framing.hpp"
#include "idle_lot.hpp"
#include "server_state.hpp"
#include "wire.hpp"

#include <baton/http/detail/response_state.hpp>
#include <baton/http/error.hpp>
#include <baton/http/response_writer.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace baton::http::detail {

/** What the connection needs of its stream beyond AsyncStream, specialised per stream type:
    `static void cancel(Stream&)` (abort the pending read or write; the stream stays usable
    where the type allows), `static void shutdown_send(Stream&)`, `static void close(Stream&)`,
    `static std::size_t available(Stream&)` (bytes readable without blocking: the peek),
    `static std::size_t try_write(Stream&, std::string_view, error_code&, bool is_more)` (what
    can be written without waiting; 0 and no error to go asynchronous; `is_more`: the
    connection is shut down right after, the last segment may wait for its FIN), and
    `static constexpr bool lingers`
    (read-and-discard after shutdown_send). */
template <class Stream>
struct stream_traits;

/** The traits of a stream with a session over it (TLS): also `static raw_socket&
    lowest(Stream&)`, `static milliseconds handshake_timeout(Stream&)`, and the stream's
    async_handshake/async_shutdown. Every use is an `if constexpr`: a plain connection has
    none of it compiled in. */
template <class Traits>
concept session_traits = requires
{
    requires Traits::has_session;
};

namespace conn_impl {

/** How a connection over `Stream` awaits an asynchronous operation: its results as a tuple
    (no exception). `deferred` where the stream takes it (asio's sockets, tls_stream): asio
    awaits a deferred operation in place, where `use_awaitable` makes a coroutine frame of its
    own for every operation (its initiation is a coroutine). Beast's test stream still asks
    its token for the old `return_type`: `use_awaitable` there. */
template <class Stream>
constexpr auto tuple_op_for() noexcept
{
    if constexpr (requires(Stream & s, boost::asio::mutable_buffer b) {
                      s.async_read_some(b, boost::asio::as_tuple(boost::asio::deferred));
                  })
        return boost::asio::as_tuple(boost::asio::deferred);
    else
        return boost::asio::as_tuple(boost::asio::use_awaitable);
}

inline constexpr std::size_t read_chunk = 16 * 1024;

/// Counts chunk extensions against a limit for Beast's parser (which holds a reference to it).
struct chunk_ext_counter {
    std::size_t bytes = 0;
    std::size_t limit = 0;

    void operator()(std::uint64_t, boost::beast::string_view ext, boost::system::error_code& ec)
    {
        // chunk extensions count against max_header_bytes, like the header itself
        bytes += ext.size();
        if (bytes > limit)
            ec = boost::beast::http::error::header_limit;
    }
};

} // namespace conn_impl

template <class Stream>
class connection final : public conn_base,
                         public response_sink,
                         public parkable,
                         public std::enable_shared_from_this<connection<Stream>> {
public:
    using traits = stream_traits<Stream>;
    using parser_type = boost::beast::http::request_parser<boost::beast::http::string_body>;
    /// The token of every operation the connection awaits.
    static constexpr auto tuple_op = conn_impl::tuple_op_for<Stream>();

    /// Whether an idle connection over `Stream` can park in an idle_lot: a plain stream that
    /// reads without waiting (traits::try_read) and has a descriptor. A session (TLS) keeps
    /// its state in its stream, and does not.
    static constexpr bool can_park =
        !session_traits<traits> &&
        requires(Stream & s, boost::asio::mutable_buffer b, boost::system::error_code& ec)
    {
        traits::try_read(s, b, ec);
        {
            s.native_handle()
            } -> std::convertible_to<int>;
    };

    /// The caller has claimed the connection (server_state::claim_connection); the
    /// destructor releases it. `reg` (may be null) is the event loop's registry, `lot` (may
    /// be null) where it waits while idle between requests (when can_park).
    connection(server_state& st, Stream stream, registry* reg, idle_lot* lot = nullptr);
    ~connection();

    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Serve the connection on its stream's executor until it is closed; `w`: from where it
    /// parked (none: from its accept).
    static void start(std::shared_ptr<connection> c, wake w = wake::none);

    void drain() override;
    void force_close() override;
    boost::asio::awaitable<void> flush(response_state& rs) override;
    void on_wake(wake w) noexcept override;

private:
    using clock = std::chrono::steady_clock;
    friend class deadline<connection>;

    /// What the connection's parser needs while a request is read: on the heap, given back
    /// when the connection parks (most of an idle connection would be a parser otherwise).
    struct request_reader {
        std::optional<parser_type> parser;
        conn_impl::chunk_ext_counter chunk_ext;
        fold_scanner folds; ///< of the header being read
    };

    /// What an idle connection does next (idle_step()).
    enum class idle : std::uint8_t {
        request, ///< request bytes are in buf_
        closed,  ///< the client closed (or the connection was closed): done
        parked,  ///< in the lot: the coroutine ends, the lot wakes the connection
        expired, ///< woken by its idle timeout with nothing to read: close in stages
        wait,    ///< wait by itself (wait_first_byte): draining, or no lot
    };

    boost::asio::awaitable<void> run(std::shared_ptr<connection> self, wake w);
    boost::asio::awaitable<void> serve(wake w);
    /// Between requests, for a connection that can park: read what is there, else park.
    idle idle_step(wake w);
    /// A new parser for the next request, under the server's limits.
    parser_type& begin_request();
    /// After a response that ends the connection: close at once (no staged close)?
    bool is_closed_at_once(const request& req) noexcept;
    /// The TLS handshake under handshake_timeout; false: failed, counted, closed.
    boost::asio::awaitable<bool> handshake();
    /// close_notify (ours; theirs awaited no longer than the linger deadline), TLS only.
    boost::asio::awaitable<void> end_session();

    /// The socket under the stream: the staged close lingers on it, below any session.
    decltype(auto) lowest() noexcept
    {
        if constexpr (session_traits<traits>)
            return traits::lowest(stream_);
        else
            return (stream_);
    }

    /** Read what is here without waiting (a new connection's request usually is, always
        with defer_accept; an idle one's next request when it is woken): no deadline armed,
        no operation queued, no coroutine frame made. True when that settled it: bytes read,
        or `ec` (the stream failed or the client closed: the stream is closed); false: nothing
        yet, wait (wait_first_byte, or park). */
    bool read_at_once(boost::system::error_code& ec);
    boost::asio::awaitable<boost::system::error_code> wait_first_byte(bool is_first);
    /** Parse the header from what is buffered, without waiting: its verdict (a parse error,
        or the checks of the whole header) once it is done, none while more must be read. */
    std::optional<boost::system::error_code> parse_buffered_header();
    /** The rest of a header parse_buffered_header could not finish: read, parse, until done,
        within header_timeout of the accept (`is_first`) or of now. */
    boost::asio::awaitable<boost::system::error_code> read_header(bool is_first);
    boost::asio::awaitable<boost::system::error_code> read_body();
    boost::asio::awaitable<bool> respond(const request& req, bool is_in_grace);
    /** The one send path of respond()'s end and of flush(): the header the first time (its
        keep-alive decision and framing), then what the handler wrote since; writes what the
        socket takes now and leaves the rest, in `out_`, in `rest`. `is_final`: the handler is
        done. */
    boost::system::error_code send_now(response_state& rs, bool is_final, std::string_view& rest);
    /// Decide the framing and keep-alive of `rs` and append its header to `out`.
    void append_response_header(std::string& out, response_state& rs, bool is_final);
    boost::asio::awaitable<void> reject(const boost::system::error_code& ec);
    boost::asio::awaitable<void> answer_and_close(boost::beast::http::status s);
    /// `is_session_open`: false after a failed handshake (no close_notify to send).
    boost::asio::awaitable<void> staged_close(bool is_session_open = true);
    boost::asio::awaitable<boost::system::error_code>
    read_more(std::size_t chunk = conn_impl::read_chunk);
    /// Read more while parsing: header_too_large past the header limit, `on_timeout` when
    /// the armed deadline passed, the read's error otherwise (disarmed on error).
    boost::asio::awaitable<boost::system::error_code> read_more_unparsed(errc on_timeout);
    /// Write what the socket takes without waiting; `data` keeps what is left. Sets
    /// is_broken_ on an error. `is_last`: the connection ends after it (MSG_MORE: the last
    /// segment waits for the FIN of the close that follows).
    boost::system::error_code write_now(std::string_view& data, bool is_last = false) noexcept;
    /// Write `data` asynchronously, under the write timeout.
    boost::asio::awaitable<boost::system::error_code> write_rest(std::string_view data);
    /// write_now, then write_rest for what is left.
    boost::asio::awaitable<boost::system::error_code> write_all(std::string_view data);

    /// Request bytes already received or queued in the kernel: while draining, a pipelined
    /// batch is answered in full and only its last response carries Connection: close.
    bool has_pending_request() noexcept;

    /// The connection's response buffer for a large response, empty, with room for
    /// `capacity` bytes; give_back_out() once it is written. @throws std::bad_alloc
    std::string& take_out(std::size_t capacity);
    void give_back_out() noexcept;

    /// The armed deadline passed: abort the pending read or write.
    void on_deadline() noexcept { traits::cancel(stream_); }

    /// Where the deadline's timer runs.
    auto get_executor() noexcept { return stream_.get_executor(); }

    server_state& st_;
    Stream stream_;
    registry* reg_;
    deadline<connection> deadline_;
    idle_lot* lot_;
    boost::beast::flat_buffer buf_;
    std::unique_ptr<request_reader> reader_; ///< while a request is read (kept until it parks)
    std::string out_; ///< a response's bytes the socket did not take at once, or a large one's
    /// While parked: the lot holds the connection through it.
    std::shared_ptr<connection> parked_self_;
    clock::time_point accepted_at_ = clock::now();
    /// Waiting for the first byte of a request after the first: drain() acts then only. A
    /// connection that has not sent its first request is not idle: its client is about to
    /// (over TLS only once its handshake is done), so the drain leaves it its header_timeout.
    bool is_idle_ = false;
    bool is_drain_watch_ = false; ///< the idle wait's deadline is the drain grace
    bool is_forced_ = false;
    bool is_broken_ = false;
    /// wake::park came: the idle wait is cancelled for it; still set once that wait ended so
    /// (serve() then parks the connection, under idle_due_)
    bool is_park_requested_ = false;
    clock::time_point idle_due_{}; ///< the idle wait's timeout (kept when it parks)
};

} // namespace baton::http::detail

#include "connection_close.hpp"
#include "connection_request.hpp"
#include "connection_response.hpp"
