// SPDX-License-Identifier: MIT
#include "machine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>

namespace {

using namespace baton::starter;
using namespace std::chrono_literals;

// Records what the machine does; spawns are numbered pids from 100.
class recording_effects final : public effects {
public:
    pid_t spawn(unsigned long generation) override
    {
        generations.push_back(generation);
        if (is_fork_failing)
            return -1;
        return next_pid++;
    }

    void send_signal(pid_t pid, int sig) override { signals.emplace_back(pid, sig); }

    void log(std::string_view line) override { lines.emplace_back(line); }

    void status_changed(const std::vector<std::pair<unsigned long, pid_t>>& w) override
    {
        status = w;
    }

    void tell_systemd(std::string_view s) override { systemd.emplace_back(s); }

    void restart_recorded(const restart_record& r) override { records.push_back(r); }

    void stop_listening() override
    {
        ++listener_closes;
        signals_when_closed = signals.size();
    }

    bool logged(std::string_view needle) const
    {
        return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
            return l.find(needle) != std::string::npos;
        });
    }

    bool signalled(pid_t pid, int sig) const
    {
        return std::find(signals.begin(), signals.end(), std::make_pair(pid, sig)) != signals.end();
    }

    pid_t next_pid = 100;
    bool is_fork_failing = false;
    std::vector<unsigned long> generations;
    std::vector<std::pair<pid_t, int>> signals;
    std::vector<std::string> lines;
    std::vector<std::pair<unsigned long, pid_t>> status;
    std::vector<std::string> systemd;
    std::vector<restart_record> records;
    int listener_closes = 0;
    std::size_t signals_when_closed = 0; ///< signals sent before the listeners were closed
};

struct Supervisor : ::testing::Test {
    machine_settings settings;
    recording_effects fx;
    clock::time_point t0 = clock::time_point{} + 1000s;

    machine make() { return machine(settings, fx); }

    // Start and let the first generation (pid 100) come up.
    void bring_up(machine& m)
    {
        m.start(t0);
        m.on_tick(t0 + settings.interval);
        ASSERT_EQ(m.current_state(), state::running);
    }
};

TEST_F(Supervisor, FirstGenerationCountsAsStartedAfterTheInterval)
{
    auto m = make();
    m.start(t0);
    EXPECT_EQ(m.current_state(), state::restarting);
    EXPECT_EQ(fx.lines.back(), "starting new worker 100");
    m.on_tick(t0 + 999ms);
    EXPECT_EQ(m.current_state(), state::restarting);
    m.on_tick(t0 + 1000ms);
    EXPECT_EQ(m.current_state(), state::running);
    EXPECT_EQ(m.current_pid(), 100);
    EXPECT_EQ(fx.status, (std::vector<std::pair<unsigned long, pid_t>>{{1, 100}}));
    EXPECT_EQ(fx.systemd, std::vector<std::string>{"READY=1\nSTATUS=generation 1 ready (pid 100)"});
    EXPECT_FALSE(fx.logged("new worker is now running")); // Server::Starter prints none at boot
}

TEST_F(Supervisor, HupStartsANewGenerationAndRetiresTheOldOnceItIsUp)
{
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s);
    EXPECT_EQ(m.current_state(), state::restarting);
    EXPECT_EQ(m.candidate_pid(), 101);
    EXPECT_FALSE(fx.signalled(100, SIGTERM));
    m.on_tick(t0 + 6s);
    EXPECT_EQ(m.current_pid(), 101);
    EXPECT_TRUE(fx.signalled(100, SIGTERM));
    EXPECT_TRUE(fx.logged("new worker is now running, sending TERM to old workers:100"));
    EXPECT_TRUE(fx.logged("killing old workers"));
    EXPECT_EQ(fx.listener_closes, 0); // a restart never closes the listeners
    EXPECT_EQ(fx.status, (std::vector<std::pair<unsigned long, pid_t>>{{1, 100}, {2, 101}}));
    m.on_child_exit(100, 0, t0 + 7s);
    EXPECT_TRUE(fx.logged("old worker 100 died, status:0"));
    EXPECT_EQ(fx.status, (std::vector<std::pair<unsigned long, pid_t>>{{2, 101}}));
    EXPECT_EQ(fx.systemd, (std::vector<std::string>{
                              "READY=1\nSTATUS=generation 1 ready (pid 100)", "RELOADING=1",
                              "READY=1\nSTATUS=generation 2 ready (pid 101)"}));
}

