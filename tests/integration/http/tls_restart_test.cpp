// SPDX-License-Identifier: MIT
// HTTPS under start_server: examples/hello with --tls-cert/--tls-key[/--tls-ticket-keys] and a
// HUP. Sessions resume on the next generation when the ticket-key file is shared (and not
// without it), a HUP brings the new certificate while old connections finish on the old one,
// and keep-alive clients lose nothing with a HUP every 100 ms.
#include "support/child_process.hpp"
#include "support/loopback.hpp"
#include "support/tls_client.hpp"

#include <gtest/gtest.h>

#include <openssl/ssl.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace baton::test;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view get_root = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// hello's whole answer: 200, and both chunks ("Hello, " flushed, then "baton!\n").
bool is_hello(const std::string& r)
{
    return r.starts_with("HTTP/1.1 200 OK\r\n") && r.find("\r\nHello, \r\n") != std::string::npos &&
           r.find("\r\nbaton!\n\r\n") != std::string::npos;
}

/// start_server with hello over TLS on 127.0.0.1, port 0; the port and a count of ready
/// generations.
struct tls_starter {
    temp_dir dir;
    test_certs certs = make_test_certs(dir.path(), "generation-1");
    std::optional<child_process> starter;
    std::uint16_t port = 0;

    explicit tls_starter(bool has_ticket_key)
    {
        child_options opts;
        opts.argv = {fixture_program("start_server").string(),
                     "--port",
                     "127.0.0.1:0",
                     "--readiness=notify",
                     "--ready-timeout=10",
                     "--shutdown-timeout=10",
                     "--",
                     fixture_program("hello").string(),
                     "--tls-cert=" + certs.chain.string(),
                     "--tls-key=" + certs.key.string()};
        if (has_ticket_key)
            opts.argv.push_back("--tls-ticket-keys=" +
                                make_ticket_key_file(dir / "ticket.key").string());
        opts.env = {{"SERVER_STARTER_PORT", std::nullopt},
                    {"NOTIFY_SOCKET", std::nullopt},
                    {"LISTEN_FDS", std::nullopt},
                    {"LISTEN_PID", std::nullopt}};
        starter.emplace(opts);
        const auto sockets = wait_for_listening_sockets(starter->pid(), 1, default_wait_timeout);
        if (sockets.size() == 1)
            port = sockets[0].port;
        EXPECT_NE(port, 0) << starter->output();
        EXPECT_TRUE(wait_until([&] { return ready_count() >= 1; }, 10s)) << starter->output();
    }

    std::size_t ready_count() const
    {
        const auto log = starter->output();
        std::size_t n = 0;
        for (auto at = log.find(" is ready after "); at != std::string::npos;
             at = log.find(" is ready after ", at + 1))
            ++n;
        return n;
    }

    /// The pid of the newest worker (the log's last "starting new worker").
    pid_t newest_worker() const
    {
        constexpr std::string_view tag = "starting new worker ";
        const auto log = starter->output();
        const auto at = log.rfind(tag);
        return at == std::string::npos ? 0 : std::stoi(log.substr(at + tag.size()));
    }

    /// HUP, and wait until the next generation is ready and the old one no longer holds the
    /// listener (so every new connection is the new generation's).
    bool restart()
    {
        const auto before = ready_count();
        const pid_t old = newest_worker();
        return old != 0 && starter->signal(SIGHUP) &&
               wait_until([&] { return ready_count() > before; }, 10s) &&
               wait_until([&] { return listening_sockets(old).empty(); }, 10s);
    }

    tls_client_options client(int version = 0) const { return trusting(certs.root, version); }

    ~tls_starter()
    {
        if (starter && starter->signal(SIGTERM))
            (void)starter->wait_for_exit(30s);
    }
};

/// A session from the current generation, resumed (or not) on the next one.
bool resumes_across_a_hup(tls_starter& s, int version)
{
    SSL_SESSION* session = nullptr;
    {
        tls_client c(s.port, s.client(version));
        EXPECT_TRUE(c.handshake()) << c.error();
        EXPECT_TRUE(c.send(get_root));
        EXPECT_TRUE(is_hello(c.read_response()));
        session = c.take_session();
    }
    EXPECT_TRUE(s.restart()) << s.starter->output();
    auto o = s.client(version);
    o.session = session;
    tls_client c(s.port, o);
    EXPECT_TRUE(c.handshake()) << c.error();
    EXPECT_TRUE(c.send(get_root));
    EXPECT_TRUE(is_hello(c.read_response()));
    SSL_SESSION_free(session);
    return c.is_resumed();
}

