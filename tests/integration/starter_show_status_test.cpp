// SPDX-License-Identifier: MIT
// start_server --show-status [--json] against a running start_server, in each state.
#include "starter_harness.hpp"

#include <boost/json/src.hpp> // Boost.JSON, header-only: --json is read by a real parser

#include <signal.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace starter_test;
namespace json = boost::json;

struct StarterShowStatus : ::testing::Test {
    temp_dir dir;
    std::uint16_t port = 0;
    std::string pid = (dir / "pid").string();
    std::string snapshot = pid + ".baton-status";

    std::vector<std::string> server(const std::vector<std::string>& options,
                                    const std::vector<std::string>& worker_args = {}) const
    {
        std::vector<std::string> argv{program("start_server"), "--port=127.0.0.1:0",
                                      "--pid-file=" + pid};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.push_back("--");
        argv.push_back(worker());
        argv.insert(argv.end(), worker_args.begin(), worker_args.end());
        return argv;
    }

    child_process start(std::vector<std::string> argv)
    {
        return start_and_learn_port(std::move(argv), port);
    }

    /// `--show-status [extra]`: its exit code and everything it printed.
    std::pair<int, std::string> show(const std::vector<std::string>& extra = {}) const
    {
        std::vector<std::string> argv{program("start_server"), "--show-status",
                                      "--pid-file=" + pid};
        argv.insert(argv.end(), extra.begin(), extra.end());
        child_process c(std::move(argv));
        const auto code = c.wait_for_exit_code();
        return {code.value_or(-1), c.output()};
    }

    /// `--show-status --json`, parsed; null when it failed or printed no JSON object.
    json::value status() const
    {
        const auto [code, out] = show({"--json"});
        if (code != 0)
            return nullptr;
        boost::system::error_code ec;
        json::value v = json::parse(out, ec);
        return ec || !v.is_object() ? json::value(nullptr) : v;
    }

    /// Waits until `--json` satisfies `pred`; the last status read (null when it never did).
    template <class Pred>
    json::value status_when(Pred pred) const
    {
        json::value last;
        const bool ok = wait_until([&] {
            last = status();
            return last.is_object() && pred(last.as_object());
        });
        return ok ? last : json::value(nullptr);
    }
};

using obj = json::object;

std::int64_t num(const json::value& v)
{
    return v.as_int64();
}

/// Does `text` have a line whose first words are `words` (a worker's row, however aligned)?
bool has_row(const std::string& text, const std::vector<std::string>& words)
{
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream in(line);
        std::vector<std::string> got;
        for (std::string w; got.size() < words.size() && in >> w;)
            got.push_back(w);
        if (got == words)
            return true;
    }
    return false;
}

const json::array& workers_of(const obj& o)
{
    return o.at("workers").as_array();
}

TEST_F(StarterShowStatus, RunningWithOneReadyWorkerReportsEveryField)
{
    auto s = start(server({"--interval=1"}));
    const auto v = status_when([](const obj& o) { return o.at("state") == "running"; });
    ASSERT_TRUE(v.is_object()) << s.output();
    const pid_t worker_pid = pid_of(ask(port));
    const obj& o = v.as_object();
    EXPECT_EQ(num(o.at("schema")), 1);
    EXPECT_EQ(num(o.at("pid")), s.pid());
    EXPECT_FALSE(o.at("version").as_string().empty());
    EXPECT_GT(num(o.at("started_at_unix")), 0);
    EXPECT_GE(num(o.at("uptime_ms")), 1000); // readiness took --interval
    EXPECT_EQ(num(o.at("upgrades").at("done")), 0);
    EXPECT_EQ(num(o.at("upgrades").at("failed")), 0);
    EXPECT_EQ(o.at("listeners").as_string(), "127.0.0.1:0=3");
    EXPECT_EQ(num(o.at("generation")), 1);
    EXPECT_EQ(num(o.at("hups")), 0);
    EXPECT_FALSE(o.at("hup_pending").as_bool());
    EXPECT_EQ(o.at("last_restart").at("result"), "ready");
    EXPECT_EQ(num(o.at("last_restart").at("generation")), 1);
    EXPECT_EQ(num(o.at("last_restart").at("pid")), worker_pid);
    EXPECT_TRUE(o.at("last_restart").at("reason").is_null());
    EXPECT_EQ(num(o.at("backoff").at("failures")), 0);
    EXPECT_TRUE(o.at("backoff").at("next_spawn_in_ms").is_null());
    ASSERT_EQ(workers_of(o).size(), 1U);
    const auto& w = workers_of(o)[0].as_object();
    EXPECT_EQ(num(w.at("generation")), 1);
    EXPECT_EQ(num(w.at("pid")), worker_pid);
    EXPECT_EQ(w.at("state"), "ready");
    EXPECT_GE(num(w.at("ready_after_ms")), 1000);
    EXPECT_GE(num(w.at("age_ms")), num(w.at("ready_after_ms")));
    EXPECT_FALSE(w.at("signalled").as_bool());

    const auto [code, text] = show();
    EXPECT_EQ(code, 0) << text;
    EXPECT_EQ(text.rfind("start_server:     pid " + std::to_string(s.pid()) + ", baton ", 0), 0U)
        << text;
    for (const std::string& line : std::vector<std::string>{
             "\nstate:            running, generation 1\n",
             "\nupgrades:         0 done, 0 failed\n",
             "\nlisteners:        127.0.0.1:0=3\n",
             "\nhups:             0, none pending\n",
             "\nbackoff:          none\n",
             "\nlast restart:     generation 1 ready (pid " + std::to_string(worker_pid) + ")\n",
         })
        EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
    EXPECT_TRUE(has_row(text, {"1", std::to_string(worker_pid), "ready"})) << text;

    // The snapshot goes at exit, before the pid file.
    ASSERT_TRUE(s.signal(SIGTERM));
    EXPECT_TRUE(s.wait_for_exit(10s).has_value());
    EXPECT_FALSE(exists(snapshot));
    EXPECT_FALSE(exists(pid));
}

