// SPDX-License-Identifier: MIT
#include "health.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace baton::starter {

// One accepted connection: its request head, then its response, then the drain of whatever
// the client still sends until it closes (so our close is not a reset).
struct health_endpoint::connection {
    enum class phase { reading, writing, draining, closed };

    detail::unique_fd fd;
    clock::time_point accepted;
    clock::time_point deadline; ///< head_timeout after `accepted`, then limits::deadline
    phase at = phase::reading;
    std::string head;     ///< bytes received, at most limits::max_head
    std::string response; ///< the whole response, once known
    std::size_t sent = 0;
};

namespace {

// Each step reads or writes at most this many times, so one flooding client cannot hold the
// supervisor's loop.
constexpr int max_io_per_step = 16;

// Accepts per loop round; the rest wait in the backlog for the next round.
constexpr int max_accepts_per_poll = 64;

std::string_view reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Service Unavailable";
    }
}

std::string make_response(int status, std::string_view body, bool head_only)
{
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason(status));
    out += "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size());
    out += "\r\nConnection: close\r\nCache-Control: no-store\r\n";
    if (status == 405)
        out += "Allow: GET, HEAD\r\n";
    out += "\r\n";
    if (!head_only)
        out += body;
    return out;
}

// Where the head ends (just past its blank line), or npos while it is incomplete.
std::size_t head_end(std::string_view head)
{
    const auto crlf = head.find("\r\n\r\n");
    if (crlf != std::string_view::npos)
        return crlf + 4;
    const auto lf = head.find("\n\n");
    return lf == std::string_view::npos ? lf : lf + 2;
}

bool is_token(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char ch) {
        return ch > 0x20 && ch < 0x7f && !std::strchr("()<>@,;:\\\"/[]?={}", ch);
    });
}

// Every header line after the request line is `NAME:VALUE` with NAME a token.
bool headers_ok(std::string_view rest)
{
    for (int n = 0; !rest.empty() && n < 4096; ++n) {
        const auto eol = rest.find('\n');
        auto line = rest.substr(0, eol);
        rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        if (line.empty())
            return true; // the blank line that ends the head
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
            return false;
    }
    return true;
}

// The response to a complete request head: by its request line, once its headers are well formed.
std::string answer(std::string_view head, const health_state& state)
{
    const auto eol = head.find('\n');
    auto line = head.substr(0, eol);
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    if (!headers_ok(head.substr(eol + 1)))
        return make_response(400, "bad request\n", false);
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos)
        return make_response(400, "bad request\n", false);
    const auto method = line.substr(0, sp1);
    auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const auto version = line.substr(sp2 + 1);
    const bool v1x = version.size() == 8 && version.starts_with("HTTP/1.") && version[7] >= '0' &&
                     version[7] <= '9';
    if (!is_token(method) || !v1x || !target.starts_with('/'))
        return make_response(400, "bad request\n", false);
    const bool head_only = method == "HEAD";
    if (method != "GET" && !head_only)
        return make_response(405, "method not allowed\n", false);
    target = target.substr(0, target.find('?'));
    if (target == "/livez")
        return make_response(200, "alive\n", head_only);
    if (target == "/readyz") {
        const auto a = readyz_answer(state);
        return make_response(a.status, a.body, head_only);
    }
    return make_response(404, "not found\n", head_only);
}

bool would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

} // namespace

std::optional<health_spec> parse_health_spec(std::string_view text, std::string& error)
{
    health_spec spec;
    std::string_view port = text;
    if (text.starts_with('[')) {
        const auto close = text.find("]:");
        if (close == std::string_view::npos || close == 1) {
            error = "invalid ``health'' value:" + std::string(text);
            return std::nullopt;
        }
        spec.host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
        spec.host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (spec.host.find_first_of(":[]") != std::string::npos)
            port = {};
    }
    unsigned value = 0;
    const auto* end = port.data() + port.size();
    const auto [ptr, ec] = std::from_chars(port.data(), end, value);
    if (port.empty() || port.size() > 5 || ec != std::errc{} || ptr != end || value > 65535) {
        error = "invalid ``health'' value:" + std::string(text);
        return std::nullopt;
    }
    spec.port = static_cast<std::uint16_t>(value);
    return spec;
}

health_answer readyz_answer(const health_state& state)
{
    switch (state.phase) {
    case health_phase::ready:
        return {200, "ready generation " + std::to_string(state.generation) + "\n"};
    case health_phase::stopping:
        return {503, "stopping\n"};
    case health_phase::no_worker:
        return {503, "no worker\n"};
    case health_phase::starting:
        break;
    }
    return {503, "starting\n"};
}

std::optional<health_endpoint> health_endpoint::open(const health_spec& spec, std::string& error,
                                                     limits lim)
{
    const std::string host = spec.host.empty() ? "0.0.0.0" : spec.host;
    const std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                              ":" + std::to_string(spec.port);
    addrinfo hints{};
    hints.ai_family = host.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(spec.port);
    if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
        error = "failed to resolve health host:" + host + ":" + ::gai_strerror(rc);
        return std::nullopt;
    }
    const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(res, &::freeaddrinfo);
    detail::unique_fd fd(
        ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
    const int on = 1;
    if (!fd || ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (res->ai_family == AF_INET6 &&
         ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0) ||
        ::bind(fd.get(), res->ai_addr, res->ai_addrlen) != 0 ||
        ::listen(fd.get(), SOMAXCONN) != 0) {
        error = "failed to listen on health address " + where + ":" + std::strerror(errno);
        return std::nullopt;
    }
    return adopt(std::move(fd), lim);
}

