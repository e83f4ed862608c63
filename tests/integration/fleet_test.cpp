// SPDX-License-Identifier: MIT
// A fleet behind a real load balancer: HAProxy 2.6 (examples/haproxy/haproxy.cfg, strict:
// no retry, no redispatch) in front of three hosts on 127.0.0.2-4, each start_server with
// `--health` and `--drain-delay` running examples/hello. Under GET (keep-alive and not) and
// POST load, every host is restarted in place, then one is stopped and started again: not
// one request may fail or be non-2xx, and HAProxy must not have retried one to hide it
// (docs/fleet.md). Correctness only; bench/fleet measures the rest.
#include "support/child_process.hpp"
#include "support/http_load.hpp"
#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace baton::test;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view expected_body = "Hello, baton!\n";
constexpr std::array<int, 3> hosts{2, 3, 4}; ///< 127.0.0.N; HAProxy calls them hN
constexpr int drain_delay_seconds = 2;       ///< >= 200 ms x fall 2 + timeout check 1 s

/// `name` in PATH or the sbin directories (haproxy lives in /usr/sbin); empty when absent.
std::filesystem::path find_program(std::string_view name)
{
    std::string dirs = std::getenv("PATH") ? std::getenv("PATH") : "";
    dirs += ":/usr/sbin:/usr/local/sbin:/sbin";
    std::stringstream in(dirs);
    for (std::string dir; std::getline(in, dir, ':');) {
        const auto p = std::filesystem::path(dir) / name;
        if (!dir.empty() && ::access(p.c_str(), X_OK) == 0)
            return p;
    }
    return {};
}

/// True when `address:port` can be bound now (the socket is closed again at once).
bool is_bindable(const std::string& address, std::uint16_t port, std::uint16_t* chosen = nullptr)
{
    unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (!fd || ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) != 1 ||
        ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
        return false;
    if (chosen)
        *chosen = local_port(fd.get());
    return true;
}

/// A port the kernel chose on 127.0.0.2 that is free on .3 and .4 too: HAProxy's config
/// needs the port before the hosts bind it, so it is taken by binding port 0 and released.
std::uint16_t free_port_on_hosts()
{
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::uint16_t port = 0;
        if (is_bindable("127.0.0.2", 0, &port) && is_bindable("127.0.0.3", port) &&
            is_bindable("127.0.0.4", port))
            return port;
    }
    throw std::runtime_error("no port free on 127.0.0.2-4");
}

/// HAProxy's `show stat` for backend `fleet`, one map of column to value per row (svname).
std::map<std::string, std::map<std::string, std::string>>
show_stat(const std::filesystem::path& socket)
{
    std::error_code ec;
    unique_fd fd = connect_unix(socket, ec, 1s);
    if (!fd)
        return {};
    raw_connection conn(std::move(fd));
    if (conn.send("show stat\n", 1s))
        return {};
    std::stringstream in(conn.read_until_eof(2s).data);
    std::vector<std::string> names;
    std::map<std::string, std::map<std::string, std::string>> rows;
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> fields;
        std::stringstream cells(line.starts_with("# ") ? line.substr(2) : line);
        for (std::string cell; std::getline(cells, cell, ',');)
            fields.push_back(cell);
        if (line.starts_with("# ")) {
            names = fields;
        } else if (fields.size() > 1 && fields[0] == "fleet") {
            for (std::size_t i = 0; i < fields.size() && i < names.size(); ++i)
                rows[fields[1]][names[i]] = fields[i];
        }
    }
    return rows;
}

/// The three hosts and the balancer, all child processes of the test.
class fleet {
public:
    fleet()
        : port_(free_port_on_hosts())
        , health_port_(free_port_on_hosts())
    {
        is_bindable("127.0.0.1", 0, &front_port_);
        for (int n : hosts)
            start_host(n);
    }

    std::uint16_t front_port() const noexcept { return front_port_; }

    const temp_dir& dir() const noexcept { return dir_; }

    std::filesystem::path file(int n, std::string_view what) const
    {
        return dir_ / ("h" + std::to_string(n) + "." + std::string(what));
    }

    void start_host(int n)
    {
        const std::string host = "127.0.0.";
        child_options opts;
        opts.argv = {fixture_program("start_server").string(),
                     "--port=" + host + std::to_string(n) + ":" + std::to_string(port_),
                     "--health=" + host + std::to_string(n) + ":" + std::to_string(health_port_),
                     "--drain-delay=" + std::to_string(drain_delay_seconds),
                     "--readiness=notify",
                     "--ready-timeout=10",
                     "--shutdown-timeout=10",
                     "--pid-file=" + file(n, "pid").string(),
                     "--status-file=" + file(n, "status").string(),
                     "--",
                     fixture_program("hello").string()};
        opts.env = {{"SERVER_STARTER_PORT", std::nullopt},
                    {"NOTIFY_SOCKET", std::nullopt},
                    {"LISTEN_FDS", std::nullopt},
                    {"LISTEN_PID", std::nullopt}};
        hosts_.insert_or_assign(n, std::make_unique<child_process>(opts));
    }

    child_process& host(int n) { return *hosts_.at(n); }

