// SPDX-License-Identifier: MIT
#include "support/child_process.hpp"
#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace baton::test;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// The fixture worker

namespace {

/// echo_pid_worker under a hand-written SERVER_STARTER_PORT, generation 7.
child_options worker(const std::string& key, int fd, std::vector<std::string> args = {})
{
    child_options options;
    options.argv = {fixture_program("echo_pid_worker").string()};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = {{"SERVER_STARTER_PORT", key + '=' + std::to_string(fd)},
                   {"SERVER_STARTER_GENERATION", "7"},
                   {"NOTIFY_SOCKET", std::nullopt},
                   {"LISTEN_FDS", std::nullopt},
                   {"LISTEN_PID", std::nullopt},
                   {"LISTEN_FDNAMES", std::nullopt}};
    options.inherit_fds = {fd};
    return options;
}

std::string expected_body(const child_process& child)
{
    return std::to_string(child.pid()) + " 7\n";
}

read_result get(std::uint16_t port)
{
    return exchange(connect_tcp(ip_family::v4, port),
                    make_get_request("/", "Connection: close\r\n"));
}

} // namespace

TEST(EchoPidWorker, AnswersWithItsPidAndGeneration)
{
    const tcp_listener listener = listen_tcp();
    child_process child(worker(listener.key(), listener.fd.get()));

    const read_result result = get(listener.port);

    ASSERT_EQ(result.outcome, read_outcome::complete) << result.detail << child.output();
    EXPECT_EQ(result.response.status, 200);
    EXPECT_EQ(result.response.body, expected_body(child));
    EXPECT_TRUE(result.response.has_token("Connection", "close"));
    EXPECT_EQ(child.output(), ""); // silent unless --verbose
}

TEST(EchoPidWorker, ServesInheritedUnixListener)
{
    const temp_dir dir;
    const unique_fd listener = listen_unix(dir / "app.sock");
    child_process child(worker((dir / "app.sock").string(), listener.get()));

    const read_result result = exchange(connect_unix(dir / "app.sock"), make_get_request());

    ASSERT_EQ(result.outcome, read_outcome::complete) << result.detail << child.output();
    EXPECT_EQ(result.response.body, expected_body(child));
}

TEST(EchoPidWorker, ExitsZeroOnTerm)
{
    const tcp_listener listener = listen_tcp();
    child_process child(worker(listener.key(), listener.fd.get()));
    ASSERT_TRUE(get(listener.port).is_complete()) << child.output(); // up and serving

    ASSERT_TRUE(child.signal(SIGTERM));
    const std::optional<int> status = child.wait_for_exit(10s);

    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(*status, 0) << describe_wait_status(*status);
}

TEST(EchoPidWorker, SendsReadyWhenAsked)
{
    const tcp_listener listener = listen_tcp();
    const std::string notify_name = unique_abstract_name();
    const unique_fd notify_socket = bind_unix_datagram(notify_name);
    child_options options = worker(listener.key(), listener.fd.get(), {"--notify-ready"});
    options.env["NOTIFY_SOCKET"] = notify_name;
    child_process child(options);

    std::string message;
    ASSERT_TRUE(receive_datagram(notify_socket.get(), message, 10s)) << child.output();

    EXPECT_EQ(message, "READY=1");
    EXPECT_EQ(get(listener.port).response.body, expected_body(child));
}

TEST(EchoPidWorker, DumpsEnvironmentAtomically)
{
    const tcp_listener listener = listen_tcp();
    const temp_dir dir;
    child_process child(
        worker(listener.key(), listener.fd.get(), {"--dump-env", (dir / "env").string()}));
    const std::filesystem::path dump = dir / ("env." + std::to_string(child.pid()));

    ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(dump); }, 10s)) << child.output();

    const std::string env = read_file(dump);
    EXPECT_NE(env.find("\nSERVER_STARTER_GENERATION=7\n"), std::string::npos) << env;
    EXPECT_FALSE(std::filesystem::exists(dump.string() + ".tmp"));
}

TEST(EchoPidWorker, ExitsWithGivenCodeAfterDelay)
{
    const tcp_listener listener = listen_tcp();
    child_process child(
        worker(listener.key(), listener.fd.get(), {"--exit-after-ms", "0", "--exit-code", "3"}));

    const std::optional<int> status = child.wait_for_exit(10s);

    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 3) << describe_wait_status(*status);
}

TEST(EchoPidWorker, IgnoresTermWhenAsked)
{
    const tcp_listener listener = listen_tcp();
    child_process child(worker(listener.key(), listener.fd.get(), {"--ignore-term"}));
    ASSERT_TRUE(get(listener.port).is_complete()) << child.output();
    ASSERT_TRUE(is_signal_in_mask(child.pid(), "SigIgn:", SIGTERM));

    ASSERT_TRUE(child.signal(SIGTERM)); // discarded by the kernel at once: SIG_IGN

    EXPECT_EQ(get(listener.port).response.body, expected_body(child));
    EXPECT_TRUE(child.is_running());
}

TEST(EchoPidWorker, KeepsServingOpenConnectionDuringTermDelay)
{
    const tcp_listener listener = listen_tcp();
    child_process child(
        worker(listener.key(), listener.fd.get(), {"--term-delay-ms", "60000", "--verbose"}));
    raw_connection open{connect_tcp(ip_family::v4, listener.port)};
    ASSERT_FALSE(open.send("GET / HTTP/1.1\r\n"));
    ASSERT_TRUE(child.wait_for_output("accepted connection", 10s)) << child.output();

    ASSERT_TRUE(child.signal(SIGTERM));
    ASSERT_TRUE(child.wait_for_output("received SIGTERM", 10s)) << child.output();
    ASSERT_FALSE(open.send("Host: x\r\n\r\n"));

    const read_result result = open.read_response();
    ASSERT_EQ(result.outcome, read_outcome::complete) << result.detail << child.output();
    EXPECT_EQ(result.response.body, expected_body(child));
    EXPECT_TRUE(child.is_running());
}

TEST(EchoPidWorker, RefusesToRunWithoutStarter)
{
    child_process child(child_options{.argv = {fixture_program("echo_pid_worker").string()},
                                      .env = {{"SERVER_STARTER_PORT", std::nullopt},
                                              {"LISTEN_FDS", std::nullopt},
                                              {"LISTEN_PID", std::nullopt}}});

    const std::optional<int> status = child.wait_for_exit(10s);

    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 100) << describe_wait_status(*status);
    EXPECT_NE(child.output().find("not started by a starter"), std::string::npos);
}
