#pragma once
// SPDX-License-Identifier: MIT

// tls_stream<Socket>: TLS run by OpenSSL on the socket's descriptor itself, as nginx does
// (private). Asio's ssl::stream puts two record-sized buffers and a BIO pair (whose buffers
// are never given back) between OpenSSL and the socket, for every connection even while it
// is idle; here an idle connection holds its SSL object and nothing else (docs/http.md, TLS).
// An AsyncReadStream and AsyncWriteStream (Beast's and Asio's composed operations work over
// it); each operation calls OpenSSL and, on WANT_READ or WANT_WRITE, waits for the socket
// (async_wait) and calls again.

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

namespace baton::http::detail {

struct ssl_free_fn {
    void operator()(SSL* ssl) const noexcept;
};

using ssl_handle = std::unique_ptr<SSL, ssl_free_fn>;

/** A session of `ctx` on the socket `fd`, through a BIO that calls recv/send on it with
    MSG_DONTWAIT | MSG_NOSIGNAL: no buffer between OpenSSL and the kernel (OpenSSL's own record
    buffers are given back while idle: SSL_MODE_RELEASE_BUFFERS), the descriptor's blocking
    mode untouched, and no SIGPIPE from a peer that went away. A write returns after each
    record (SSL_MODE_ENABLE_PARTIAL_WRITE) and, retried after WANT_WRITE, may come from a
    buffer that moved (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). @throws std::bad_alloc */
ssl_handle make_ssl_on_fd(SSL_CTX* ctx, int fd);

/** The bytes a wait for the socket brought (private to the BIO and the operations). A wait
    to read is itself a read, into here: asio tries it at once (a speculative recv, no
    epoll_ctl; an async_wait re-arms the descriptor with EPOLL_CTL_MOD every time) and, when
    the socket is empty, completes it on the next readiness; OpenSSL's next read is served
    from here before the socket. Room for a whole small request record: a keep-alive
    request of a usual client costs one recv that brings it and one that finds the socket
    empty, as in nginx (read-ahead). */
struct tls_read_stash {
    static constexpr std::size_t capacity = 512;
    int fd = -1;
    bool is_eof = false; ///< the socket's end of stream was read: OpenSSL gets it next
    std::uint16_t begin = 0;
    std::uint16_t end = 0;
    std::array<unsigned char, capacity> bytes{};

    std::size_t size() const noexcept { return end - begin; }

    /// Room for a read; empty while the stash holds bytes OpenSSL did not take yet.
    boost::asio::mutable_buffer space() noexcept
    {
        return size() == 0 ? boost::asio::buffer(bytes) : boost::asio::mutable_buffer();
    }

