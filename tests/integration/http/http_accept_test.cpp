// SPDX-License-Identifier: MIT
// baton::http::server on loopback: one acceptor per process, connections spread over the loops, and
// the listeners it serves: shared with another process, TCP_DEFER_ACCEPT, unix, refused.
#include "integration/http/http_server_fixture.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace baton::test;

TEST(HttpShutdown, OtherProcessHoldingListeningSocketStillAcceptsAfterDrain)
{
    // The listening socket is shared: this server gets a copy, the fixture worker (the next
    // generation) another. The server's drain must close() its copy, never shutdown(2) it.
    const tcp_listener listener = listen_tcp();
    baton::http::server s(fixture::defaults(),
                          [](const request&, response_writer& w) -> asio::awaitable<void> {
                              w.write("gen1");
                              co_return;
                          });
    s.add_listener(::fcntl(listener.fd.get(), F_DUPFD_CLOEXEC, 0));
    s.start();
    {
        auto c = connect(listener.port);
        ASSERT_FALSE(c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.body, "gen1");
    }
    // The next generation holds the socket through the drain, accepting only after it.
    child_options next;
    next.argv = {fixture_program("echo_pid_worker").string(), "--ready-delay-ms", "300"};
    next.env = {{"SERVER_STARTER_PORT", listener.key() + "=" + std::to_string(listener.fd.get())},
                {"SERVER_STARTER_GENERATION", "2"},
                {"NOTIFY_SOCKET", std::nullopt},
                {"LISTEN_FDS", std::nullopt},
                {"LISTEN_PID", std::nullopt}};
    next.inherit_fds = {listener.fd.get()};
    child_process worker(std::move(next));
    EXPECT_FALSE(s.shutdown(10s));
    s.join();

    auto result = exchange(connect_tcp(ip_family::v4, listener.port),
                           make_get_request("/", "Connection: close\r\n"));
    ASSERT_TRUE(result.is_complete()) << result.outcome << ' ' << result.detail << worker.output();
    EXPECT_EQ(result.response.body, std::to_string(worker.pid()) + " 2\n");
}

/// A server whose handler answers with the id of the event-loop thread that serves it; on
/// `GET /busy` it first keeps its thread busy for 100 ms of that thread's CPU time.
struct thread_id_server {
    std::mutex m;
    std::set<std::thread::id> seen;
    std::atomic<int> busy_started{0};
    std::atomic<long> last_busy_wall_ms{0}; ///< what the last 100 ms of CPU took on the clock
    baton::http::server server;
    std::uint16_t port = 0;

    explicit thread_id_server(baton::http::options o, bool is_started = true)
        : server(o, [this](const request& req, response_writer& w) -> asio::awaitable<void> {
            if (req.target() == "/busy") {
                busy_started.fetch_add(1);
                const auto begin = std::chrono::steady_clock::now();
                burn_thread_cpu(100ms);
                last_busy_wall_ms =
                    static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - begin)
                                          .count());
            }
            std::ostringstream id;
            id << std::this_thread::get_id();
            {
                std::lock_guard lock(m);
                seen.insert(std::this_thread::get_id());
            }
            w.write(id.str());
            co_return;
        })
    {
        server.listen("127.0.0.1", 0);
        port = server.local_ports().at(0);
        if (is_started)
            server.start();
    }

    static void burn_thread_cpu(std::chrono::nanoseconds amount)
    {
        auto cpu = [] {
            timespec ts{};
            ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
        };
        const auto end = cpu() + amount;
        volatile unsigned sink = 0;
        for (int i = 0; i < 100'000'000 && cpu() < end; ++i) // bounded: ~seconds at most
            sink = sink + 1;
    }
};

/// The loop that served one request on `c` (its thread id).
std::string loop_of(raw_connection& c, std::string_view req)
{
    EXPECT_FALSE(c.send(req));
    auto r = c.read_response();
    EXPECT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    return r.response.body;
}

