// SPDX-License-Identifier: MIT
// start_server --health: what a load balancer's checks see in every state of the service.
#include "starter_harness.hpp"

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace starter_test;

struct StarterHealth : ::testing::Test {
    temp_dir dir;
    std::uint16_t port = 0;   ///< the workers' listener
    std::uint16_t health = 0; ///< start_server's --health listener
    std::string status = (dir / "status").string();

    child_process start(std::vector<std::string> extra, std::vector<std::string> worker_args = {})
    {
        std::vector<std::string> argv{program("start_server"), "--port=127.0.0.1:0",
                                      "--health=127.0.0.1:0", "--status-file=" + status};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.emplace_back("--");
        argv.push_back(worker());
        argv.insert(argv.end(), worker_args.begin(), worker_args.end());
        child_process s(std::move(argv));
        // The workers' socket is bound first, the health endpoint's after it.
        const auto sockets = wait_for_listening_sockets(s.pid(), 2, default_wait_timeout);
        EXPECT_EQ(sockets.size(), 2U) << s.output();
        if (sockets.size() == 2) {
            port = sockets[0].port;
            health = sockets[1].port;
        }
        return s;
    }

    read_result probe(std::string_view request)
    {
        std::error_code ec;
        unique_fd fd = connect_tcp("127.0.0.1", health, ec);
        EXPECT_FALSE(ec) << ec.message();
        return exchange(std::move(fd), std::string(request));
    }

    /// `/readyz` as "STATUS BODY" (the body without its newline), "" when unanswered.
    std::string readyz()
    {
        const auto r = probe("GET /readyz HTTP/1.1\r\nHost: lb\r\n\r\n");
        if (!r.is_complete())
            return {};
        std::string body = r.response.body;
        if (!body.empty() && body.back() == '\n')
            body.pop_back();
        return std::to_string(r.response.status) + " " + body;
    }

    bool readyz_becomes(const std::string& expected)
    {
        return wait_until([&] { return readyz() == expected; });
    }
};

TEST_F(StarterHealth, ReportsStartingUntilTheFirstGenerationIsReadyThenReady)
{
    auto s = start({"--readiness=notify", "--ready-timeout=0.5"},
                   {"--notify-ready", "--never-ready-on-generation", "1"});
    EXPECT_EQ(readyz(), "503 starting");
    const auto live = probe("GET /livez HTTP/1.1\r\nHost: lb\r\n\r\n");
    ASSERT_TRUE(live.is_complete());
    EXPECT_EQ(live.response.status, 200);
    EXPECT_EQ(live.response.body, "alive\n");
    // Generation 1 never says READY=1: killed at the ready timeout; generation 2 says it.
    EXPECT_TRUE(readyz_becomes("200 ready generation 2")) << s.output();
}

TEST_F(StarterHealth, StaysReadyThroughARestartAndAFailedDeploy)
{
    auto s = start({"--interval=1"}, {"--exit-on-generation", "3"});
    ASSERT_TRUE(readyz_becomes("200 ready generation 1")) << s.output();
    ASSERT_TRUE(s.signal(SIGHUP)); // generation 2: a second before it counts as started
    ASSERT_TRUE(s.wait_for_output("starting new worker"));
    EXPECT_EQ(readyz(), "200 ready generation 1"); // the old generation serves meanwhile
    ASSERT_TRUE(wait_until([&] { return read_file(status).starts_with("2:"); })) << s.output();
    EXPECT_EQ(readyz(), "200 ready generation 2");
    ASSERT_TRUE(s.signal(SIGHUP)); // generation 3 crashes on start: the deploy fails
    ASSERT_TRUE(s.wait_for_output("seems to have failed to start")) << s.output();
    EXPECT_EQ(readyz(), "200 ready generation 2");
    EXPECT_EQ(generation_of(ask(port)), 2);
}