class TlsUnderStarter : public ::testing::TestWithParam<int> {};

TEST_P(TlsUnderStarter, SessionResumesOnTheNextGenerationWithTheKeyFile)
{
    tls_starter s(true);
    EXPECT_TRUE(resumes_across_a_hup(s, GetParam()));
}

TEST_P(TlsUnderStarter, SessionDoesNotResumeAcrossAHupWithoutTheKeyFile)
{
    tls_starter s(false);
    EXPECT_FALSE(resumes_across_a_hup(s, GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Tls, TlsUnderStarter, ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION));

TEST(TlsUnderStarter, HupBringsTheNewCertificateWhileOldConnectionsFinishOnTheOld)
{
    tls_starter s(true);
    tls_client old(s.port, s.client());
    ASSERT_TRUE(old.handshake()) << old.error();
    ASSERT_TRUE(old.send(get_root));
    ASSERT_TRUE(is_hello(old.read_response()));
    // the files are replaced in place, as a certificate renewal does
    make_test_certs(s.dir.path(), "generation-2");
    auto o = s.client();
    o.ca = s.certs.root; // the new root, same path
    ASSERT_TRUE(s.restart()) << s.starter->output();
    tls_client fresh(s.port, o);
    ASSERT_TRUE(fresh.handshake()) << fresh.error();
    EXPECT_EQ(fresh.peer_cn(), "generation-2");
    // the old connection is the old generation's: it is served, on the old certificate
    ASSERT_TRUE(old.send(get_root));
    auto r = old.read_response();
    EXPECT_TRUE(is_hello(r)) << r;
    EXPECT_EQ(old.peer_cn(), "generation-1");
}

/// Keep-alive over TLS, reconnecting when told Connection: close; every failure counted.
struct tally {
    std::atomic<int> completed{0};
    std::atomic<int> closes{0};
    std::mutex m;
    std::vector<std::string> failures;

    void fail(std::string what)
    {
        std::lock_guard lock(m);
        failures.push_back(std::move(what));
    }
};

void keepalive_tls_client(const tls_starter& s, int requests, tally& t)
{
    std::optional<tls_client> c;
    for (int i = 0; i < requests; ++i) {
        if (!c) {
            c.emplace(s.port, s.client());
            if (!c->handshake()) {
                t.fail("handshake: " + c->error());
                c.reset();
                continue;
            }
        }
        if (!c->send(get_root)) {
            t.fail("send");
            c.reset();
            continue;
        }
        auto r = c->read_response();
        if (!is_hello(r)) {
            t.fail("response: \"" + r + "\"");
            c.reset();
            continue;
        }
        ++t.completed;
        if (r.find("Connection: close\r\n") != std::string::npos) {
            ++t.closes;
            c.reset();
        }
    }
}

TEST(TlsUnderStarter, KeepAliveClientsLoseNothingWithAHupEvery100Ms)
{
    constexpr int clients = 16;
    constexpr int requests = 40;
    tls_starter s(true);
    tally t;
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i)
        threads.emplace_back(keepalive_tls_client, std::cref(s), requests, std::ref(t));
    std::atomic<bool> is_done{false};
    int hups = 0;
    std::thread hupper([&] {
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (!is_done && hups < 600 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(100ms); // the experiment's pace, not a synchronisation
            if (!is_done && s.starter->signal(SIGHUP))
                ++hups;
        }
    });
    for (auto& th : threads)
        th.join();
    is_done = true;
    hupper.join();
    std::string failures;
    for (std::size_t i = 0; i < t.failures.size() && i < 10; ++i)
        failures += "  " + t.failures[i] + "\n";
    EXPECT_TRUE(t.failures.empty()) << t.failures.size() << " failed:\n" << failures;
    EXPECT_EQ(t.completed.load(), clients * requests);
    EXPECT_GE(hups, 10);
    EXPECT_GE(t.closes.load(), 1) << "connections crossed drains";
}

} // namespace