TEST_F(Supervisor, HupStormDuringARestartCoalescesIntoExactlyOneMoreRestart)
{
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s);
    for (int i = 0; i < 300; ++i)
        m.on_hup(t0 + 5s + std::chrono::milliseconds(i));
    EXPECT_TRUE(m.is_hup_pending());
    m.on_tick(t0 + 6s); // 101 up; the coalesced HUP starts 102 at once
    EXPECT_EQ(m.current_pid(), 101);
    EXPECT_EQ(m.candidate_pid(), 102);
    m.on_tick(t0 + 7s);
    EXPECT_EQ(m.current_pid(), 102);
    EXPECT_EQ(m.current_state(), state::running);
    EXPECT_FALSE(m.is_hup_pending());
    EXPECT_EQ(fx.generations, (std::vector<unsigned long>{1, 2, 3}));
    EXPECT_TRUE(fx.signalled(100, SIGTERM));
    EXPECT_TRUE(fx.signalled(101, SIGTERM));
}

TEST_F(Supervisor, FailedStartKeepsTheOldGenerationServing)
{
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s);
    m.on_child_exit(101, 256, t0 + 5s + 10ms);
    EXPECT_TRUE(fx.logged("new worker 101 seems to have failed to start, exit status:256"));
    EXPECT_EQ(m.current_pid(), 100);
    EXPECT_FALSE(fx.signalled(100, SIGTERM));
    EXPECT_EQ(fx.status, (std::vector<std::pair<unsigned long, pid_t>>{{1, 100}}));
    // systemd's reload ends (a unit must not stay "reloading"), and its status says why
    ASSERT_GE(fx.systemd.size(), 2U);
    EXPECT_EQ(fx.systemd[fx.systemd.size() - 2], "RELOADING=1");
    EXPECT_EQ(fx.systemd.back(),
              "READY=1\nSTATUS=restart failed (exit status:256); generation 1 (pid 100) still "
              "serving");
    // paced: the retry comes one interval after the failed attempt, not before
    m.on_tick(t0 + 5s + 500ms);
    EXPECT_FALSE(m.candidate_pid());
    m.on_tick(t0 + 6s);
    EXPECT_EQ(m.candidate_pid(), 102);
    EXPECT_EQ(fx.generations, (std::vector<unsigned long>{1, 2, 3})); // attempts count
}

TEST_F(Supervisor, RepeatedFailuresBackOffUpToAMinute)
{
    settings.interval = 1s;
    auto m = make();
    bring_up(m);
    auto now = t0 + 10s;
    m.on_hup(now);
    std::vector<std::chrono::milliseconds> gaps;
    auto last = now;
    for (int attempt = 0; attempt < 14; ++attempt) {
        const pid_t pid = *m.candidate_pid();
        m.on_child_exit(pid, 256, now);
        const auto next = m.next_deadline();
        ASSERT_TRUE(next);
        now = *next;
        m.on_tick(now);
        ASSERT_TRUE(m.candidate_pid());
        gaps.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(now - last));
        last = now;
    }
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(gaps[static_cast<std::size_t>(i)], 1s) << i; // Server::Starter's rhythm
    EXPECT_EQ(gaps[5], 2s);
    EXPECT_EQ(gaps[6], 4s);
    EXPECT_EQ(gaps.back(), 60s);
    EXPECT_EQ(m.current_pid(), 100);
    EXPECT_TRUE(fx.logged("retrying in 60000 ms after"));
}