health_endpoint health_endpoint::adopt(detail::unique_fd listen)
{
    return adopt(std::move(listen), limits{});
}

health_endpoint health_endpoint::adopt(detail::unique_fd listen, limits lim)
{
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(listen.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    const auto port = bound.ss_family == AF_INET6
                          ? reinterpret_cast<const sockaddr_in6&>(bound).sin6_port
                          : reinterpret_cast<const sockaddr_in&>(bound).sin_port;
    return health_endpoint(std::move(listen), ntohs(port), lim);
}

health_endpoint::health_endpoint(detail::unique_fd listen, std::uint16_t port, limits lim)
    : listen_(std::move(listen))
    , port_(port)
    , limits_(lim)
{}

health_endpoint::health_endpoint(health_endpoint&&) noexcept = default;
health_endpoint& health_endpoint::operator=(health_endpoint&&) noexcept = default;
health_endpoint::~health_endpoint() = default;

void health_endpoint::add_pollfds(std::vector<pollfd>& fds) const
{
    for (const auto& c : conns_) {
        const short events = c->at == connection::phase::writing ? POLLOUT : POLLIN;
        fds.push_back({c->fd.get(), events, 0});
    }
    if (conns_.size() < limits_.max_connections && !accept_paused_until_)
        fds.push_back({listen_.get(), POLLIN, 0});
}

void health_endpoint::on_poll(const pollfd* fds, std::size_t n, clock::time_point now)
{
    bool listen_ready = false;
    for (std::size_t k = 0; k < n; ++k) {
        if (fds[k].revents == 0)
            continue;
        if (k < conns_.size() && conns_[k]->fd.get() == fds[k].fd)
            step(*conns_[k]);
        else if (fds[k].fd == listen_.get())
            listen_ready = true;
    }
    std::erase_if(conns_, [](const auto& c) { return c->at == connection::phase::closed; });
    if (listen_ready && !accept_paused_until_)
        accept_ready(now);
}

std::optional<health_endpoint::clock::time_point> health_endpoint::next_deadline() const
{
    std::optional<clock::time_point> first = accept_paused_until_;
    for (const auto& c : conns_)
        if (!first || c->deadline < *first)
            first = c->deadline;
    return first;
}

void health_endpoint::on_tick(clock::time_point now)
{
    if (accept_paused_until_ && *accept_paused_until_ <= now)
        accept_paused_until_.reset();
    std::erase_if(conns_, [now](const auto& c) {
        return c->at == connection::phase::closed || c->deadline <= now;
    });
}

void health_endpoint::accept_ready(clock::time_point now)
{
    // Bounded by the connection limit and per round; what is left waits in the backlog.
    for (int round = 0; round < max_accepts_per_poll && conns_.size() < limits_.max_connections;
         ++round) {
        detail::unique_fd fd(
            ::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            // A connection that failed before accept (ECONNABORTED) leaves the next one
            // waiting; EMFILE, ENFILE, ENOBUFS, ENOMEM would leave the socket readable forever.
            if (errno == ECONNABORTED || errno == EINTR)
                continue;
            if (!would_block(errno))
                accept_paused_until_ = now + limits_.accept_pause;
            return;
        }
        auto c = std::make_unique<connection>();
        c->fd = std::move(fd);
        c->accepted = now;
        c->deadline = now + std::min(limits_.head_timeout, limits_.deadline);
        step(*c); // the request is often there already
        if (c->at != connection::phase::closed)
            conns_.push_back(std::move(c));
    }
}

// Advance one connection as far as its socket allows without blocking.
void health_endpoint::step(connection& c)
{
    char buf[1024];
    for (int io = 0; io < max_io_per_step && c.at == connection::phase::reading; ++io) {
        const std::size_t room = std::min(sizeof buf, limits_.max_head - c.head.size());
        const ssize_t got = ::recv(c.fd.get(), buf, room, 0);
        if (got < 0 && would_block(errno))
            return;
        if (got <= 0) {
            c.at = connection::phase::closed; // closed early, or reset: nothing to answer
            return;
        }
        c.head.append(buf, static_cast<std::size_t>(got));
        if (head_end(c.head) != std::string::npos) {
            c.response = answer(c.head, state_);
            c.at = connection::phase::writing;
        } else if (c.head.size() >= limits_.max_head) {
            c.response = make_response(431, "request head too large\n", false);
            c.at = connection::phase::writing;
        }
        if (c.at == connection::phase::writing)
            c.deadline = c.accepted + limits_.deadline; // the head is in: time to answer
    }
    for (int io = 0; io < max_io_per_step && c.at == connection::phase::writing; ++io) {
        const ssize_t put = ::send(c.fd.get(), c.response.data() + c.sent,
                                   c.response.size() - c.sent, MSG_NOSIGNAL);
        if (put < 0 && would_block(errno))
            return;
        if (put < 0) {
            c.at = connection::phase::closed; // EPIPE, ECONNRESET: the client is gone
            return;
        }
        c.sent += static_cast<std::size_t>(put);
        if (c.sent == c.response.size()) {
            ::shutdown(c.fd.get(), SHUT_WR);
            c.at = connection::phase::draining;
        }
    }
    for (int io = 0; io < max_io_per_step && c.at == connection::phase::draining; ++io) {
        const ssize_t got = ::recv(c.fd.get(), buf, sizeof buf, 0);
        if (got < 0 && would_block(errno))
            return;
        if (got <= 0)
            c.at = connection::phase::closed; // the client's FIN: close without a reset
    }
}

} // namespace baton::starter
