// SPDX-License-Identifier: MIT
// bench/seed's ceiling probe: the least a seed worker can do, so that a run can tell what the
// load generator itself allows on this machine. One thread, one epoll set, no library:
// TCP_DEFER_ACCEPT on the listener (a connection comes with its request), accept4, read the
// request header, send the response header and "Hello, " at once, keep the connection in a
// FIFO of 100 ms deadlines (every deadline is the same length, so the FIFO is already in
// order), then send "bare!\n" with MSG_MORE and close (the FIN rides on that segment). Every answer
// is HTTP/1.0-framed with Connection: close, whatever the request asked for; a header over 16 KiB
// is cut, and there are no timeouts, no other limits and no keep-alive: a measurement tool, not a
// server.
//
// Serves the sockets start_server hands down (or the address in argv[1], default
// 127.0.0.1:8080), says READY=1 when NOTIFY_SOCKET is set, and on SIGTERM stops accepting,
// answers the requests it holds (a connection still without a whole header gets one more
// second) and exits 0.
#include <baton/listener.hpp>
#include <baton/notify.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto delay = std::chrono::milliseconds(100);
constexpr std::string_view head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                                  "Connection: close\r\n\r\nHello, ";
constexpr std::string_view tail = "bare!\n";
constexpr std::size_t max_header = 16 * 1024;
constexpr auto stop_grace = std::chrono::seconds(1);

struct waiting {
    clock_type::time_point due;
    int fd;
};

class bare_worker {
public:
    /// `signals`: blocked already, read from a signalfd here.
    bare_worker(std::vector<int> listeners, const sigset_t& signals)
        : listeners_(std::move(listeners))
    {
        ep_ = ::epoll_create1(EPOLL_CLOEXEC);
        sig_ = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
        if (ep_ < 0 || sig_ < 0) {
            std::perror("bare_worker: epoll_create1/signalfd");
            std::exit(1);
        }
        watch(sig_);
        for (int fd : listeners_)
            watch(fd);
    }

    int run()
    {
        std::vector<epoll_event> events(256);
        while (!(is_stopping_ && queue_.empty() && reading_.empty())) {
            if (is_stopping_ && clock_type::now() >= stop_by_)
                drop_unread();
            int n = ::epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout_ms());
            if (n < 0 && errno != EINTR) {
                std::perror("bare_worker: epoll_wait");
                return 1;
            }
            for (int i = 0; i < n; ++i)
                on_event(events[static_cast<std::size_t>(i)].data.fd);
            answer_due();
        }
        return 0;
    }