TEST_F(Supervisor, NewHupAfterFailuresRetriesAtOnce)
{
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s);
    m.on_child_exit(101, 256, t0 + 5s);
    m.on_hup(t0 + 5s + 100ms);
    EXPECT_EQ(m.candidate_pid(), 102);
    EXPECT_EQ(m.consecutive_failures(), 0u);
}

TEST_F(Supervisor, ForkFailureIsAFailedStartNotACrash)
{
    auto m = make();
    bring_up(m);
    fx.is_fork_failing = true;
    m.on_hup(t0 + 5s);
    EXPECT_EQ(m.current_state(), state::restarting);
    EXPECT_FALSE(m.candidate_pid());
    EXPECT_EQ(m.current_pid(), 100);
}

TEST_F(Supervisor, NotifyReadinessRetiresTheOldGenerationTheMomentTheNewIsReady)
{
    settings.ready_mode = readiness::notify;
    auto m = make();
    m.start(t0);
    m.on_tick(t0 + 5s); // alive is not enough under notify
    EXPECT_EQ(m.current_state(), state::restarting);
    m.on_ready(100, t0 + 5s);
    EXPECT_EQ(m.current_state(), state::running);
    m.on_hup(t0 + 10s);
    m.on_ready(100, t0 + 10s + 1ms); // the old one saying READY again changes nothing
    EXPECT_EQ(m.current_state(), state::restarting);
    m.on_ready(101, t0 + 10s + 20ms);
    EXPECT_TRUE(fx.signalled(100, SIGTERM));
    EXPECT_TRUE(fx.logged("new worker 101 is ready after 20 ms"));
}

TEST_F(Supervisor, NeverReadyWorkerIsKilledAtTheReadyTimeoutAndTheOldKeepsServing)
{
    settings.ready_mode = readiness::notify;
    settings.ready_timeout = 2s;
    auto m = make();
    m.start(t0);
    m.on_ready(100, t0 + 1ms);
    m.on_hup(t0 + 10s);
    EXPECT_EQ(m.next_deadline(), t0 + 12s);
    m.on_tick(t0 + 12s);
    EXPECT_TRUE(fx.signalled(101, SIGKILL));
    EXPECT_TRUE(fx.logged("new worker 101 seems to have failed to start, not ready after 2000 ms"));
    EXPECT_FALSE(fx.signalled(100, SIGTERM));
    m.on_child_exit(101, SIGKILL, t0 + 12s); // reaped quietly: it was already reported
    EXPECT_EQ(m.current_pid(), 100);
    EXPECT_FALSE(fx.logged("died unexpectedly"));
}

TEST_F(Supervisor, KillOldDelayPostponesTheSignal)
{
    settings.kill_old_delay = 3s;
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s);
    m.on_tick(t0 + 6s);
    EXPECT_TRUE(fx.logged("sleeping 3 secs before killing old workers"));
    EXPECT_FALSE(fx.signalled(100, SIGTERM));
    EXPECT_EQ(m.next_deadline(), t0 + 9s);
    m.on_tick(t0 + 9s);
    EXPECT_TRUE(fx.signalled(100, SIGTERM));
}

TEST_F(Supervisor, ShutdownTimeoutKillsAStuckOldWorker)
{
    settings.shutdown_timeout = 2s;
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s);
    m.on_tick(t0 + 6s);
    EXPECT_EQ(m.next_deadline(), t0 + 8s);
    m.on_tick(t0 + 8s);
    EXPECT_TRUE(fx.signalled(100, SIGKILL));
    EXPECT_TRUE(fx.logged("worker 100 still alive 2000 ms after its signal, sending KILL"));
}

