// SPDX-License-Identifier: MIT
#include "status_report.hpp"

#include <boost/json/src.hpp> // Boost.JSON, header-only: a real parser for --json's output
#include <gtest/gtest.h>

#include <string>

namespace {

using namespace baton::starter;
using namespace std::chrono_literals;

namespace json = boost::json;

// A fixed origin: every time below is an offset from it, so the expected ages are exact.
const clock::time_point t0 = clock::time_point(1000s);

std::int64_t ns(clock::time_point t)
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

starter_facts facts()
{
    starter_facts f;
    f.pid = 4242;
    f.version = "9.8.7";
    f.started_ns = ns(t0);
    f.started_unix = 1'700'000'000;
    f.upgrades_done = 3;
    f.upgrades_failed = 1;
    f.last_upgrade = "failed: preflight: /usr/bin/start_server: exit status 1";
    f.listeners = "127.0.0.1:8080=3;/run/my app.sock=4";
    return f;
}

machine_state::worker worker(pid_t pid, unsigned long gen, clock::time_point spawned)
{
    return {pid, gen, spawned, 0};
}

// start_server 10 s old, generation 1 spawned at 1 s, ready at 2 s.
machine_state running()
{
    machine_state m;
    m.phase = state::running;
    m.kind = machine_state::restart_kind::initial;
    m.generation = 1;
    m.current = worker(101, 1, t0 + 1s);
    m.record.started = restart_attempt{1, 0, 101, ""};
    m.record.ready = restart_attempt{1, 0, 101, ""};
    return m;
}

status_snapshot snapshot_of(const machine_state& m, const status_snapshot* previous = nullptr,
                            clock::time_point now = t0 + 2s)
{
    return make_snapshot(facts(), m, previous, now);
}

TEST(StatusSnapshot, StartingHasOneStartingWorkerAndARestartInProgress)
{
    machine_state m;
    m.generation = 1;
    m.candidate = worker(101, 1, t0 + 1s);
    m.record.started = restart_attempt{1, 0, 101, ""};
    const auto s = snapshot_of(m);
    EXPECT_EQ(s.starter, facts());
    EXPECT_EQ(s.phase, "starting");
    EXPECT_EQ(s.generation, 1U);
    ASSERT_EQ(s.workers.size(), 1U);
    EXPECT_EQ(s.workers[0], (status_worker{worker_role::starting, 101, 1, ns(t0 + 1s), {}, false}));
    EXPECT_EQ(s.restart, (last_restart{last_restart::outcome::in_progress, 1, 101, ""}));
    EXPECT_FALSE(s.next_spawn_ns);
}

TEST(StatusSnapshot, ReadyWorkerIsReadyFromTheFirstSnapshotThatSeesIt)
{
    const auto first = snapshot_of(running(), nullptr, t0 + 2s);
    EXPECT_EQ(first.phase, "running");
    ASSERT_EQ(first.workers.size(), 1U);
    EXPECT_EQ(first.workers[0],
              (status_worker{worker_role::ready, 101, 1, ns(t0 + 1s), ns(t0 + 2s), false}));
    EXPECT_EQ(first.restart, (last_restart{last_restart::outcome::ready, 1, 101, ""}));
    // Later snapshots keep the time it became ready: nothing changed, nothing to write.
    EXPECT_EQ(snapshot_of(running(), &first, t0 + 9s), first);
}

TEST(StatusSnapshot, RestartingListsTheCandidateBeforeTheServingWorker)
{
    const auto before = snapshot_of(running());
    auto m = running();
    m.phase = state::restarting;
    m.kind = machine_state::restart_kind::hup;
    m.generation = 2;
    m.candidate = worker(102, 2, t0 + 5s);
    m.record.hups = 1;
    m.record.started = restart_attempt{2, 1, 102, ""};
    const auto s = snapshot_of(m, &before, t0 + 6s);
    EXPECT_EQ(s.phase, "restarting");
    EXPECT_EQ(s.hups, 1U);
    ASSERT_EQ(s.workers.size(), 2U);
    EXPECT_EQ(s.workers[0], (status_worker{worker_role::starting, 102, 2, ns(t0 + 5s), {}, false}));
    EXPECT_EQ(s.workers[1], before.workers[0]);
    EXPECT_EQ(s.restart, (last_restart{last_restart::outcome::in_progress, 2, 102, ""}));
}

TEST(StatusSnapshot, RetiringWorkerKeepsItsTimesAndShowsItsSignal)
{
    const auto before = snapshot_of(running());
    auto m = running();
    m.generation = 2;
    m.current = worker(102, 2, t0 + 5s);
    m.old[101] = machine_state::retired{1, {}, t0 + 7s, false};
    m.record.ready = restart_attempt{2, 1, 102, ""};
    const auto s = snapshot_of(m, &before, t0 + 7s);
    ASSERT_EQ(s.workers.size(), 2U);
    EXPECT_EQ(s.workers[0],
              (status_worker{worker_role::ready, 102, 2, ns(t0 + 5s), ns(t0 + 7s), false}));
    EXPECT_EQ(s.workers[1],
              (status_worker{worker_role::retiring, 101, 1, ns(t0 + 1s), ns(t0 + 2s), true}));
    // A retiring worker no snapshot saw (a kill-old delay still pending): times unknown.
    m.old[99] = machine_state::retired{1, t0 + 9s, {}, false};
    const auto unseen = snapshot_of(m, &before, t0 + 7s);
    EXPECT_EQ(unseen.workers[1], (status_worker{worker_role::retiring, 99, 1, {}, {}, false}));
}

TEST(StatusSnapshot, BackoffAfterFailedStartsNamesTheNextSpawnAndTheReason)
{
    auto m = running();
    m.phase = state::restarting;
    m.kind = machine_state::restart_kind::hup;
    m.generation = 3;
    m.failures = 2;
    m.next_spawn_at = t0 + 12s;
    m.record.failed = restart_attempt{3, 1, 103, "exited with status 1"};
    const auto s = snapshot_of(m);
    EXPECT_EQ(s.phase, "restarting");
    EXPECT_EQ(s.failures, 2U);
    EXPECT_EQ(s.next_spawn_ns, ns(t0 + 12s));
    EXPECT_EQ(s.restart,
              (last_restart{last_restart::outcome::failed, 3, 103, "exited with status 1"}));
}

TEST(StatusSnapshot, PendingHupDrainingAndStoppingAreReported)
{
    auto m = running();
    m.is_hup_pending = true;
    EXPECT_TRUE(snapshot_of(m).is_hup_pending);
    m.stop = machine_state::stop_request{"TERM", {}, t0 + 30s};
    EXPECT_EQ(snapshot_of(m).phase, "draining");
    m.phase = state::stopping;
    EXPECT_EQ(snapshot_of(m).phase, "stopping");
    m.phase = state::stopped;
    EXPECT_EQ(snapshot_of(m).phase, "stopped");
}

// A snapshot with every field set to something other than its default.
status_snapshot busy()
{
    const auto before = snapshot_of(running());
    auto m = running();
    m.phase = state::restarting;
    m.generation = 4;
    m.current = worker(102, 2, t0 + 5s);
    m.old[101] = machine_state::retired{1, {}, t0 + 6s, false};
    m.failures = 1;
    m.next_spawn_at = t0 + 12s;
    m.is_hup_pending = true;
    m.record.hups = 3;
    m.record.failed = restart_attempt{4, 3, 104, "ready timeout: \"slow\"\n"};
    return snapshot_of(m, &before, t0 + 7s);
}

TEST(StatusSnapshotFile, RoundTripsEveryField)
{
    const auto s = busy();
    std::string error;
    const auto back = read_snapshot(write_snapshot(s), error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(*back, s);
}

TEST(StatusSnapshotFile, HoldsOneKeyPerLineAndEscapesText)
{
    const std::string text = write_snapshot(busy());
    EXPECT_EQ(text.rfind("baton-status 1.0\npid 4242\nversion 9.8.7\n", 0), 0U);
    EXPECT_NE(text.find("\nlisteners 127.0.0.1:8080=3;/run/my%20app.sock=4\n"), std::string::npos);
    EXPECT_NE(text.find("\nrestart failed 4 104 ready%20timeout:%20\"slow\"%0A\n"),
              std::string::npos);
    EXPECT_TRUE(text.ends_with("\nend\n"));
}

TEST(StatusSnapshotFile, IgnoresUnknownKeysAndRefusesWhatItCannotRead)
{
    std::string error;
    auto text = write_snapshot(busy());
    const auto with_new_key =
        read_snapshot(text.substr(0, text.size() - 4) + "a-newer-key 1 2 3\nend\n", error);
    ASSERT_TRUE(with_new_key) << error;
    EXPECT_EQ(*with_new_key, busy());

    EXPECT_FALSE(read_snapshot(text.substr(0, text.size() - 4), error));
    EXPECT_EQ(error, "status snapshot truncated (no end line)");
    EXPECT_FALSE(read_snapshot("", error));
    EXPECT_EQ(error, "empty status snapshot");
    EXPECT_FALSE(read_snapshot("1:123\n", error));
    EXPECT_EQ(error, "not a baton status snapshot");
    EXPECT_FALSE(read_snapshot("baton-status 2.0\nend\n", error));
    EXPECT_EQ(error, "status snapshot version 2.0 is newer than this start_server reads (1.x)");
    EXPECT_FALSE(read_snapshot("baton-status 1.3\npid x\nend\n", error));
    EXPECT_EQ(error, "status snapshot line 2: bad pid");
    EXPECT_FALSE(read_snapshot("baton-status 1.0\nworker ready 1 1\nend\n", error));
    EXPECT_EQ(error, "status snapshot line 2: bad worker");
}

TEST(StatusSnapshotPath, SitsBesideThePidFile)
{
    EXPECT_EQ(status_snapshot_path("/run/app.pid"), "/run/app.pid.baton-status");
}

TEST(StatusText, ShowsEveryFieldAligned)
{
    const std::string text = format_status_text(busy(), ns(t0 + 130s));
    EXPECT_EQ(text, "start_server:     pid 4242, baton 9.8.7\n"
                    "uptime:           2m10s\n"
                    "state:            restarting, generation 4\n"
                    "upgrades:         3 done, 1 failed; last: failed: preflight: "
                    "/usr/bin/start_server: exit status 1\n"
                    "listeners:        127.0.0.1:8080=3;/run/my app.sock=4\n"
                    "last restart:     generation 4 failed: ready timeout: \"slow\"\\n\n"
                    "hups:             3, one pending\n"
                    "backoff:          1 failed starts, next spawn in 0.000s\n"
                    "workers:\n"
                    "  GENERATION PID       STATE      AGE        READY AFTER\n"
                    "  2          102       ready      2m05s      2.000s\n"
                    "  1          101       retiring*  2m09s      1.000s\n");
}

TEST(StatusText, ShowsTheBackoffStillToComeAndNoWorkers)
{
    machine_state m;
    m.generation = 1;
    m.failures = 1;
    m.next_spawn_at = t0 + 5s;
    const std::string text = format_status_text(snapshot_of(m), ns(t0 + 2s));
    EXPECT_NE(text.find("backoff:          1 failed starts, next spawn in 3.000s\n"),
              std::string::npos);
    EXPECT_NE(text.find("last restart:     none\n"), std::string::npos);
    EXPECT_TRUE(text.ends_with("workers:          none\n"));
}

TEST(StatusJson, HasEveryFieldOfTheSchema)
{
    const json::value v = json::parse(format_status_json(busy(), ns(t0 + 10s)));
    const json::object& o = v.as_object();
    EXPECT_EQ(o.size(), 14U);
    EXPECT_EQ(o.at("schema").as_int64(), 1);
    EXPECT_EQ(o.at("pid").as_int64(), 4242);
    EXPECT_EQ(o.at("version").as_string(), "9.8.7");
    EXPECT_EQ(o.at("started_at_unix").as_int64(), 1'700'000'000);
    EXPECT_EQ(o.at("uptime_ms").as_int64(), 10'000);
    EXPECT_EQ(o.at("upgrades").at("done").as_int64(), 3);
    EXPECT_EQ(o.at("upgrades").at("failed").as_int64(), 1);
    EXPECT_EQ(o.at("upgrades").at("last").as_string(),
              "failed: preflight: /usr/bin/start_server: exit status 1");
    EXPECT_EQ(o.at("listeners").as_string(), "127.0.0.1:8080=3;/run/my app.sock=4");
    EXPECT_EQ(o.at("state").as_string(), "restarting");
    EXPECT_EQ(o.at("generation").as_int64(), 4);
    EXPECT_EQ(o.at("hups").as_int64(), 3);
    EXPECT_TRUE(o.at("hup_pending").as_bool());
    const auto& r = o.at("last_restart").as_object();
    EXPECT_EQ(r.at("result").as_string(), "failed");
    EXPECT_EQ(r.at("generation").as_int64(), 4);
    EXPECT_EQ(r.at("pid").as_int64(), 104);
    EXPECT_EQ(r.at("reason").as_string(), "ready timeout: \"slow\"\n");
    EXPECT_EQ(o.at("backoff").at("failures").as_int64(), 1);
    EXPECT_EQ(o.at("backoff").at("next_spawn_in_ms").as_int64(), 2000);
    const auto& w = o.at("workers").as_array();
    ASSERT_EQ(w.size(), 2U);
    EXPECT_EQ(json::serialize(w[0]), R"({"generation":2,"pid":102,"state":"ready","age_ms":5000,)"
                                     R"("ready_after_ms":2000,"signalled":false})");
    EXPECT_EQ(json::serialize(w[1]), R"({"generation":1,"pid":101,"state":"retiring",)"
                                     R"("age_ms":9000,"ready_after_ms":1000,"signalled":true})");
}

TEST(StatusJson, UnknownTimesAndNoBackoffAreNull)
{
    auto m = running();
    m.old[99] = machine_state::retired{1, t0 + 9s, {}, false};
    const json::value v = json::parse(format_status_json(snapshot_of(m), ns(t0 + 3s)));
    EXPECT_TRUE(v.at("backoff").at("next_spawn_in_ms").is_null());
    EXPECT_TRUE(v.at("last_restart").at("reason").is_null());
    const auto& retiring = v.at("workers").as_array().at(1);
    EXPECT_TRUE(retiring.at("age_ms").is_null());
    EXPECT_TRUE(retiring.at("ready_after_ms").is_null());
}

TEST(JsonString, EscapesQuotesBackslashesAndEveryNonAsciiByte)
{
    EXPECT_EQ(json_string("a\"b\\c\nd\t\x01\x7f\xc3\xa9"),
              R"("a\"b\\c\nd\u0009\u0001\u007f\u00c3\u00a9")");
    const json::value v = json::parse(json_string(std::string("x\0y", 3)));
    EXPECT_EQ(v.as_string(), std::string_view("x\0y", 3));
}

} // namespace