TEST_F(StarterShowStatus, AnUpgradeKeepsEachWorkersTimeToReady)
{
    auto s = start(server({"--interval=1"}));
    const auto before = status_when([](const obj& o) { return o.at("state") == "running"; });
    ASSERT_TRUE(before.is_object()) << s.output();
    const auto& was = workers_of(before.as_object())[0].as_object();
    ASSERT_TRUE(s.signal(SIGUSR2));
    // The new image knows the worker only from the record; the time it took to become ready
    // is the first image's, not the upgrade's moment.
    const auto after =
        status_when([](const obj& o) { return num(o.at("upgrades").at("done")) == 1; });
    ASSERT_TRUE(after.is_object()) << s.output();
    ASSERT_EQ(workers_of(after.as_object()).size(), 1U) << s.output();
    const auto& is = workers_of(after.as_object())[0].as_object();
    EXPECT_EQ(num(is.at("pid")), num(was.at("pid")));
    EXPECT_EQ(num(is.at("ready_after_ms")), num(was.at("ready_after_ms")));
    EXPECT_GE(num(is.at("age_ms")), num(was.at("age_ms")));
    ASSERT_TRUE(s.signal(SIGTERM));
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterShowStatus, RestartWithASlowCandidateShowsBothAndAPendingHup)
{
    auto s = start(server({"--readiness=notify", "--ready-timeout=60"},
                          {"--notify-ready", "--never-ready-on-generation", "2"}));
    ASSERT_TRUE(status_when([](const obj& o) { return o.at("state") == "running"; }).is_object())
        << s.output();
    const pid_t first = pid_of(ask(port)); // asked before the candidate shares the socket
    ASSERT_TRUE(s.signal(SIGHUP));
    const auto v = status_when([](const obj& o) { return workers_of(o).size() == 2; });
    ASSERT_TRUE(v.is_object()) << s.output();
    const obj& o = v.as_object();
    EXPECT_EQ(o.at("state"), "restarting");
    EXPECT_EQ(num(o.at("generation")), 2);
    EXPECT_EQ(num(o.at("hups")), 1);
    EXPECT_EQ(o.at("last_restart").at("result"), "in-progress");
    EXPECT_EQ(num(o.at("last_restart").at("generation")), 2);
    const auto& candidate = workers_of(o)[0].as_object();
    const auto& serving = workers_of(o)[1].as_object();
    EXPECT_EQ(candidate.at("state"), "starting");
    EXPECT_EQ(num(candidate.at("generation")), 2);
    EXPECT_EQ(num(candidate.at("pid")), num(o.at("last_restart").at("pid")));
    EXPECT_GE(num(candidate.at("age_ms")), 0);
    EXPECT_TRUE(candidate.at("ready_after_ms").is_null());
    EXPECT_EQ(serving.at("state"), "ready");
    EXPECT_EQ(num(serving.at("generation")), 1);
    EXPECT_EQ(num(serving.at("pid")), first);

    // A HUP during the start is coalesced into one more restart after it.
    ASSERT_TRUE(s.signal(SIGHUP));
    const auto pending = status_when([](const obj& p) { return p.at("hup_pending").as_bool(); });
    ASSERT_TRUE(pending.is_object()) << s.output();
    EXPECT_EQ(num(pending.at("hups")), 2);
    const auto [code, text] = show();
    EXPECT_NE(text.find("\nhups:             2, one pending\n"), std::string::npos) << text;
    EXPECT_TRUE(has_row(text, {"2", std::to_string(num(candidate.at("pid"))), "starting"})) << text;
}

