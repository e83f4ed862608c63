// SPDX-License-Identifier: MIT
// baton::http::server on loopback: serve_until_signal, and the example workers run as child
// processes under a socket handed down as a starter would.
#include "integration/http/http_server_fixture.hpp"

#include <baton/http/serve.hpp>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <thread>

namespace {

using namespace baton::test;

TEST(HttpServe, ReportsReadyThenDrainsOnSigterm)
{
    baton::http::server s(fixture::defaults(),
                          [](const request&, response_writer& w) -> asio::awaitable<void> {
                              w.write("served");
                              co_return;
                          });
    s.listen("127.0.0.1", 0);
    std::atomic<bool> is_ready{false};
    std::atomic<bool> is_stopping{false};
    std::atomic<bool> has_returned{false};
    baton::http::serve_options o;
    o.drain_timeout = 5s;
    o.on_ready = [&] { is_ready = true; };
    o.on_stopping = [&] { is_stopping = true; };
    boost::system::error_code result = baton::http::errc::not_started;
    std::thread runner([&] {
        result = baton::http::serve_until_signal(s, o);
        has_returned = true;
    });
    ASSERT_TRUE(wait_until([&] { return is_ready.load(); }, 5s));
    {
        auto c = connect(s.local_ports().at(0));
        ASSERT_FALSE(c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        auto r = c.read_response();
        ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
        EXPECT_EQ(r.response.body, "served");
    }
    EXPECT_FALSE(has_returned.load());
    // SIGTERM to the thread that waits for it (the test's other threads do not block it).
    ASSERT_EQ(pthread_kill(runner.native_handle(), SIGTERM), 0);
    EXPECT_TRUE(wait_until([&] { return has_returned.load(); }, 5s));
    runner.join();
    EXPECT_TRUE(is_stopping.load());
    EXPECT_FALSE(result) << result.message();
}

class HttpHelloWorker : public testing::TestWithParam<const char*> {};

TEST_P(HttpHelloWorker, ServesInheritedSocketReportsReadyAndDrainsOnSigterm)
{
    const std::string program = GetParam();
    if (!std::filesystem::exists(bin_dir() / program))
        GTEST_SKIP() << "examples not built (BATON_BUILD_EXAMPLES=OFF)";
    const tcp_listener listener = listen_tcp();
    const std::string notify_address = unique_abstract_name();
    const unique_fd notify = bind_unix_datagram(notify_address);
    child_options o;
    o.argv = {fixture_program(program).string()};
    if (program == "hello_blocking")
        o.argv.insert(o.argv.end(), {"--workers", "8"}); // 1000 threads are slow under TSan
    o.env = {{"SERVER_STARTER_PORT", listener.key() + "=" + std::to_string(listener.fd.get())},
             {"NOTIFY_SOCKET", notify_address},
             {"LISTEN_FDS", std::nullopt},
             {"LISTEN_PID", std::nullopt}};
    o.inherit_fds = {listener.fd.get()};
    child_process hello(std::move(o));

    std::string message;
    ASSERT_TRUE(receive_datagram(notify.get(), message, 20s)) << hello.output();
    EXPECT_EQ(message, "READY=1");
    auto c = connect(listener.port);
    ASSERT_FALSE(c.send(get_a));
    auto r = c.read_response();
    ASSERT_TRUE(r.is_complete()) << r.outcome << ' ' << r.detail;
    EXPECT_EQ(r.response.framing,
              program == "hello" ? body_framing::chunked : body_framing::content_length);
    EXPECT_EQ(r.response.body, "Hello, baton!\n");
    EXPECT_FALSE(r.response.is_connection_close());
    EXPECT_EQ(r.response.header("Content-Type"), "text/plain");
    EXPECT_EQ(r.response.header_count("Date"), 1U);
    EXPECT_TRUE(r.response.header("Date").value_or("").ends_with(" GMT"));

    // The keep-alive connection stays idle through the drain: closed after the grace, cleanly.
    ASSERT_TRUE(hello.signal(SIGTERM));
    ASSERT_TRUE(receive_datagram(notify.get(), message));
    EXPECT_EQ(message, "STOPPING=1");
    // A second SIGTERM during the drain (the idle connection holds it for drain_grace) is
    // not a force: no thread of the worker may take it with the default action.
    ASSERT_TRUE(hello.signal(SIGTERM));
    EXPECT_TRUE(ends_with_clean_close(c));
    auto status = hello.wait_for_exit(5s);
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
}

TEST(HttpHelloOptions, AnUnknownOptionIsOneLineAndExitTwoAndHelpIsTheUsage)
{
    if (!std::filesystem::exists(bin_dir() / "hello"))
        GTEST_SKIP() << "examples not built (BATON_BUILD_EXAMPLES=OFF)";
    child_process bad({fixture_program("hello").string(), "--bogus"});
    EXPECT_EQ(bad.wait_for_exit_code(), 2) << bad.output();
    EXPECT_EQ(bad.output(), "hello: unknown option --bogus (hello --help)\n");
    child_process threads({fixture_program("hello").string(), "--threads", "many"});
    EXPECT_EQ(threads.wait_for_exit_code(), 2) << threads.output();
    EXPECT_EQ(threads.output(), "hello: --threads wants a number from 0 to 1024\n");
    child_process help({fixture_program("hello").string(), "--help"});
    EXPECT_EQ(help.wait_for_exit_code(), 0) << help.output();
    EXPECT_TRUE(help.output().starts_with("usage: hello [ADDRESS]")) << help.output();
}

INSTANTIATE_TEST_SUITE_P(Examples, HttpHelloWorker, testing::Values("hello", "hello_blocking"),
                         [](const testing::TestParamInfo<const char*>& p) {
                             return std::string(p.param);
                         });

} // namespace