    /// HAProxy in strict mode over the three hosts, checking each one's /readyz.
    void start_balancer(const std::filesystem::path& haproxy)
    {
        child_options opts;
        opts.argv = {haproxy.string(), "-db", "-f",
                     BATON_SOURCE_DIR "/examples/haproxy/haproxy.cfg"};
        opts.env = {{"FLEET_DIR", dir_.path().string()},
                    {"FLEET_FRONT", "127.0.0.1:" + std::to_string(front_port_)},
                    {"FLEET_CHECK_PATH", "/readyz"},
                    {"FLEET_CHECK_PORT", std::to_string(health_port_)},
                    {"FLEET_STRICT", "1"}};
        for (int n : hosts)
            opts.env["FLEET_H" + std::to_string(n)] =
                "127.0.0." + std::to_string(n) + ":" + std::to_string(port_);
        balancer_.emplace(opts);
    }

    child_process& balancer() { return *balancer_; }

    /// HAProxy's status of host N: "UP", "UP 1/2", "DOWN", ...; empty when it cannot say.
    std::string status(int n)
    {
        auto rows = show_stat(dir_ / "admin.sock");
        return rows["h" + std::to_string(n)]["status"];
    }

    /// The backend's retries and redispatches since HAProxy started.
    std::pair<int, int> retries()
    {
        auto row = show_stat(dir_ / "admin.sock")["BACKEND"];
        return {std::atoi(row["wretr"].c_str()), std::atoi(row["wredis"].c_str())};
    }

    /// A start_server client (`--restart` or `--stop`) run to its end.
    std::optional<int> run_client(int n, std::string_view verb)
    {
        child_process c({fixture_program("start_server").string(), std::string(verb),
                         "--pid-file=" + file(n, "pid").string(),
                         "--status-file=" + file(n, "status").string()});
        const auto code = c.wait_for_exit_code(30s);
        last_client_output_ = c.output();
        return code;
    }

    const std::string& last_client_output() const noexcept { return last_client_output_; }

private:
    temp_dir dir_;
    std::uint16_t port_;
    std::uint16_t health_port_;
    std::uint16_t front_port_ = 0;
    std::map<int, std::unique_ptr<child_process>> hosts_;
    std::optional<child_process> balancer_;
    std::string last_client_output_;
};

/// Why the test cannot run here, or empty.
std::string reason_to_skip(std::filesystem::path& haproxy)
{
    haproxy = find_program("haproxy");
    if (haproxy.empty())
        return "haproxy is not installed (apt-get install haproxy)";
    child_process help({fixture_program("start_server").string(), "--help"});
    help.wait_for_exit_code(10s);
    // an option's own line, not a mention in another's text
    if (!help.has_output("\n  --health=") || !help.has_output("\n  --drain-delay="))
        return "start_server has no --health/--drain-delay yet";
    return {};
}

} // namespace

TEST(Fleet, StrictHaproxyLosesNothingAcrossRollingRestartAndStopStart)
{
    std::filesystem::path haproxy;
    if (const auto reason = reason_to_skip(haproxy); !reason.empty())
        GTEST_SKIP() << reason;

    fleet f;
    f.start_balancer(haproxy);
    for (int n : hosts)
        ASSERT_TRUE(wait_until([&] { return f.status(n) == "UP"; }, 30s))
            << "h" << n << ": " << f.status(n) << "\n"
            << f.host(n).output() << f.balancer().output();

    // the load: 8 clients each of GET keep-alive, GET HTTP/1.0 and POST keep-alive
    http_load load(f.front_port(), 8, 2000, std::string(expected_body));
    load_tally& t = load.tally();

    ASSERT_TRUE(wait_until([&] { return t.completed >= 200; }, 30s)) << t.failed.load();

    // 1. a rolling in-place restart: each host in turn, the next once HAProxy has it UP
    for (int n : hosts) {
        EXPECT_EQ(f.run_client(n, "--restart"), 0) << f.last_client_output();
        ASSERT_TRUE(wait_until([&] { return f.status(n) == "UP"; }, 30s)) << f.status(n);
    }

    // 2. h3 stopped (readiness off, drain delay, drain) and started again
    ASSERT_EQ(f.run_client(3, "--stop"), 0) << f.last_client_output();
    ASSERT_TRUE(f.host(3).wait_for_exit(30s).has_value()) << f.host(3).output();
    EXPECT_NE(f.status(3), "UP");
    f.start_host(3);
    ASSERT_TRUE(wait_until([&] { return f.status(3) == "UP"; }, 30s)) << f.host(3).output();

    // a few thousand requests in all, the last ones over the whole fleet again
    const int before_tail = t.completed;
    ASSERT_TRUE(wait_until([&] { return t.completed >= std::max(3000, before_tail + 300); }, 60s));
    load.stop();

    const std::string failures = t.failure_report();
    EXPECT_EQ(t.failed.load(), 0) << failures;
    EXPECT_EQ(t.non_2xx.load(), 0) << failures;
    const auto [retries, redispatches] = f.retries();
    EXPECT_EQ(retries, 0) << "HAProxy retried requests that would have failed";
    EXPECT_EQ(redispatches, 0);
    EXPECT_GE(t.completed.load(), 3000);
}