private:
    void watch(int fd)
    {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    }

    int timeout_ms() const
    {
        auto next = clock_type::time_point::max();
        if (!queue_.empty())
            next = queue_.front().due;
        if (is_stopping_ && !reading_.empty())
            next = std::min(next, stop_by_);
        if (next == clock_type::time_point::max())
            return -1;
        auto left = next - clock_type::now();
        if (left <= clock_type::duration::zero())
            return 0;
        return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
    }

    void on_event(int fd)
    {
        if (fd == sig_) {
            stop_accepting();
        } else if (std::find(listeners_.begin(), listeners_.end(), fd) != listeners_.end()) {
            accept_all(fd);
        } else if (reading_.count(fd) != 0) {
            read_request(fd, false);
        } // else: closed earlier in this batch (a listener at stop, or dropped)
    }

    /// Out of descriptors: stop watching the listeners until a connection is closed.
    void pause_accepting()
    {
        if (is_paused_)
            return;
        std::perror("bare_worker: accept4 (paused until a connection closes)");
        for (int fd : listeners_)
            ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
        is_paused_ = true;
    }

    void close_connection(int fd)
    {
        ::close(fd);
        if (is_paused_) {
            is_paused_ = false;
            for (int l : listeners_)
                watch(l);
        }
    }

    void stop_accepting()
    {
        signalfd_siginfo info;
        while (::read(sig_, &info, sizeof info) == sizeof info) {
        }
        for (int fd : listeners_)
            ::close(fd); // the starter keeps its copy, for the next generation
        listeners_.clear();
        if (!is_stopping_)
            stop_by_ = clock_type::now() + stop_grace;
        is_stopping_ = true;
    }

    void drop_unread()
    {
        for (auto& [fd, got] : reading_)
            ::close(fd); // closing removes it from the epoll set
        reading_.clear();
    }

    void accept_all(int listener)
    {
        for (int i = 0; i < 64; ++i) {
            int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                    pause_accepting();
                return; // EAGAIN: another process took it; anything else: the next event
            }
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            read_request(fd, true);
        }
    }

    /// Read what is there; answer once the header is whole, wait for more otherwise.
    void read_request(int fd, bool is_new)
    {
        char buf[4096];
        auto it = reading_.find(fd);
        for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                std::string& got = it != reading_.end() ? it->second : scratch_;
                got.append(buf, static_cast<std::size_t>(n));
                if (got.find("\r\n\r\n") != std::string::npos) {
                    got.clear();
                    forget(it, fd);
                    start_answer(fd);
                    return;
                }
                if (got.size() > max_header) {
                    got.clear();
                    forget(it, fd);
                    close_connection(fd);
                    return;
                }
                if (it == reading_.end()) { // keep the partial header, wait for the rest
                    it = reading_.emplace(fd, std::move(scratch_)).first;
                    scratch_.clear();
                    watch(fd);
                }
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                if (is_new && it == reading_.end()) {
                    it = reading_.emplace(fd, std::string()).first;
                    watch(fd);
                }
                return;
            }
            forget(it, fd); // closed or failed before a whole request
            close_connection(fd);
            return;
        }
    }

    void forget(std::unordered_map<int, std::string>::iterator it, int fd)
    {
        if (it == reading_.end())
            return;
        ::epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
        reading_.erase(it);
    }

    void start_answer(int fd)
    {
        if (::send(fd, head.data(), head.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(head.size())) {
            close_connection(fd);
            return;
        }
        queue_.push_back({clock_type::now() + delay, fd});
    }

    void answer_due()
    {
        auto now = clock_type::now();
        while (!queue_.empty() && queue_.front().due <= now) {
            int fd = queue_.front().fd;
            queue_.pop_front();
            (void)::send(fd, tail.data(), tail.size(), MSG_NOSIGNAL | MSG_MORE);
            close_connection(fd);
        }
    }

    std::vector<int> listeners_;
    int ep_ = -1;
    int sig_ = -1;
    bool is_stopping_ = false;
    bool is_paused_ = false;
    clock_type::time_point stop_by_{};
    std::deque<waiting> queue_;
    std::unordered_map<int, std::string> reading_; ///< connections whose header is not whole
    std::string scratch_;
};

} // namespace

int main(int argc, char** argv)
{
    // blocked from the start: a TERM during start-up waits for the loop instead of killing
    sigset_t signals;
    ::sigemptyset(&signals);
    ::sigaddset(&signals, SIGTERM);
    ::sigaddset(&signals, SIGINT);
    ::sigprocmask(SIG_BLOCK, &signals, nullptr);
    std::string_view address = argc > 1 ? argv[1] : "127.0.0.1:8080";
    baton::listener::error err;
    auto inherited = baton::listener::listen_or_inherit(address, {}, err);
    if (err) {
        std::fprintf(stderr, "bare_worker: %s\n", err.message.c_str());
        return 111;
    }
    std::vector<int> listeners;
    for (const auto& s : inherited.sockets) {
        // non-blocking (shared with the starter and the other generation, as Go and asio do
        // it): a connection another process took first must not block accept4
        ::fcntl(s.fd, F_SETFL, ::fcntl(s.fd, F_GETFL) | O_NONBLOCK);
        int defer_s = 10;
        ::setsockopt(s.fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof defer_s);
        listeners.push_back(s.fd);
    }
    bare_worker worker(std::move(listeners), signals);
    std::error_code ec;
    baton::notify::ready(ec); // a no-op without NOTIFY_SOCKET
    return worker.run();
}