    /// The read into space() ended: `n` bytes (none when there was no room), or the end of
    /// the stream.
    void filled(std::size_t n, bool eof) noexcept
    {
        if (n > 0) {
            begin = 0;
            end = static_cast<std::uint16_t>(n);
        }
        is_eof = is_eof || eof;
    }
};

/// The stash of a session made by make_ssl_on_fd.
tls_read_stash& tls_stash(SSL* ssl) noexcept;

/** Whether SSL_read now could only ask the socket: nothing decrypted, nothing read and not
    yet processed (in OpenSSL or in `stash`, the session's), no close_notify received, the
    handshake done. Then a read starts with the wait (whose speculative recv is the read
    OpenSSL would have made). */
bool tls_read_needs_socket(SSL* ssl, const tls_read_stash& stash) noexcept;

/// What an SSL call asks for next.
enum class tls_want { nothing, read, write };

struct tls_outcome {
    std::size_t bytes = 0; ///< the call's result when it succeeded
    tls_want want = tls_want::nothing;
    boost::system::error_code ec; ///< set when it failed (want is nothing then)
};

/// An SSL call starts with an empty error queue, so that its result classifies. Emptying
/// an empty queue is not free (ERR_clear_error clears each of its 16 slots): it is looked at
/// first, and it is almost always empty (tls_classify empties it after each failure).
void tls_clear_errors() noexcept;

/** The result `r` of an SSL call on `ssl`, as Asio's ssl::stream reports it: > 0 done;
    WANT_READ/WANT_WRITE; the peer's close_notify is asio::error::eof; an end of the stream
    without one is ssl::error::stream_truncated; an OpenSSL error is in Asio's ssl category
    (its reason is the message); a system error is errno's. Empties the error queue. */
tls_outcome tls_classify(SSL* ssl, int r) noexcept;

/** After a failed server handshake `ec`: when the client spoke plain HTTP to the TLS port
    (OpenSSL's "http request" or "https proxy request"), answer `400 Bad Request` with
    `Connection: close` in clear text on `fd`, as nginx does, without waiting (it fits the
    empty socket buffer or is dropped). */
void answer_plain_http(int fd, const boost::system::error_code& ec) noexcept;

namespace tls_impl {

/// The first non-empty buffer of a sequence (as Asio's ssl::stream, one per call).
template <class Buffer, class Sequence>
Buffer first_buffer(const Sequence& buffers) noexcept
{
    auto end = boost::asio::buffer_sequence_end(buffers);
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != end; ++it) {
        Buffer b(*it);
        if (b.size() > 0)
            return b;
    }
    return Buffer();
}

inline int clamp_int(std::size_t n) noexcept
{
    return static_cast<int>(std::min<std::size_t>(n, INT_MAX));
}

/** One operation: `step(ssl)` until it is done or fails, waiting for the socket in between
    (to read: a read into the session's stash, see tls_read_stash). With `is_wait_first`
    (a read with nothing buffered) the wait comes before the first step. A result at the
    first call is posted, never delivered inside the initiating call. */
template <class Socket, class Step, bool WithBytes>
struct op {
    Socket& sock;
    SSL* ssl;
    tls_read_stash* stash; ///< the session's (tls_stash(ssl), looked up once)
    Step step;
    bool is_wait_first = false;
    bool is_started = false;
    bool is_posted = false;
    tls_outcome result{};

    template <class Self>
    void operator()(Self& self, boost::system::error_code wait_ec = {})
    {
        if (is_posted) {
            finish(self);
            return;
        }
        if (wait_ec) { // cancelled (a deadline, a close) or the socket failed
            result = {0, tls_want::nothing, wait_ec};
            finish(self);
            return;
        }
        if (!sock.is_open()) {
            // closed under us: its descriptor number may already be another connection's
            result = {0, tls_want::nothing, boost::asio::error::bad_descriptor};
        } else if (is_wait_first && !is_started) {
            result = {0, tls_want::read, {}};
        } else {
            tls_clear_errors();
            result = step(ssl);
        }
        if (result.want != tls_want::nothing) {
            is_started = true;
            if (result.want == tls_want::read)
                sock.async_receive(stash->space(), std::move(self));
            else
                sock.async_wait(Socket::wait_write, std::move(self));
            return;
        }
        if (!is_started) {
            is_posted = true;
            boost::asio::post(sock.get_executor(), std::move(self));
            return;
        }
        finish(self);
    }

    /// The read into the stash ended (its end of stream is OpenSSL's to see).
    template <class Self>
    void operator()(Self& self, boost::system::error_code ec, std::size_t n)
    {
        bool is_eof = ec == boost::asio::error::eof;
        if (!ec || is_eof)
            stash->filled(n, is_eof);
        (*this)(self, is_eof ? boost::system::error_code() : ec);
    }

    template <class Self>
    void finish(Self& self)
    {
        if constexpr (WithBytes)
            self.complete(result.ec, result.bytes);
        else
            self.complete(result.ec);
    }
};

} // namespace tls_impl

template <class Socket>
class tls_stream {
public:
    using next_layer_type = Socket;
    using lowest_layer_type = Socket;
    using executor_type = typename Socket::executor_type;

    enum handshake_type { client, server };

    /// A session of `ctx` over `sock`. @throws std::bad_alloc
    tls_stream(Socket sock, SSL_CTX* ctx)
        : sock_(std::move(sock))
        , ssl_(make_ssl_on_fd(ctx, sock_.native_handle()))
        , stash_(&tls_stash(ssl_.get()))
    {}

    tls_stream(tls_stream&&) noexcept = default;
    tls_stream& operator=(tls_stream&&) noexcept = default;
    ~tls_stream() = default;

    executor_type get_executor() noexcept { return sock_.get_executor(); }

    Socket& next_layer() noexcept { return sock_; }