TEST(HttpAccept, AnIdleAcceptingLoopServesItsConnectionsAndABusyOneSpreadsThemInTurn)
{
    auto o = fixture::defaults();
    o.threads = 3;
    thread_id_server s(o);
    // One connection after the other (each answered before the next connects), the server
    // otherwise idle: the accepting loop serves each itself (no hand-over, no other thread
    // woken), and each connection stays on it. A sanitizer build can make even this load
    // keep the loop half busy for a window: such a try is made again, a bounded number of times.
    std::vector<raw_connection> held;
    std::set<std::string> idle_loops;
    for (int attempt = 0; attempt < 5 && (idle_loops.size() != 1 || held.empty()); ++attempt) {
        held.clear();
        idle_loops.clear();
        for (int i = 0; i < 4; ++i)
            idle_loops.insert(loop_of(held.emplace_back(connect(s.port)), get_a));
    }
    ASSERT_EQ(idle_loops.size(), 1U);
    const std::string accepting = *idle_loops.begin();
    for (auto& c : held)
        EXPECT_EQ(loop_of(c, get_a), accepting);

    // Connections that queue while the accepting loop is busy (a handler on it keeps its
    // thread running for 100 ms) go to every loop in turn. Its share of the CPU is what the
    // loop measures, so a try on a machine too loaded to give the thread half of its time
    // while it burns (other tests in parallel, on 2 cores) is made again, for up to 30 s.
    std::set<std::string> busy_loops;
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    int attempts = 0;
    for (; attempts < 100 && busy_loops.size() < 3 && std::chrono::steady_clock::now() < give_up;
         ++attempts) {
        busy_loops.clear();
        const int started = s.busy_started.load();
        ASSERT_FALSE(held.front().send("GET /busy HTTP/1.1\r\nHost: x\r\n\r\n"));
        ASSERT_TRUE(wait_until([&] { return s.busy_started.load() > started; }, 5s));
        std::vector<raw_connection> queued;
        for (int i = 0; i < 3; ++i) {
            queued.emplace_back(connect(s.port)); // the kernel completes it: it waits in the queue
            ASSERT_FALSE(queued.back().send(get_a));
        }
        auto busy = held.front().read_response();
        ASSERT_TRUE(busy.is_complete()) << busy.outcome << ' ' << busy.detail;
        EXPECT_EQ(busy.response.body, accepting);
        for (auto& c : queued) {
            auto r = c.read_response();
            ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
            busy_loops.insert(r.response.body);
        }
    }
    EXPECT_EQ(busy_loops.size(), 3U)
        << "three connections queued behind a busy loop, taken in turn; " << attempts
        << " tries, the last one's 100 ms of CPU took " << s.last_busy_wall_ms.load() << " ms";
}

/// The value of the IPPROTO_TCP option `name` of `fd` (-1 if it cannot be read).
int tcp_option(int fd, int name)
{
    int value = -1;
    socklen_t len = sizeof value;
    EXPECT_EQ(::getsockopt(fd, IPPROTO_TCP, name, &value, &len), 0);
    return value;
}

// defer_accept sets TCP_DEFER_ACCEPT on the listener it is given (inherited ones included)
// for header_timeout, and the connections it then gets are served as any other; without it
// the listener is left as it was.
TEST(HttpAccept, DeferAcceptSetsTheSharedListenerAndServesItsConnections)
{
    auto read_defer = [](int fd) { return tcp_option(fd, TCP_DEFER_ACCEPT); };
    const tcp_listener plain = listen_tcp();
    {
        baton::http::server s(
            fixture::defaults(),
            [](const request&, response_writer&) -> asio::awaitable<void> { co_return; });
        s.add_listener(::fcntl(plain.fd.get(), F_DUPFD_CLOEXEC, 0));
        EXPECT_EQ(read_defer(plain.fd.get()), 0);
    }

    const tcp_listener listener = listen_tcp();
    auto o = fixture::defaults();
    o.defer_accept = true;
    o.header_timeout = 5s;
    baton::http::server s(o, [](const request& req, response_writer& w) -> asio::awaitable<void> {
        w.write("deferred " + std::string(req.target()));
        co_return;
    });
    s.add_listener(::fcntl(listener.fd.get(), F_DUPFD_CLOEXEC, 0));
    // The kernel keeps it as SYN-ACK retransmissions, read back rounded up: at least 5 s.
    EXPECT_GE(read_defer(listener.fd.get()), 5); // on the socket the "starter" still holds
    s.start();
    for (std::string_view req : {"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", "GET /2 HTTP/1.0\r\n\r\n"}) {
        auto c = connect(listener.port);
        ASSERT_FALSE(c.send(req));
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.body, "deferred " + std::string(req.substr(4, 2)));
    }
}

