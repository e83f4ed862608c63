// SPDX-License-Identifier: MIT
// bench/http's ceiling probe: the least a keep-alive hello server can do, so that a run can
// tell what the load generator itself allows on this machine (bench/seed's bare_worker is the
// same for the seed load). One thread, one epoll set, no library, no parser: a connection is
// read when epoll says it is readable, until a read comes back short (edge-triggered: a short
// read emptied the socket, and the next byte to come is a new event), every "\r\n\r\n" in what
// was read is one request, and the answers to all of them leave in one send. So a request
// costs one recv and one send and its share of an epoll_wait: the protocol's floor.
//
// The answer is byte for byte hello_bench_server's (200, Date, Content-Length: 13,
// Keep-Alive: timeout=59, "Hello, world!"). A request with a body, a header over 64 KiB or
// anything else the probe does not look at is answered just the same: a measurement tool, not
// a server.
//
//   bare_keepalive [PORT]   listens on 127.0.0.1:PORT (0, the default: any), prints "port N",
//                           exits 0 on SIGTERM or SIGINT.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view terminator = "\r\n\r\n";

/// What one connection keeps between reads: how much of a terminator the last read ended in,
/// and what a send could not take yet.
struct conn {
    std::size_t matched = 0;
    std::string pending;
    bool is_open = false;
};

class probe {
public:
    explicit probe(int listener, int signals)
        : listener_(listener)
        , signals_(signals)
    {}

    int run();

private:
    void accept_all();
    void on_readable(int fd);
    void flush(int fd);
    void close_conn(int fd);
    void refresh_date();

    conn& at(int fd) { return conns_[static_cast<std::size_t>(fd)]; }

    int listener_;
    int signals_;
    int epoll_ = -1;
    std::vector<conn> conns_;
    std::string response_;
    std::time_t date_of_ = -1;
    std::string out_;
};

int probe::run()
{
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) {
        std::perror("bare_keepalive: epoll_create1");
        return 1;
    }
    for (int fd : {listener_, signals_}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            std::perror("bare_keepalive: epoll_ctl");
            return 1;
        }
    }
    epoll_event events[256];
    for (;;) {
        const int n = ::epoll_wait(epoll_, events, 256, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            std::perror("bare_keepalive: epoll_wait");
            return 1;
        }
        refresh_date();
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == signals_)
                return 0;
            if (fd == listener_) {
                accept_all();
                continue;
            }
            if ((events[i].events & EPOLLOUT) != 0 && !at(fd).pending.empty())
                flush(fd);
            if ((events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
                on_readable(fd);
        }
    }
}

void probe::accept_all()
{
    for (;;) {
        const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; // EAGAIN, or out of descriptors: the rest wait in the backlog
        if (static_cast<std::size_t>(fd) >= conns_.size())
            conns_.resize(static_cast<std::size_t>(fd) + 1);
        at(fd) = conn{};
        at(fd).is_open = true;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.fd = fd;
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0)
            close_conn(fd);
    }
}

void probe::on_readable(int fd)
{
    conn& c = at(fd);
    char buf[65536];
    for (;;) {
        if (!c.is_open)
            return;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            close_conn(fd);
            return;
        }
        if (n < 0)
            return; // EAGAIN (after a full read) or EINTR: the next event comes
        out_.clear();
        for (ssize_t i = 0; i < n; ++i) {
            const char ch = buf[i];
            if (ch == terminator[c.matched]) {
                if (++c.matched == terminator.size()) {
                    out_ += response_;
                    c.matched = 0;
                }
            } else {
                c.matched = ch == '\r' ? 1 : 0;
            }
        }
        if (!out_.empty()) {
            c.pending += out_;
            flush(fd);
        }
        if (static_cast<std::size_t>(n) < sizeof buf)
            return; // a short read emptied the socket: edge-triggered, more is a new event
    }
}

void probe::flush(int fd)
{
    conn& c = at(fd);
    while (!c.pending.empty()) {
        const ssize_t n = ::send(fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                close_conn(fd);
            return; // EAGAIN: EPOLLOUT comes when there is room
        }
        c.pending.erase(0, static_cast<std::size_t>(n));
    }
}

void probe::close_conn(int fd)
{
    ::close(fd);
    at(fd) = conn{};
}

void probe::refresh_date()
{
    const std::time_t now = std::time(nullptr);
    if (now == date_of_)
        return;
    date_of_ = now;
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char date[64];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    response_ = "HTTP/1.1 200 OK\r\nDate: ";
    response_ += date;
    response_ += "\r\nContent-Length: 13\r\nKeep-Alive: timeout=59\r\n\r\nHello, world!";
}

} // namespace

int main(int argc, char** argv)
{
    if (argc > 2) {
        std::fprintf(stderr, "usage: bare_keepalive [PORT]\n");
        return 2;
    }
    char* end = nullptr;
    const long port = argc == 2 ? std::strtol(argv[1], &end, 10) : 0;
    if (argc == 2 && (*end != '\0' || port < 0 || port > 65535)) {
        std::fprintf(stderr, "bare_keepalive: bad port '%s'\n", argv[1]);
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    const int signals = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    // TCP_NODELAY on the listener: Linux copies it to every accepted socket, as baton and
    // nginx (tcp_nodelay) have it; without it an answer can wait for the client's delayed ACK.
    if (signals < 0 || fd < 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 4096) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        std::fprintf(stderr, "bare_keepalive: 127.0.0.1:%ld: %s\n", port, std::strerror(errno));
        return 1;
    }
    std::printf("port %u\n", ntohs(addr.sin_port));
    std::fflush(stdout);
    return probe(fd, signals).run();
}