TEST_F(StarterHealth, ReportsNoWorkerWhileTheServingWorkerIsDeadAndStoppingFromTheStop)
{
    auto s = start({"--interval=0", "--drain-delay=30"});
    ASSERT_TRUE(readyz_becomes("200 ready generation 1")) << s.output();
    const pid_t first = pid_of(ask(port));
    ASSERT_GT(first, 0);
    ASSERT_EQ(::kill(first, SIGKILL), 0); // respawned at the pace: a second after its spawn
    EXPECT_TRUE(readyz_becomes("503 no worker")) << s.output();
    EXPECT_TRUE(readyz_becomes("200 ready generation 2")) << s.output();
    ASSERT_TRUE(s.signal(SIGTERM));
    EXPECT_TRUE(readyz_becomes("503 stopping")) << s.output();
    EXPECT_EQ(generation_of(ask(port)), 2); // the drain delay: still served
    ASSERT_TRUE(s.signal(SIGTERM));
    EXPECT_EQ(s.wait_for_exit_code(10s), 0) << s.output();
}

TEST_F(StarterHealth, AnswersHeadRefusesBadRequestsAndCutsASilentClient)
{
    auto s = start({"--interval=0"});
    ASSERT_TRUE(readyz_becomes("200 ready generation 1")) << s.output();
    std::error_code ec;
    unique_fd silent = connect_tcp("127.0.0.1", health, ec); // never sends a byte
    ASSERT_FALSE(ec);
    read_options head;
    head.is_head_response = true;
    unique_fd fd = connect_tcp("127.0.0.1", health, ec);
    ASSERT_FALSE(ec);
    raw_connection c(std::move(fd));
    ASSERT_FALSE(c.send("HEAD /readyz HTTP/1.0\r\n\r\n"));
    const auto h = c.read_response(default_io_timeout, head);
    ASSERT_TRUE(h.is_complete()) << h.outcome << ' ' << h.detail;
    EXPECT_EQ(h.response.status, 200);
    EXPECT_EQ(h.response.header("Content-Length"), "19"); // "ready generation 1\n"
    EXPECT_TRUE(h.response.body.empty());
    EXPECT_EQ(probe("GET /nothing HTTP/1.1\r\n\r\n").response.status, 404);
    EXPECT_EQ(probe("DELETE /readyz HTTP/1.1\r\n\r\n").response.status, 405);
    EXPECT_EQ(probe("garbage\r\n\r\n").response.status, 400);
    // The silent client is closed at its deadline, cleanly, and held nothing up meanwhile.
    const auto end = raw_connection(std::move(silent)).read_until_eof(10s);
    EXPECT_EQ(end.outcome, read_outcome::closed);
}

TEST_F(StarterHealth, NeverReportsNotReadyAcrossFiftyRestartsUnderConstantProbing)
{
    auto s = start({"--interval=0"});
    ASSERT_TRUE(readyz_becomes("200 ready generation 1")) << s.output();
    std::atomic<bool> is_done{false};
    std::atomic<int> probes{0};
    std::atomic<int> not_ready{0};
    std::string first_bad;
    std::thread prober([&] {
        while (!is_done) {
            const std::string r = readyz();
            if (!r.starts_with("200 ready generation ") && not_ready.fetch_add(1) == 0)
                first_bad = r;
            probes.fetch_add(1);
        }
    });
    for (int gen = 2; gen <= 51; ++gen) {
        ASSERT_TRUE(s.signal(SIGHUP));
        ASSERT_TRUE(wait_until([&] {
            return read_file(status).starts_with(std::to_string(gen) + ":");
        })) << s.output();
    }
    is_done = true;
    prober.join();
    EXPECT_EQ(not_ready.load(), 0) << "first: " << first_bad;
    EXPECT_GT(probes.load(), 50);
    EXPECT_EQ(readyz(), "200 ready generation 51");
}

TEST_F(StarterHealth, TakenHealthPortIsASetUpErrorBeforeAnythingIsSpawned)
{
    const tcp_listener taken = listen_tcp();
    child_process s({program("start_server"), "--port=127.0.0.1:0",
                     "--health=127.0.0.1:" + std::to_string(taken.port), "--", worker()});
    EXPECT_EQ(s.wait_for_exit_code(), 2);
    EXPECT_NE(s.output().find("health"), std::string::npos) << s.output();
    EXPECT_EQ(s.output().find("starting new worker"), std::string::npos) << s.output();
}

TEST_F(StarterHealth, BadHealthValueIsRefusedAtParseTime)
{
    child_process s(
        {program("start_server"), "--port=127.0.0.1:0", "--health=here:port", "--", worker()});
    EXPECT_EQ(s.wait_for_exit_code(), 1);
    EXPECT_EQ(last_line(s.output()), "invalid ``health'' value:here:port");
}

} // namespace