// TCP_NODELAY is set once, on the listener (inherited ones included), and not per connection:
// what the server relies on is that Linux copies it to every socket accepted from it, which is
// checked here on a socket accepted by hand from the same listener.
TEST(HttpAccept, NoDelayIsSetOnTheListenerAndEverySocketAcceptedFromItHasIt)
{
    auto read_nodelay = [](int fd) { return tcp_option(fd, TCP_NODELAY); };
    const tcp_listener listener = listen_tcp();
    ASSERT_EQ(read_nodelay(listener.fd.get()), 0);
    baton::http::server s(
        fixture::defaults(),
        [](const request&, response_writer&) -> asio::awaitable<void> { co_return; });
    s.add_listener(::fcntl(listener.fd.get(), F_DUPFD_CLOEXEC, 0));
    EXPECT_NE(read_nodelay(listener.fd.get()), 0); // on the socket the "starter" still holds
    // not started: the connection waits in the queue for this accept
    auto client = connect_tcp(ip_family::v4, listener.port);
    unique_fd accepted(::accept4(listener.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(accepted.is_valid()) << std::strerror(errno);
    EXPECT_NE(read_nodelay(accepted.get()), 0);
}

/// How many descriptors the epoll sets of this process watch (every `tfd:` line of each
/// eventpoll descriptor's /proc/self/fdinfo): the server's loops are the only ones here.
std::size_t epoll_registrations()
{
    std::size_t n = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        auto target = std::filesystem::read_symlink(entry.path(), ec);
        if (ec || target != "anon_inode:[eventpoll]")
            continue;
        std::ifstream info("/proc/self/fdinfo/" + entry.path().filename().string());
        for (std::string line; std::getline(info, line);)
            if (line.rfind("tfd:", 0) == 0)
                ++n;
    }
    return n;
}

// A connection that comes with its request (TCP_DEFER_ACCEPT) is read at once and, while its
// handler runs, is in no epoll set: it joins the loop's reactor only when it has to wait. A
// connection accepted before its request arrives does wait for it, in the epoll set, and is
// served as soon as the request comes.
TEST(HttpAccept, AConnectionJoinsTheEpollSetOnlyWhenItHasToWait)
{
    std::atomic<bool> is_held{false};
    std::atomic<bool> release{false};
    auto handler = [&](const request& req, response_writer& w) -> asio::awaitable<void> {
        if (req.target() == "/hold") {
            is_held = true;
            for (int i = 0; i < 500 && !release; ++i) // bounded: 5 s
                co_await baton::http::sleep_for(10ms);
        }
        w.write("served " + std::string(req.target()));
    };
    auto o = fixture::defaults();
    o.threads = 1;
    o.defer_accept = true;
    baton::http::server deferred(o, handler);
    deferred.listen("127.0.0.1", 0);
    deferred.start();
    const std::size_t idle = epoll_registrations(); // the listener, the loop's own descriptors
    {
        auto c = connect(deferred.local_ports().at(0));
        ASSERT_FALSE(c.send("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"));
        ASSERT_TRUE(wait_until([&] { return is_held.load(); }, 5s));
        EXPECT_EQ(epoll_registrations(), idle) << "read at once: never registered";
        release = true;
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.body, "served /hold");
        // keep-alive: the next request is waited for, in the epoll set
        EXPECT_TRUE(wait_until([&] { return epoll_registrations() == idle + 1; }, 5s));
        ASSERT_FALSE(c.send(get_a));
        r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.body, "served /a");
    }
    // the client closed: the server sees it, closes, and its registration goes with it
    EXPECT_TRUE(wait_until([&] { return epoll_registrations() == idle; }, 5s));

    o.defer_accept = false;
    baton::http::server eager(o, handler);
    eager.listen("127.0.0.1", 0);
    eager.start();
    const std::size_t both_idle = epoll_registrations();
    auto c = connect(eager.local_ports().at(0)); // accepted with nothing to read yet
    EXPECT_TRUE(wait_until([&] { return epoll_registrations() == both_idle + 1; }, 5s));
    ASSERT_FALSE(c.send(get_a));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.body, "served /a");
}

TEST(HttpAccept, TheProcessHoldsOneCopyOfEachListenerWhateverItsLoops)
{
    auto o = fixture::defaults();
    o.threads = 4;
    thread_id_server s(o);
    auto sockets = listening_sockets(::getpid());
    auto n = std::count_if(sockets.begin(), sockets.end(),
                           [&](const held_socket& h) { return h.port == s.port; });
    EXPECT_EQ(n, 1) << "one accepting loop, no copy per loop";
}

