// SPDX-License-Identifier: MIT
#include "tls_stream.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>

namespace baton::http::detail {

namespace {

tls_read_stash* stash_of(BIO* b) noexcept
{
    return static_cast<tls_read_stash*>(BIO_get_data(b));
}

bool is_retry(int e) noexcept
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

int bio_write(BIO* b, const char* data, int len)
{
    BIO_clear_retry_flags(b);
    ssize_t n =
        ::send(stash_of(b)->fd, data, static_cast<std::size_t>(len), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && is_retry(errno))
        BIO_set_retry_write(b);
    return static_cast<int>(n);
}

/// What the stash holds first (the bytes the wait for the socket brought), then the socket.
int bio_read(BIO* b, char* data, int len)
{
    BIO_clear_retry_flags(b);
    tls_read_stash& st = *stash_of(b);
    if (st.begin < st.end) {
        auto n = std::min<std::size_t>(static_cast<std::size_t>(len), st.end - st.begin);
        std::memcpy(data, st.bytes.data() + st.begin, n);
        st.begin += static_cast<std::uint16_t>(n);
        if (st.begin == st.end)
            st.begin = st.end = 0;
        return static_cast<int>(n);
    }
    if (st.is_eof)
        return 0;
    ssize_t n = ::recv(st.fd, data, static_cast<std::size_t>(len), MSG_DONTWAIT);
    if (n < 0 && is_retry(errno))
        BIO_set_retry_read(b);
    return static_cast<int>(n);
}

long bio_ctrl(BIO* /*b*/, int cmd, long /*num*/, void* /*ptr*/)
{
    // Nothing waits to be sent here: a flush is done at once; the rest is not supported.
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_destroy(BIO* b)
{
    delete stash_of(b);
    BIO_set_data(b, nullptr);
    return 1;
}

int bio_create(BIO* b)
{
    BIO_set_init(b, 1);
    return 1;
}

/// The BIO method, made once for the process (OpenSSL never frees what it did not make).
const BIO_METHOD* fd_method()
{
    static const BIO_METHOD* const method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "baton fd");
        if (m == nullptr || BIO_meth_set_write(m, bio_write) != 1 ||
            BIO_meth_set_read(m, bio_read) != 1 || BIO_meth_set_ctrl(m, bio_ctrl) != 1 ||
            BIO_meth_set_create(m, bio_create) != 1 || BIO_meth_set_destroy(m, bio_destroy) != 1)
            throw std::bad_alloc();
        return m;
    }();
    return method;
}

} // namespace

void ssl_free_fn::operator()(ssl_st* ssl) const noexcept
{
    SSL_free(ssl); // and its BIO, which does not own the descriptor
}

ssl_handle make_ssl_on_fd(ssl_ctx_st* ctx, int fd)
{
    ssl_handle ssl(SSL_new(ctx));
    BIO* bio = ssl ? BIO_new(fd_method()) : nullptr;
    auto* stash = bio != nullptr ? new (std::nothrow) tls_read_stash{} : nullptr;
    if (stash == nullptr) {
        BIO_free(bio);
        ERR_clear_error();
        throw std::bad_alloc();
    }
    stash->fd = fd; // not owned: the socket closes it
    BIO_set_data(bio, stash);
    SSL_set_bio(ssl.get(), bio, bio); // one reference, owned by the SSL
    SSL_set_mode(ssl.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ssl;
}

tls_read_stash& tls_stash(ssl_st* ssl) noexcept
{
    return *stash_of(SSL_get_rbio(ssl));
}

bool tls_read_needs_socket(ssl_st* ssl, const tls_read_stash& stash) noexcept
{
    return stash.size() == 0 && SSL_has_pending(ssl) == 0 &&
           (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) == 0 && SSL_is_init_finished(ssl) == 1;
}

void tls_clear_errors() noexcept
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

tls_outcome tls_classify(ssl_st* ssl, int r) noexcept
{
    tls_outcome out;
    if (r > 0) {
        out.bytes = static_cast<std::size_t>(r);
        return out;
    }
    const int saved_errno = errno;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
        out.want = tls_want::read;
        return out;
    case SSL_ERROR_WANT_WRITE:
        out.want = tls_want::write;
        return out;
    case SSL_ERROR_ZERO_RETURN:
        out.ec = boost::asio::error::eof; // the peer's close_notify
        return out;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (saved_errno != 0)
                out.ec.assign(saved_errno, boost::system::system_category());
            else
                out.ec = boost::asio::ssl::error::stream_truncated;
            return out;
        }
        break;
    default:
        break;
    }
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        out.ec = boost::asio::ssl::error::stream_truncated;
    else if (e != 0)
        out.ec.assign(static_cast<int>(e), boost::asio::error::get_ssl_category());
    else
        out.ec = boost::asio::error::fault; // SSL_ERROR_SSL without a reason: never seen
    return out;
}

void answer_plain_http(int fd, const boost::system::error_code& ec) noexcept
{
    if (ec.category() != boost::asio::error::get_ssl_category())
        return;
    const auto e = static_cast<unsigned long>(ec.value());
    if (ERR_GET_LIB(e) != ERR_LIB_SSL ||
        (ERR_GET_REASON(e) != SSL_R_HTTP_REQUEST && ERR_GET_REASON(e) != SSL_R_HTTPS_PROXY_REQUEST))
        return;
    static constexpr std::string_view response = "HTTP/1.1 400 Bad Request\r\n"
                                                 "Content-Type: text/plain\r\n"
                                                 "Content-Length: 33\r\n"
                                                 "Connection: close\r\n\r\n"
                                                 "This port speaks TLS: use https\r\n";
    (void)::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

} // namespace baton::http::detail