TEST_F(Supervisor, StopSignalsEveryWorkerAndStopsWhenAllAreReaped)
{
    settings.shutdown_timeout = 1s;
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s); // candidate 101 in flight
    m.on_stop("TERM", {SIGUSR1, "USR1"}, t0 + 5s + 1ms);
    EXPECT_EQ(m.current_state(), state::stopping);
    EXPECT_TRUE(fx.logged("received TERM, sending USR1 to all workers:100,101"));
    EXPECT_TRUE(fx.signalled(100, SIGUSR1));
    EXPECT_TRUE(fx.signalled(101, SIGUSR1));
    m.on_hup(t0 + 5s + 2ms);
    EXPECT_EQ(fx.generations.size(), 2u); // no spawn while stopping
    m.on_child_exit(100, 0, t0 + 5s + 3ms);
    EXPECT_TRUE(fx.logged("worker 100 died, status:0"));
    m.on_tick(t0 + 6s + 1ms);
    EXPECT_TRUE(fx.signalled(101, SIGKILL));
    m.on_child_exit(101, SIGKILL, t0 + 6s + 2ms);
    EXPECT_EQ(m.current_state(), state::stopped);
    EXPECT_EQ(fx.lines.back(), "exiting");
    EXPECT_EQ(std::count(fx.systemd.begin(), fx.systemd.end(), "STOPPING=1"), 1);
}

TEST_F(Supervisor, CurrentWorkerDeathRespawnsIt)
{
    auto m = make();
    bring_up(m);
    m.on_child_exit(100, 256, t0 + 30s);
    EXPECT_TRUE(fx.logged("worker 100 died unexpectedly with status:256, restarting"));
    EXPECT_EQ(m.candidate_pid(), 101);
    m.on_tick(t0 + 31s);
    EXPECT_EQ(m.current_pid(), 101);
    EXPECT_FALSE(fx.logged("new worker is now running"));
}

TEST_F(Supervisor, AutoRestartTriggersAfterTheInterval)
{
    settings.is_auto_restart = true;
    settings.auto_restart_interval = 10s;
    auto m = make();
    bring_up(m); // last restart at t0 + 1s
    EXPECT_EQ(m.next_deadline(), t0 + 11s);
    m.on_tick(t0 + 11s);
    EXPECT_TRUE(fx.logged("autorestart triggered (interval=10)"));
    EXPECT_EQ(m.candidate_pid(), 101);
}

TEST_F(Supervisor, AChildThatIsNotAWorkerIsReapedQuietly)
{
    auto m = make();
    bring_up(m);
    const auto before = fx.lines.size();
    m.on_child_exit(4242, 0, t0 + 2s);
    EXPECT_EQ(fx.lines.size(), before);
    EXPECT_EQ(m.current_state(), state::running);
}

TEST_F(Supervisor, StopWithNoWorkerStopsAtOnce)
{
    fx.is_fork_failing = true;
    auto m = make();
    m.start(t0);
    m.on_stop("INT", {SIGTERM, "TERM"}, t0 + 1ms);
    EXPECT_EQ(m.current_state(), state::stopped);
    EXPECT_TRUE(fx.logged("received INT, sending TERM to all workers:none"));
}

TEST_F(Supervisor, RestartRecordKeepsAFailedAttemptUntilANewerOneFails)
{
    auto m = make();
    bring_up(m);
    EXPECT_EQ(m.record().hups, 0U);
    EXPECT_EQ(m.record().ready, (restart_attempt{1, 0, 100, {}}));
    m.on_hup(t0 + 5s);
    EXPECT_EQ(m.record().hups, 1U);
    EXPECT_EQ(m.record().started, (restart_attempt{2, 1, 101, {}}));
    m.on_child_exit(101, 65280, t0 + 5s); // exec failed at once
    EXPECT_EQ(m.record().failed, (restart_attempt{2, 1, 101, "exit status:65280"}));
    m.on_tick(t0 + 6s); // the paced retry: a newer attempt, the failure stays recorded
    EXPECT_EQ(m.record().started, (restart_attempt{3, 1, 102, {}}));
    EXPECT_EQ(m.record().failed, (restart_attempt{2, 1, 101, "exit status:65280"}));
    m.on_tick(t0 + 7s);
    EXPECT_EQ(m.record().ready, (restart_attempt{3, 1, 102, {}}));
    ASSERT_FALSE(fx.records.empty());
    EXPECT_EQ(fx.records.back(), m.record()); // every change reaches the effects
}