TEST(HttpAccept, ABurstLargerThanOneAcceptBatchIsServedWhole)
{
    // More connections than one batch of accepts (64), all queued by the kernel before the
    // server starts: the acceptor goes through several batches (which a client cannot see)
    // and every connection is served (on whichever loops the accepting one chose).
    auto o = fixture::defaults();
    o.threads = 2;
    thread_id_server s(o, false);
    constexpr int burst = 300; // under the listen backlog (SOMAXCONN)
    std::vector<raw_connection> conns;
    conns.reserve(burst);
    for (int i = 0; i < burst; ++i) {
        conns.emplace_back(connect(s.port));
        ASSERT_FALSE(conns.back().send(get_a));
    }
    s.server.start();
    for (auto& c : conns) {
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.status, 200);
    }
    EXPECT_TRUE(wait_until([&] { return s.server.stats().requests_served == burst; }, 5s));
}

TEST(HttpServer, ServesInheritedUnixListenerAndDrains)
{
    const temp_dir dir;
    const unique_fd listener = listen_unix(dir / "app.sock");
    baton::http::server s(fixture::defaults(),
                          [](const request& req, response_writer& w) -> asio::awaitable<void> {
                              w.write("unix " + std::string(req.target()));
                              co_return;
                          });
    s.add_listener(::fcntl(listener.get(), F_DUPFD_CLOEXEC, 0));
    s.start();
    raw_connection c(connect_unix(dir / "app.sock"));
    ASSERT_FALSE(c.send(get_a));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.body, "unix /a");
    auto done = std::async(std::launch::async, [&] { return s.shutdown(10s); });
    EXPECT_TRUE(ends_with_clean_close(c));
    EXPECT_FALSE(done.get());
}

TEST(HttpServer, RefusesSocketThatIsNotAListener)
{
    baton::http::server s(
        fixture::defaults(),
        [](const request&, response_writer&) -> asio::awaitable<void> { co_return; });
    const unique_fd datagram(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    boost::system::error_code ec;
    s.add_listener(datagram.get(), ec);
    EXPECT_EQ(ec, baton::http::errc::unsupported_listener);
}

TEST(HttpServer, RefusesAPipeAndAnUnlistenedSocketAndLeavesThemToTheCaller)
{
    baton::http::server s(
        fixture::defaults(),
        [](const request&, response_writer&) -> asio::awaitable<void> { co_return; });
    int pipe_fds[2] = {-1, -1};
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    const unique_fd read_end(pipe_fds[0]);
    const unique_fd write_end(pipe_fds[1]);
    const unique_fd unlistened(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    for (int fd : {read_end.get(), unlistened.get()}) {
        boost::system::error_code ec;
        s.add_listener(fd, ec);
        EXPECT_EQ(ec, baton::http::errc::unsupported_listener) << "descriptor " << fd;
        EXPECT_EQ(::fcntl(fd, F_GETFD), FD_CLOEXEC) << "still open, still the caller's";
    }
    EXPECT_THROW(s.start(), boost::system::system_error) << "no listener was added";
}

TEST(HttpServer, ListenTakesANumericAddressAndReportsAPortInUse)
{
    baton::http::server s(
        fixture::defaults(),
        [](const request&, response_writer&) -> asio::awaitable<void> { co_return; });
    EXPECT_THROW(s.listen("localhost", 0), boost::system::system_error) << "numeric only";
    const tcp_listener taken = listen_tcp();
    try {
        s.listen("127.0.0.1", taken.port);
        ADD_FAILURE() << "bound a port another socket listens on";
    } catch (const boost::system::system_error& e) {
        EXPECT_EQ(e.code(), boost::system::errc::address_in_use) << e.what();
    }
    s.listen("::1", 0);
    s.listen("127.0.0.1", 0);
    const auto ports = s.local_ports();
    ASSERT_EQ(ports.size(), 2U);
    s.start();
    for (auto [family, port] : {std::pair{ip_family::v6, ports[0]}, {ip_family::v4, ports[1]}}) {
        auto r =
            exchange(connect_tcp(family, port), make_get_request("/", "Connection: close\r\n"));
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.status, 200);
    }
}

} // namespace