    SSL* native_handle() noexcept { return ssl_.get(); }

    template <class Token>
    auto async_handshake(handshake_type type, Token&& token)
    {
        if (type == server)
            SSL_set_accept_state(ssl_.get());
        else
            SSL_set_connect_state(ssl_.get());
        auto step = [fd = sock_.native_handle(), is_server = type == server](SSL* ssl) {
            auto out = tls_classify(ssl, SSL_do_handshake(ssl));
            if (out.ec && is_server)
                answer_plain_http(fd, out.ec);
            return out;
        };
        return run<false>(step, std::forward<Token>(token));
    }

    /// Our close_notify, then theirs awaited (the caller bounds the wait: cancel ends it).
    template <class Token>
    auto async_shutdown(Token&& token)
    {
        auto step = [](SSL* ssl) {
            int r = SSL_shutdown(ssl);
            // 0: ours is sent, theirs not yet here; calling again reads for it
            return r == 0 ? tls_outcome{0, tls_want::read, {}} : tls_classify(ssl, r);
        };
        return run<false>(step, std::forward<Token>(token));
    }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token)
    {
        auto b = tls_impl::first_buffer<boost::asio::mutable_buffer>(buffers);
        bool is_wait_first = b.size() > 0 && tls_read_needs_socket(ssl_.get(), *stash_);
        return run_io(b, &SSL_read, std::forward<Token>(token), is_wait_first);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token)
    {
        return run_io(tls_impl::first_buffer<boost::asio::const_buffer>(buffers), &SSL_write,
                      std::forward<Token>(token));
    }

    /** Write what the socket takes now, record after record, without waiting (the
        immediate-send path plain connections have). Returns the bytes written; when that
        is not all and `ec` is not set, retry asynchronously from there: a record may be
        half sent, OpenSSL holds the rest and the retry sends it first. */
    std::size_t write_now(std::string_view data, boost::system::error_code& ec) noexcept
    {
        ec = {};
        if (!sock_.is_open()) {
            ec = boost::asio::error::bad_descriptor;
            return 0;
        }
        std::size_t written = 0;
        while (written < data.size()) {
            tls_clear_errors();
            auto rest = data.substr(written);
            auto out = tls_classify(
                ssl_.get(), SSL_write(ssl_.get(), rest.data(), tls_impl::clamp_int(rest.size())));
            ec = out.ec;
            if (ec || out.want != tls_want::nothing)
                break;
            written += out.bytes;
        }
        return written;
    }

    /// Decrypted bytes OpenSSL holds, or else the bytes read and not yet decrypted, or else
    /// the kernel's (FIONREAD) on the socket.
    std::size_t available() noexcept
    {
        auto pending = SSL_pending(ssl_.get());
        if (pending > 0)
            return static_cast<std::size_t>(pending);
        if (auto stashed = stash_->size(); stashed > 0)
            return stashed; // a record read, not yet decrypted
        boost::system::error_code ec;
        auto n = sock_.available(ec);
        return ec ? 0 : n;
    }

private:
    /// One operation of `step`; its handler gets the bytes too when `WithBytes`.
    template <bool WithBytes, class Step, class Token>
    auto run(Step step, Token&& token, bool is_wait_first = false)
    {
        using signature =
            std::conditional_t<WithBytes, void(boost::system::error_code, std::size_t),
                               void(boost::system::error_code)>;
        return boost::asio::async_compose<Token, signature>(
            tls_impl::op<Socket, Step, WithBytes>{sock_, ssl_.get(), stash_, std::move(step),
                                                  is_wait_first},
            token, sock_);
    }

    /// SSL_read or SSL_write (`io`) of the buffer `b`; an empty one is done at once.
    template <class Buffer, class Io, class Token>
    auto run_io(Buffer b, Io io, Token&& token, bool is_wait_first = false)
    {
        auto step = [b, io](SSL* ssl) {
            return b.size() == 0
                       ? tls_outcome{}
                       : tls_classify(ssl, io(ssl, b.data(), tls_impl::clamp_int(b.size())));
        };
        return run<true>(step, std::forward<Token>(token), is_wait_first);
    }

    Socket sock_;
    ssl_handle ssl_;
    tls_read_stash* stash_; ///< owned by the session's BIO
};

} // namespace baton::http::detail
