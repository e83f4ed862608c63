// SPDX-License-Identifier: MIT
#include "health.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace baton::starter;
using baton::detail::unique_fd;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

health_endpoint open_loopback(health_endpoint::limits lim = {})
{
    std::string error;
    auto ep = health_endpoint::open({"127.0.0.1", 0}, error, lim);
    if (!ep)
        ADD_FAILURE() << error;
    return std::move(*ep);
}

unique_fd connect_to(std::uint16_t port)
{
    unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // Loopback with the listen backlog free: connect completes without the endpoint's help.
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
    return fd;
}

void send_text(const unique_fd& fd, std::string_view text)
{
    EXPECT_EQ(::send(fd.get(), text.data(), text.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(text.size()));
}

// One round of the supervisor's loop: poll the endpoint's descriptors for up to `wait`.
void pump(health_endpoint& ep, std::chrono::milliseconds wait = 10ms)
{
    std::vector<pollfd> fds;
    ep.add_pollfds(fds);
    ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    ep.on_poll(fds.data(), fds.size(), clock_type::now());
}

// Drive the endpoint until the client reads end of file (the server's FIN), for at most 5 s.
std::string read_response(health_endpoint& ep, const unique_fd& client)
{
    std::string got;
    const auto deadline = clock_type::now() + 5s;
    while (clock_type::now() < deadline) {
        pump(ep);
        char buf[4096];
        const ssize_t n = ::recv(client.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            return got;
        if (n > 0)
            got.append(buf, static_cast<std::size_t>(n));
        else if (errno != EAGAIN)
            return got + "<recv error>";
    }
    return got + "<timeout>";
}

std::string probe(health_endpoint& ep, std::string_view request)
{
    const auto client = connect_to(ep.local_port());
    send_text(client, request);
    return read_response(ep, client);
}

std::string body_of(const std::string& response)
{
    const auto at = response.find("\r\n\r\n");
    return at == std::string::npos ? "<no head end>" : response.substr(at + 4);
}

TEST(HealthSpec, AcceptsPortHostAndBracketedIpv6Forms)
{
    std::string error;
    const auto bare = parse_health_spec("8081", error);
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->host, "");
    EXPECT_EQ(bare->port, 8081);
    const auto v4 = parse_health_spec("127.0.0.1:8081", error);
    ASSERT_TRUE(v4);
    EXPECT_EQ(v4->host, "127.0.0.1");
    const auto v6 = parse_health_spec("[::1]:8081", error);
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, 8081);
    const auto name = parse_health_spec("localhost:0", error);
    ASSERT_TRUE(name);
    EXPECT_EQ(name->host, "localhost");
    EXPECT_EQ(name->port, 0);
}

TEST(HealthSpec, RejectsMalformedValuesWithOneLine)
{
    for (const char* bad : {"", "abc", "65536", "127.0.0.1:", "::1:80", "[::1]80", "80x", "-1"}) {
        std::string error;
        EXPECT_FALSE(parse_health_spec(bad, error)) << bad;
        EXPECT_EQ(error, std::string("invalid ``health'' value:") + bad);
    }
}

TEST(HealthEndpoint, OpenReportsABindFailureAsOneLine)
{
    std::string error;
    EXPECT_FALSE(health_endpoint::open({"192.0.2.1", 0}, error));
    EXPECT_TRUE(error.starts_with("failed to listen on health address 192.0.2.1:0:")) << error;
}