TEST_F(StarterShowStatus, FailedRestartShowsTheBackoffAndTheReason)
{
    auto s = start(server({"--interval=1"}, {"--exit-on-generations-from", "2"}));
    ASSERT_TRUE(status_when([](const obj& o) { return o.at("state") == "running"; }).is_object())
        << s.output();
    ASSERT_TRUE(s.signal(SIGHUP));
    const auto v = status_when([](const obj& o) {
        return !o.at("backoff").at("next_spawn_in_ms").is_null() &&
               o.at("last_restart").at("result") == "failed";
    });
    ASSERT_TRUE(v.is_object()) << s.output();
    const obj& o = v.as_object();
    EXPECT_EQ(o.at("state"), "restarting");
    EXPECT_GE(num(o.at("backoff").at("failures")), 1);
    EXPECT_LE(num(o.at("backoff").at("next_spawn_in_ms")), 60'000);
    EXPECT_GE(num(o.at("last_restart").at("generation")), 2);
    EXPECT_FALSE(o.at("last_restart").at("reason").as_string().empty());
    ASSERT_EQ(workers_of(o).size(), 1U); // the old generation serves on
    EXPECT_EQ(workers_of(o)[0].at("state"), "ready");
    EXPECT_EQ(num(workers_of(o)[0].at("generation")), 1);
    const auto [code, text] = show();
    EXPECT_NE(text.find(" failed starts, next spawn in "), std::string::npos) << text;
    EXPECT_NE(text.find("\nlast restart:     generation "), std::string::npos) << text;
}

TEST_F(StarterShowStatus, RetiringWorkerSlowToExitThenStopping)
{
    auto s = start(server({"--interval=1", "--shutdown-timeout=60"}, {"--ignore-term"}));
    ASSERT_TRUE(status_when([](const obj& o) { return o.at("state") == "running"; }).is_object())
        << s.output();
    const pid_t first = pid_of(ask(port));
    ASSERT_TRUE(s.signal(SIGHUP));
    const auto v = status_when(
        [](const obj& o) { return o.at("state") == "running" && workers_of(o).size() == 2; });
    ASSERT_TRUE(v.is_object()) << s.output();
    const auto& serving = workers_of(v.as_object())[0].as_object();
    const auto& retiring = workers_of(v.as_object())[1].as_object();
    EXPECT_EQ(serving.at("state"), "ready");
    EXPECT_EQ(num(serving.at("generation")), 2);
    EXPECT_EQ(retiring.at("state"), "retiring");
    EXPECT_EQ(num(retiring.at("generation")), 1);
    EXPECT_EQ(num(retiring.at("pid")), first);
    EXPECT_TRUE(retiring.at("signalled").as_bool());
    EXPECT_GE(num(retiring.at("ready_after_ms")), 1000); // kept from when it served
    EXPECT_GE(num(retiring.at("age_ms")), num(retiring.at("ready_after_ms")));
    const auto [code, text] = show();
    EXPECT_TRUE(has_row(text, {"1", std::to_string(first), "retiring*"})) << text;

    ASSERT_TRUE(s.signal(SIGTERM)); // both ignore TERM: start_server waits in stopping
    EXPECT_TRUE(status_when([](const obj& o) { return o.at("state") == "stopping"; }).is_object())
        << s.output();
}

TEST_F(StarterShowStatus, NotRunningOrNoStatusIsOneLineAndAnExitCode)
{
    auto [code, out] = show();
    EXPECT_EQ(code, 3);
    EXPECT_EQ(out, "failed to open file:" + pid + ":No such file or directory\n");

    child_process bystander({"/bin/sleep", "30"});
    std::ofstream(pid) << bystander.pid() << "\n"; // nobody holds its lock
    std::tie(code, out) = show({"--json"});
    EXPECT_EQ(code, 3);
    EXPECT_EQ(out, "start_server is not running (" + pid + ": stale pid " +
                       std::to_string(bystander.pid()) + ")\n");
    ASSERT_TRUE(bystander.signal(SIGKILL));
    ::unlink(pid.c_str());

    auto s = start(server({"--interval=1"}));
    ASSERT_TRUE(status_when([](const obj& o) { return o.at("state") == "running"; }).is_object())
        << s.output();
    const std::string good = read_file(snapshot);
    std::ofstream(snapshot) << "garbage\n";
    std::tie(code, out) = show();
    EXPECT_EQ(code, 4);
    EXPECT_EQ(out, "no status from start_server (pid " + std::to_string(s.pid()) +
                       "): " + snapshot + ": not a baton status snapshot\n");
    const auto at = good.find("\npid ") + 5;
    std::ofstream(snapshot) << good.substr(0, at) << "1" << good.substr(good.find('\n', at));
    std::tie(code, out) = show();
    EXPECT_EQ(code, 4);
    EXPECT_EQ(out, "no status from start_server (pid " + std::to_string(s.pid()) +
                       "): " + snapshot + " is pid 1's, stale\n");
    ::unlink(snapshot.c_str());
    std::tie(code, out) = show();
    EXPECT_EQ(code, 4);
    EXPECT_EQ(out, "no status from start_server (pid " + std::to_string(s.pid()) +
                       "): failed to read " + snapshot + ":No such file or directory\n");
}

} // namespace