TEST_F(Supervisor, RestartRecordCountsACoalescedHupForTheAttemptAfterIt)
{
    settings.ready_mode = readiness::notify;
    settings.ready_timeout = 2s;
    auto m = make();
    m.start(t0);
    m.on_ready(100, t0 + 1ms);
    m.on_hup(t0 + 5s);
    m.on_hup(t0 + 5s + 1ms); // coalesced: counted now, served by the attempt after 101
    EXPECT_EQ(m.record().hups, 2U);
    EXPECT_EQ(m.record().started, (restart_attempt{2, 1, 101, {}}));
    m.on_tick(t0 + 7s); // 101 never ready
    EXPECT_EQ(m.record().failed, (restart_attempt{2, 1, 101, "not ready after 2000 ms"}));
    EXPECT_EQ(m.record().started, (restart_attempt{3, 2, 102, {}}));
}

} // namespace

// on_tick and next_deadline read one list of deadlines: what one reports, the other acts on.
TEST_F(Supervisor, PendingHupLeavesTheCandidatesIntervalAsTheNextDeadline)
{
    settings.is_auto_restart = true;
    settings.auto_restart_interval = 10s;
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s);
    m.on_hup(t0 + 5s + 1ms);
    ASSERT_TRUE(m.is_hup_pending());
    EXPECT_EQ(m.next_deadline(), t0 + 6s); // 101's interval; no auto-restart beside a HUP
    m.on_tick(t0 + 6s - 1ms);
    EXPECT_EQ(m.candidate_pid(), 101);
    m.on_tick(t0 + 6s); // 101 up; the coalesced HUP starts 102 at once
    EXPECT_EQ(m.current_pid(), 101);
    EXPECT_EQ(m.candidate_pid(), 102);
    EXPECT_FALSE(m.is_hup_pending());
    EXPECT_FALSE(fx.logged("autorestart"));
}

TEST_F(Supervisor, EveryDeadlineItReportsIsOneATickActsOnAndNothingIsDueBefore)
{
    settings.is_auto_restart = true;
    settings.auto_restart_interval = 10s;
    settings.kill_old_delay = 2s;
    settings.shutdown_timeout = 3s;
    auto m = make();
    m.start(t0);
    const auto effects_seen = [this] {
        return fx.lines.size() + fx.signals.size() + fx.generations.size() + fx.systemd.size();
    };
    for (int step = 0; step < 12; ++step) { // up, autorestart, kill-old, KILL, forced, ...
        const auto at = m.next_deadline();
        ASSERT_TRUE(at) << "step " << step;
        const auto before = effects_seen();
        m.on_tick(*at - 1ms);
        EXPECT_EQ(effects_seen(), before) << "step " << step;
        m.on_tick(*at);
        EXPECT_GT(effects_seen(), before) << "step " << step;
    }
    EXPECT_TRUE(fx.logged("autorestart triggered (interval=10)"));
    EXPECT_TRUE(fx.logged("autorestart triggered (forced, interval=10)"));
    EXPECT_TRUE(fx.signalled(100, SIGKILL));
}

TEST_F(Supervisor, ReadinessIsStartingUntilTheFirstGenerationIsUpThenReady)
{
    auto m = make();
    m.start(t0);
    EXPECT_EQ(m.service().what, serving::starting);
    m.on_tick(t0 + settings.interval);
    EXPECT_EQ(m.service().what, serving::ready);
    EXPECT_EQ(m.service().generation, 1U);
}