// Probe `target` with GET in `state`; the response's status line and body.
std::pair<std::string, std::string> get_in(health_endpoint& ep, health_state state,
                                           std::string_view target)
{
    ep.set_state(state);
    const auto r = probe(ep, "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    return {r.substr(0, r.find("\r\n")), body_of(r)};
}

TEST(HealthEndpoint, OpensLocalhostAsIpv4Loopback)
{
    std::string error;
    auto ep = health_endpoint::open({"localhost", 0}, error);
    ASSERT_TRUE(ep) << error;
    EXPECT_EQ(body_of(probe(*ep, "GET /livez HTTP/1.1\r\n\r\n")), "alive\n");
}

TEST(HealthEndpoint, ReadyzIs503StartingBeforeTheFirstGeneration)
{
    auto ep = open_loopback();
    const auto [status, body] = get_in(ep, {}, "/readyz");
    EXPECT_EQ(status, "HTTP/1.1 503 Service Unavailable");
    EXPECT_EQ(body, "starting\n");
}

TEST(HealthEndpoint, ReadyzIs200WithTheGenerationWhileReady)
{
    auto ep = open_loopback();
    ep.set_state({health_phase::ready, 7});
    const auto r = probe(ep, "GET /readyz HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
    EXPECT_NE(r.find("\r\nContent-Type: text/plain\r\n"), std::string::npos);
    EXPECT_NE(r.find("\r\nContent-Length: 19\r\n"), std::string::npos);
    EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos);
    EXPECT_NE(r.find("\r\nCache-Control: no-store\r\n"), std::string::npos);
    EXPECT_EQ(body_of(r), "ready generation 7\n");
}

TEST(HealthEndpoint, ReadyzIs503WhileStoppingAndWithNoWorker)
{
    auto ep = open_loopback();
    EXPECT_EQ(
        get_in(ep, {health_phase::stopping, 7}, "/readyz"),
        std::make_pair(std::string("HTTP/1.1 503 Service Unavailable"), std::string("stopping\n")));
    EXPECT_EQ(get_in(ep, {health_phase::no_worker, 0}, "/readyz?full=1"),
              std::make_pair(std::string("HTTP/1.1 503 Service Unavailable"),
                             std::string("no worker\n")));
}

TEST(HealthEndpoint, LivezIs200AliveInEveryState)
{
    auto ep = open_loopback();
    for (const auto phase : {health_phase::starting, health_phase::ready, health_phase::stopping,
                             health_phase::no_worker})
        EXPECT_EQ(get_in(ep, {phase, 3}, "/livez"),
                  std::make_pair(std::string("HTTP/1.1 200 OK"), std::string("alive\n")));
}

TEST(HealthEndpoint, OtherPathsAre404AndOtherMethods405WithAllow)
{
    auto ep = open_loopback();
    auto r = probe(ep, "GET /metrics HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 404 Not Found\r\n")) << r;
    r = probe(ep, "POST /readyz HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << r;
    EXPECT_NE(r.find("\r\nAllow: GET, HEAD\r\n"), std::string::npos) << r;
}

TEST(HealthEndpoint, HeadGetsTheGetHeadersAndNoBody)
{
    auto ep = open_loopback();
    ep.set_state({health_phase::ready, 12});
    const auto r = probe(ep, "HEAD /readyz HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r;
    EXPECT_NE(r.find("\r\nContent-Length: 20\r\n"), std::string::npos) << r;
    EXPECT_TRUE(r.ends_with("\r\n\r\n")) << r;
}

TEST(HealthEndpoint, MalformedRequestLinesAre400)
{
    auto ep = open_loopback();
    for (const char* bad : {"GET\r\n\r\n", "GET /readyz\r\n\r\n", "GET /readyz HTTP/2.0\r\n\r\n",
                            "GET readyz HTTP/1.1\r\n\r\n", "GET /a b HTTP/1.1\r\n\r\n",
                            "GET /readyz HTTP/1.1\r\nno colon\r\n\r\n",
                            "GET /readyz HTTP/1.1\r\n : folded\r\n\r\n"}) {
        const auto r = probe(ep, bad);
        EXPECT_TRUE(r.starts_with("HTTP/1.1 400 Bad Request\r\n")) << bad << " -> " << r;
    }
}

TEST(HealthEndpoint, ARequestSentByteByByteIsAnswered)
{
    auto ep = open_loopback();
    ep.set_state({health_phase::ready, 2});
    const auto client = connect_to(ep.local_port());
    for (const char ch : std::string_view("GET /readyz HTTP/1.1\r\nHost: h\r\n\r\n")) {
        send_text(client, std::string_view(&ch, 1));
        pump(ep, 1ms);
    }
    EXPECT_EQ(body_of(read_response(ep, client)), "ready generation 2\n");
}

TEST(HealthEndpoint, ASilentClientIsClosedAtItsDeadline)
{
    auto ep = open_loopback();
    const auto client = connect_to(ep.local_port());
    const auto limit = clock_type::now() + 5s;
    while (ep.connection_count() == 0 && clock_type::now() < limit)
        pump(ep);
    ASSERT_EQ(ep.connection_count(), 1u);
    ASSERT_TRUE(ep.next_deadline());
    ep.on_tick(*ep.next_deadline() - 1ms);
    EXPECT_EQ(ep.connection_count(), 1u);
    ep.on_tick(*ep.next_deadline());
    EXPECT_EQ(ep.connection_count(), 0u);
    EXPECT_FALSE(ep.next_deadline());
    pollfd p{client.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    char ch = 0;
    EXPECT_EQ(::recv(client.get(), &ch, 1, 0), 0); // a FIN, no response
}

TEST(HealthEndpoint, AHeadNotCompleteWithinTheHeadTimeoutIsClosed)
{
    auto ep = open_loopback();
    const auto client = connect_to(ep.local_port());
    send_text(client, "GET /rea");
    const auto accepted_by = clock_type::now();
    const auto limit = accepted_by + 5s;
    while (ep.connection_count() == 0 && clock_type::now() < limit)
        pump(ep);
    ASSERT_EQ(ep.connection_count(), 1u);
    ASSERT_TRUE(ep.next_deadline());
    EXPECT_LE(*ep.next_deadline(), clock_type::now() + health_endpoint::limits{}.head_timeout);
    ep.on_tick(*ep.next_deadline());
    EXPECT_EQ(ep.connection_count(), 0u);
}

TEST(HealthEndpoint, SilentClientsInEverySlotAreCutSoAProbeIsAnsweredWithinItsDeadline)
{
    health_endpoint::limits lim;
    lim.max_connections = 4;
    lim.head_timeout = 100ms;
    auto ep = open_loopback(lim);
    std::vector<unique_fd> silent;
    for (std::size_t i = 0; i < lim.max_connections; ++i)
        silent.push_back(connect_to(ep.local_port()));
    const auto limit = clock_type::now() + 5s;
    while (ep.connection_count() < lim.max_connections && clock_type::now() < limit)
        pump(ep);
    ASSERT_EQ(ep.connection_count(), lim.max_connections);

    const auto start = clock_type::now();
    const auto client = connect_to(ep.local_port());
    send_text(client, "GET /livez HTTP/1.1\r\n\r\n");
    std::string got;
    bool ended = false;
    while (!ended && clock_type::now() < start + 5s) {
        pump(ep);
        ep.on_tick(clock_type::now());
        char buf[512];
        const ssize_t n = ::recv(client.get(), buf, sizeof buf, MSG_DONTWAIT);
        ended = n == 0;
        if (n > 0)
            got.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_TRUE(ended);
    EXPECT_TRUE(got.starts_with("HTTP/1.1 200 ")) << got;
    // Answered once a silent client's head timeout freed a slot, before any whole deadline.
    EXPECT_LT(clock_type::now() - start, lim.deadline);
}

TEST(HealthEndpoint, AnOversizedHeadIs431)
{
    auto ep = open_loopback();
    const std::string request = "GET /readyz HTTP/1.1\r\nX-Big: " + std::string(5000, 'a');
    const auto r = probe(ep, request);
    EXPECT_TRUE(r.starts_with("HTTP/1.1 431 ")) << r;
}

TEST(HealthEndpoint, AClientThatClosesEarlyIsDropped)
{
    auto ep = open_loopback();
    {
        const auto client = connect_to(ep.local_port());
        send_text(client, "GET /rea");
        const auto limit = clock_type::now() + 5s;
        while (ep.connection_count() == 0 && clock_type::now() < limit)
            pump(ep);
        ASSERT_EQ(ep.connection_count(), 1u);
    }
    const auto limit = clock_type::now() + 5s;
    while (ep.connection_count() != 0 && clock_type::now() < limit)
        pump(ep);
    EXPECT_EQ(ep.connection_count(), 0u);
}

TEST(HealthEndpoint, AClientThatDoesNotReadDoesNotBlockTheLoop)
{
    auto ep = open_loopback();
    const auto client = connect_to(ep.local_port());
    send_text(client, "GET /livez HTTP/1.1\r\n\r\n");
    const auto start = clock_type::now();
    for (int i = 0; i < 20; ++i)
        pump(ep, 1ms);
    EXPECT_LT(clock_type::now() - start, 2s);
    // Answered and half-closed; it stays until the client's FIN or its deadline.
    EXPECT_EQ(ep.connection_count(), 1u);
    ep.on_tick(clock_type::now() + 3s);
    EXPECT_EQ(ep.connection_count(), 0u);
}

// Enough descriptors for `clients` client sockets plus the endpoint's own.
bool raise_fd_limit(rlim_t needed)
{
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return false;
    if (lim.rlim_cur >= needed)
        return true;
    lim.rlim_cur = std::min(lim.rlim_max, std::max(lim.rlim_cur, needed));
    return ::setrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur >= needed;
}

TEST(HealthEndpoint, AThousandConcurrentProbesAreAllAnswered)
{
    constexpr std::size_t count = 1000;
    if (!raise_fd_limit(count + 256 + 64))
        GTEST_SKIP() << "RLIMIT_NOFILE's hard limit is below " << count + 320;
    auto ep = open_loopback();
    ep.set_state({health_phase::ready, 5});
    std::vector<unique_fd> clients;
    for (std::size_t i = 0; i < count; ++i) {
        clients.push_back(connect_to(ep.local_port()));
        send_text(clients.back(), "GET /readyz HTTP/1.1\r\n\r\n");
    }
    std::vector<std::string> got(count);
    std::vector<bool> done(count, false);
    std::size_t answered = 0;
    const auto limit = clock_type::now() + 20s;
    while (answered < count && clock_type::now() < limit) {
        std::vector<pollfd> fds;
        ep.add_pollfds(fds);
        const std::size_t ours = fds.size();
        for (std::size_t i = 0; i < count; ++i)
            fds.push_back({done[i] ? -1 : clients[i].get(), POLLIN, 0});
        ::poll(fds.data(), fds.size(), 100);
        ep.on_poll(fds.data(), ours, clock_type::now());
        EXPECT_LE(ep.connection_count(), 256u);
        for (std::size_t i = 0; i < count; ++i) {
            if (fds[ours + i].revents == 0)
                continue;
            char buf[512];
            const ssize_t n = ::recv(clients[i].get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0)
                got[i].append(buf, static_cast<std::size_t>(n));
            else if (n == 0 || errno != EAGAIN) {
                done[i] = true;
                ++answered;
                clients[i].reset(); // lets the endpoint read our FIN and free the slot
            }
        }
    }
    ASSERT_EQ(answered, count);
    for (std::size_t i = 0; i < count; ++i)
        ASSERT_EQ(body_of(got[i]), "ready generation 5\n") << i;
}

} // namespace

TEST(HealthEndpoint, AcceptingPausesWhenOutOfDescriptorsAndResumesAfterThePause)
{
    auto ep = open_loopback();
    const auto client = connect_to(ep.local_port());
    send_text(client, "GET /livez HTTP/1.1\r\n\r\n");
    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    const int lowest_free = ::dup(0);
    ASSERT_GE(lowest_free, 0);
    ::close(lowest_free);
    rlimit tight = saved;
    tight.rlim_cur = static_cast<rlim_t>(lowest_free); // accept4 now fails with EMFILE
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
    std::vector<pollfd> fds;
    ep.add_pollfds(fds);
    ASSERT_EQ(::poll(fds.data(), fds.size(), 5000), 1);
    const auto now = clock_type::now();
    ep.on_poll(fds.data(), fds.size(), now);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
    fds.clear();
    ep.add_pollfds(fds);
    EXPECT_TRUE(fds.empty()); // paused: the listening socket is not polled
    ASSERT_TRUE(ep.next_deadline());
    EXPECT_GT(*ep.next_deadline(), now);
    ep.on_tick(*ep.next_deadline());
    EXPECT_EQ(body_of(read_response(ep, client)), "alive\n");
}

TEST(HealthEndpoint, BytesAfterTheHeadAreReadSoTheCloseIsAFinNotAReset)
{
    auto ep = open_loopback();
    const auto r = probe(ep, "GET /livez HTTP/1.1\r\n\r\n" + std::string(16 * 1024, 'x'));
    EXPECT_TRUE(r.starts_with("HTTP/1.1 200 OK\r\n")) << r.substr(0, 80);
    EXPECT_TRUE(r.ends_with("\r\n\r\nalive\n")) << r.substr(0, 80); // not "<recv error>"
}