TEST_F(Supervisor, ReadinessStaysOnThroughRestartsFailedDeploysAndHupStorms)
{
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s); // a restart: the old generation serves until the new one is up
    EXPECT_EQ(m.service().what, serving::ready);
    EXPECT_EQ(m.service().generation, 1U);
    for (int i = 0; i < 10; ++i)
        m.on_hup(t0 + 5s + std::chrono::milliseconds(i)); // coalesced
    EXPECT_EQ(m.service().what, serving::ready);
    m.on_child_exit(101, 1 << 8, t0 + 5500ms); // the deploy failed
    EXPECT_EQ(m.service().what, serving::ready);
    EXPECT_EQ(m.service().generation, 1U);
    m.on_tick(t0 + 7s);
    m.on_tick(t0 + 8s);
    EXPECT_EQ(m.service().what, serving::ready);
}

TEST_F(Supervisor, ReadinessIsOffWhileNoWorkerIsAlive)
{
    auto m = make();
    bring_up(m);
    m.on_child_exit(100, 9, t0 + 5s);
    EXPECT_EQ(m.service().what, serving::no_worker);
    m.on_tick(t0 + 7s); // the respawn, paced
    m.on_tick(t0 + 8s);
    EXPECT_EQ(m.service().what, serving::ready);
}

TEST_F(Supervisor, StopWithoutDrainDelaySignalsTheWorkersAtOnce)
{
    auto m = make();
    bring_up(m);
    m.on_stop("TERM", signal_of(SIGTERM), t0 + 5s);
    EXPECT_EQ(m.current_state(), state::stopping);
    EXPECT_EQ(m.service().what, serving::stopping);
    EXPECT_TRUE(fx.signalled(100, SIGTERM));
}

TEST_F(Supervisor, DrainDelayTurnsReadinessOffAndSignalsTheWorkersOnlyWhenItEnds)
{
    settings.drain_delay = 2s;
    auto m = make();
    bring_up(m);
    m.on_stop("TERM", signal_of(SIGTERM), t0 + 5s);
    EXPECT_EQ(m.service().what, serving::stopping);
    EXPECT_EQ(m.current_state(), state::running); // the workers serve on
    EXPECT_TRUE(fx.logged("received TERM, draining for 2000 ms before stopping workers"));
    EXPECT_FALSE(fx.signalled(100, SIGTERM));
    EXPECT_EQ(fx.systemd.back(), "STOPPING=1\nSTATUS=draining");
    EXPECT_EQ(m.next_deadline(), t0 + 7s);
    m.on_tick(t0 + 7s - 1ms);
    EXPECT_FALSE(fx.signalled(100, SIGTERM));
    EXPECT_EQ(fx.listener_closes, 0); // open through the delay
    m.on_tick(t0 + 7s);
    EXPECT_EQ(fx.listener_closes, 1);
    EXPECT_EQ(fx.signals_when_closed, 0U); // closed before the workers got their signal
    EXPECT_EQ(m.current_state(), state::stopping);
    EXPECT_TRUE(fx.signalled(100, SIGTERM));
    EXPECT_TRUE(fx.logged("received TERM, sending TERM to all workers:100"));
    EXPECT_EQ(std::count(fx.systemd.begin(), fx.systemd.end(), "STOPPING=1"), 0);
    m.on_child_exit(100, 0, t0 + 7100ms);
    EXPECT_EQ(m.current_state(), state::stopped);
}

TEST_F(Supervisor, SecondStopSignalEndsTheDrainDelayAtOnce)
{
    settings.drain_delay = 30s;
    auto m = make();
    bring_up(m);
    m.on_stop("TERM", signal_of(SIGTERM), t0 + 5s);
    m.on_stop("INT", signal_of(SIGTERM), t0 + 6s);
    EXPECT_TRUE(fx.logged("received INT during the drain delay, stopping workers now"));
    EXPECT_TRUE(fx.logged("received INT, sending TERM to all workers:100"));
    EXPECT_EQ(m.current_state(), state::stopping);
    EXPECT_TRUE(fx.signalled(100, SIGTERM));
    m.on_stop("TERM", signal_of(SIGTERM), t0 + 6500ms); // a third: ignored as ever
    EXPECT_TRUE(fx.logged("received TERM, ignored (shutting down)"));
}

TEST_F(Supervisor, SecondStopSignalSendsTheWorkersWhatTheFirstAskedFor)
{
    settings.drain_delay = 30s;
    auto m = make();
    bring_up(m);
    m.on_stop("TERM", {SIGUSR1, "USR1"}, t0 + 5s); // --signal-on-term=USR1
    m.on_stop("INT", signal_of(SIGTERM), t0 + 6s);
    EXPECT_TRUE(fx.logged("received INT, sending USR1 to all workers:100"));
    EXPECT_TRUE(fx.signalled(100, SIGUSR1));
    EXPECT_FALSE(fx.signalled(100, SIGTERM));
}

TEST_F(Supervisor, CurrentWorkerDyingDuringTheDrainDelayIsRespawnedAndStoppedAtItsEnd)
{
    settings.drain_delay = 10s;
    auto m = make();
    bring_up(m);
    m.on_stop("TERM", signal_of(SIGTERM), t0 + 5s);
    m.on_child_exit(100, 256, t0 + 6s);
    EXPECT_TRUE(fx.logged("worker 100 died unexpectedly with status:256, restarting"));
    EXPECT_EQ(m.candidate_pid(), 101); // the listeners still take connections
    EXPECT_EQ(m.service().what, serving::stopping);
    m.on_tick(t0 + 15s);
    EXPECT_TRUE(fx.signalled(101, SIGTERM));
    m.on_child_exit(101, 0, t0 + 15100ms);
    EXPECT_EQ(m.current_state(), state::stopped);
}

TEST_F(Supervisor, HupDuringTheDrainDelayIsIgnoredAndNoAutoRestartHappens)
{
    settings.drain_delay = 10s;
    settings.is_auto_restart = true;
    settings.auto_restart_interval = 1s;
    auto m = make();
    bring_up(m);
    m.on_stop("TERM", signal_of(SIGTERM), t0 + 1500ms);
    m.on_hup(t0 + 2s);
    EXPECT_TRUE(fx.logged("received HUP, ignored (shutting down)"));
    EXPECT_FALSE(m.candidate_pid());
    m.on_tick(t0 + 5s); // past the auto-restart interval
    EXPECT_FALSE(m.candidate_pid());
    EXPECT_EQ(fx.generations.size(), 1U);
}

TEST_F(Supervisor, RestartUnderWayWhenTheDrainDelayBeginsCompletesWithoutReadyAndStopsBoth)
{
    settings.drain_delay = 3s;
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s); // candidate 101
    m.on_stop("TERM", signal_of(SIGTERM), t0 + 5200ms);
    m.on_tick(t0 + 6s); // 101 is up: it serves, 100 retires, but systemd hears no READY=1
    EXPECT_EQ(m.current_pid(), 101);
    EXPECT_EQ(fx.systemd.back(), "STOPPING=1\nSTATUS=draining");
    EXPECT_EQ(m.service().what, serving::stopping);
    m.on_tick(t0 + 8200ms);
    EXPECT_EQ(m.current_state(), state::stopping);
    EXPECT_TRUE(fx.signalled(101, SIGTERM));
}

TEST_F(Supervisor, MachineResumedFromASnapshotCarriesOnWhereTheOtherStopped)
{
    auto m = make();
    bring_up(m);
    m.on_hup(t0 + 5s);
    m.on_hup(t0 + 5s + 1ms); // coalesced: carried across too
    recording_effects after;
    machine resumed(settings, after, m.snapshot());
    EXPECT_TRUE(after.lines.empty()); // resuming does nothing by itself
    EXPECT_EQ(resumed.current_state(), state::restarting);
    EXPECT_EQ(resumed.next_deadline(), m.next_deadline());
    after.next_pid = 102;
    resumed.on_tick(t0 + 6s); // 101 up, 100 retired, the pending HUP starts generation 3
    EXPECT_EQ(resumed.current_pid(), 101);
    EXPECT_TRUE(after.signalled(100, SIGTERM));
    EXPECT_EQ(after.generations, std::vector<unsigned long>{3});
}
