// SPDX-License-Identifier: MIT
#include "machine.hpp"

#include "log.hpp"

#include <algorithm>
#include <csignal>

namespace baton::starter {

namespace {

using std::chrono::milliseconds;

constexpr unsigned rhythm_failures = 5;     ///< failures retried at Server::Starter's pace
constexpr milliseconds max_backoff{60'000}; ///< the slowest retry pace

milliseconds since(clock::time_point from, clock::time_point now)
{
    return std::chrono::duration_cast<milliseconds>(now - from);
}

} // namespace

machine::machine(machine_settings settings, effects& fx)
    : settings_(std::move(settings))
    , fx_(fx)
{}

machine::machine(machine_settings settings, effects& fx, machine_state from)
    : settings_(std::move(settings))
    , fx_(fx)
    , s_(std::move(from))
{}

std::optional<pid_t> machine::current_pid() const
{
    return s_.current ? std::optional<pid_t>(s_.current->pid) : std::nullopt;
}

std::optional<pid_t> machine::candidate_pid() const
{
    return s_.candidate ? std::optional<pid_t>(s_.candidate->pid) : std::nullopt;
}

service_status machine::service() const noexcept
{
    if (s_.stop || s_.phase == state::stopping || s_.phase == state::stopped)
        return {serving::stopping, 0};
    if (s_.current)
        return {serving::ready, s_.current->generation};
    return {s_.record.ready ? serving::no_worker : serving::starting, 0};
}

bool machine::is_worker(pid_t pid) const
{
    return (s_.current && s_.current->pid == pid) || (s_.candidate && s_.candidate->pid == pid) ||
           s_.old.contains(pid);
}

void machine::transition(state to)
{
    s_.phase = to;
}

milliseconds machine::pace() const
{
    // Never faster than one attempt per --interval, and never faster than one a second
    // (a missing binary must not spin the CPU, whatever --interval says).
    return std::max(settings_.interval, milliseconds(1000));
}

void machine::start(clock::time_point now)
{
    s_.last_restart = now;
    begin_restart(restart_kind::initial, now);
}

void machine::begin_restart(restart_kind kind, clock::time_point now)
{
    s_.kind = kind;
    transition(state::restarting);
    if (kind == restart_kind::respawn && s_.generation > 0 && now < s_.last_spawn_at + pace()) {
        s_.next_spawn_at = s_.last_spawn_at + pace(); // a crash loop keeps the pace
        return;
    }
    spawn_candidate(now);
}

void machine::spawn_candidate(clock::time_point now)
{
    ++s_.generation; // per attempt, as Server::Starter counts
    s_.last_spawn_at = now;
    const pid_t pid = fx_.spawn(s_.generation);
    s_.record.started = restart_attempt{s_.generation, s_.record.hups, pid, {}};
    if (pid < 0) {
        fail(now, "fork failed");
        return;
    }
    fx_.log(log_line::starting_worker(pid));
    s_.candidate = worker{pid, s_.generation, now, s_.record.hups};
    fx_.restart_recorded(s_.record);
}

void machine::count_hup()
{
    ++s_.record.hups;
    fx_.restart_recorded(s_.record);
}

void machine::succeed(clock::time_point now)
{
    const bool is_hup = s_.kind == restart_kind::hup;
    if (s_.current)
        s_.old[s_.current->pid] = retired{s_.current->generation, {}, {}, false};
    s_.current = s_.candidate;
    s_.candidate.reset();
    s_.failures = 0;
    s_.record.ready =
        restart_attempt{s_.current->generation, s_.current->hups, s_.current->pid, {}};
    fx_.restart_recorded(s_.record);
    s_.last_restart = now;
    transition(state::running);

    std::vector<pid_t> to_signal;
    for (auto& [pid, r] : s_.old)
        if (!r.signal_at && !r.signalled_at)
            to_signal.push_back(pid);
    if (is_hup) {
        fx_.log(log_line::new_worker_running(settings_.signal_on_hup.name, to_signal));
        const auto delay = std::max(settings_.kill_old_delay, std::chrono::seconds(0));
        if (delay > std::chrono::seconds(0))
            fx_.log(log_line::sleeping_before_kill(delay));
        for (pid_t pid : to_signal)
            s_.old[pid].signal_at = now + delay;
        if (delay == std::chrono::seconds(0))
            signal_due_old_workers(now, true);
    } else {
        // A respawn after an unexpected death has no old generation to retire.
        for (pid_t pid : to_signal)
            s_.old[pid].signal_at = now;
        signal_due_old_workers(now, false);
    }
    publish_status();
    if (s_.stop)
        return; // a drain delay runs: systemd was told STOPPING=1, and no HUP is pending
    fx_.tell_systemd("READY=1\nSTATUS=generation " + std::to_string(s_.current->generation) +
                     " ready (pid " + std::to_string(s_.current->pid) + ")");
    if (s_.is_hup_pending) {
        s_.is_hup_pending = false;
        fx_.log(log_line::received_hup());
        fx_.tell_systemd("RELOADING=1");
        begin_restart(restart_kind::hup, now);
    }
}

void machine::fail(clock::time_point now, std::string why)
{
    // A reload systemd was told of (RELOADING=1) ends here too, or its unit stays
    // "reloading"; the status says why and who still serves.
    if (s_.current && s_.kind == restart_kind::hup && !s_.stop)
        fx_.tell_systemd("READY=1\nSTATUS=restart failed (" + why + "); generation " +
                         std::to_string(s_.current->generation) + " (pid " +
                         std::to_string(s_.current->pid) + ") still serving");
    s_.record.failed = s_.candidate
                           ? restart_attempt{s_.candidate->generation, s_.candidate->hups,
                                             s_.candidate->pid, std::move(why)}
                           : restart_attempt{s_.generation, s_.record.hups, -1, std::move(why)};
    fx_.restart_recorded(s_.record);
    s_.candidate.reset();
    ++s_.failures;
    if (s_.is_hup_pending) { // an operator's new HUP: a fresh deploy, tried at once
        s_.is_hup_pending = false;
        s_.failures = 0;
        fx_.log(log_line::received_hup());
        if (s_.current)
            fx_.tell_systemd("RELOADING=1");
        spawn_candidate(now);
        return;
    }
    milliseconds delay = pace();
    if (s_.failures > rhythm_failures) {
        const unsigned doublings = std::min(s_.failures - rhythm_failures, 8u);
        delay = std::min(delay * (1L << doublings), max_backoff);
        fx_.log(log_line::retrying_in(delay, s_.failures));
    }
    s_.next_spawn_at = std::max(now, s_.last_spawn_at + delay);
}

void machine::signal_due_old_workers(clock::time_point now, bool is_announced)
{
    std::vector<pid_t> due;
    for (auto& [pid, r] : s_.old)
        if (r.signal_at && *r.signal_at <= now && !r.signalled_at)
            due.push_back(pid);
    if (!is_announced && due.empty())
        return;
    if (is_announced)
        fx_.log(log_line::killing_old_workers());
    for (pid_t pid : due) {
        fx_.send_signal(pid, settings_.signal_on_hup.number);
        s_.old[pid].signalled_at = now;
        s_.old[pid].signal_at.reset();
    }
}

void machine::escalate(clock::time_point now)
{
    if (!settings_.shutdown_timeout)
        return;
    for (auto& [pid, r] : s_.old) {
        if (r.signalled_at && !r.is_killed &&
            now >= *r.signalled_at + *settings_.shutdown_timeout) {
            fx_.log(log_line::killing_after_timeout(pid, since(*r.signalled_at, now)));
            fx_.send_signal(pid, SIGKILL);
            r.is_killed = true;
        }
    }
}

void machine::publish_status()
{
    std::vector<std::pair<unsigned long, pid_t>> live;
    if (s_.current)
        live.emplace_back(s_.current->generation, s_.current->pid);
    for (const auto& [pid, r] : s_.old)
        live.emplace_back(r.generation, pid);
    std::sort(live.begin(), live.end());
    fx_.status_changed(live);
}

void machine::finish_if_empty()
{
    if (s_.phase == state::stopping && !s_.current && !s_.candidate && s_.old.empty() &&
        s_.doomed.empty()) {
        transition(state::stopped);
        fx_.log(log_line::exiting());
    }
}

void machine::on_hup(clock::time_point now)
{
    if (s_.stop) {
        fx_.log(log_line::signal_ignored("HUP", "shutting down"));
        return;
    }
    switch (s_.phase) {
    case state::running:
        count_hup();
        fx_.log(log_line::received_hup());
        fx_.tell_systemd("RELOADING=1");
        begin_restart(restart_kind::hup, now);
        return;
    case state::restarting:
        count_hup();
        if (!s_.candidate) { // waiting to retry a failed start: a new HUP tries at once
            fx_.log(log_line::received_hup());
            s_.failures = 0;
            s_.kind = s_.current ? restart_kind::hup : s_.kind;
            spawn_candidate(now);
        } else if (!s_.is_hup_pending) {
            s_.is_hup_pending = true;
            fx_.log(log_line::hup_coalesced());
        }
        return;
    case state::stopping:
        fx_.log(log_line::signal_ignored("HUP", "shutting down"));
        return;
    case state::stopped:
        return;
    }
}

void machine::on_stop(std::string_view received, const named_signal& sent, clock::time_point now)
{
    if (s_.phase == state::stopping || s_.phase == state::stopped) {
        fx_.log(log_line::signal_ignored(received, "shutting down"));
        return;
    }
    if (s_.stop) { // an operator who insists: the delay ends now
        fx_.log(log_line::drain_delay_cut(received));
        // The workers get what the first stop asked for (its --signal-on-term mapping): the
        // second one only ends the wait.
        const named_signal first = s_.stop->sent;
        stop_workers(received, first, now);
        return;
    }
    if (settings_.drain_delay > milliseconds(0)) {
        s_.stop =
            machine_state::stop_request{std::string(received), sent, now + settings_.drain_delay};
        s_.is_hup_pending = false;
        fx_.tell_systemd("STOPPING=1\nSTATUS=draining");
        fx_.log(log_line::draining_before_stop(received, settings_.drain_delay));
        return;
    }
    stop_workers(received, sent, now);
}

void machine::stop_workers(std::string_view received, const named_signal& sent,
                           clock::time_point now)
{
    const bool is_told = s_.stop.has_value(); // STOPPING=1 went out when the delay began
    s_.stop.reset();
    std::vector<pid_t> all;
    if (s_.current) {
        s_.old[s_.current->pid] = retired{s_.current->generation, {}, {}, false};
        s_.current.reset();
    }
    if (s_.candidate) {
        s_.old[s_.candidate->pid] = retired{s_.candidate->generation, {}, {}, false};
        s_.candidate.reset();
    }
    s_.is_hup_pending = false;
    transition(state::stopping);
    all.reserve(s_.old.size());
    for (auto& [pid, r] : s_.old)
        all.push_back(pid);
    if (!is_told)
        fx_.tell_systemd("STOPPING=1");
    fx_.log(log_line::received_term(received, sent.name, all));
    fx_.stop_listening();
    for (auto& [pid, r] : s_.old) {
        fx_.send_signal(pid, sent.number);
        r.signal_at.reset();
        r.signalled_at = now; // the shutdown timeout counts from here
        r.is_killed = false;
    }
    finish_if_empty();
}

void machine::on_child_exit(pid_t pid, int raw_status, clock::time_point now)
{
    if (s_.doomed.erase(pid) != 0) {
        finish_if_empty();
        return;
    }
    if (s_.candidate && s_.candidate->pid == pid) {
        fx_.log(log_line::failed_to_start(pid, raw_status));
        fail(now, "exit status:" + std::to_string(raw_status));
        return;
    }
    if (s_.current && s_.current->pid == pid) {
        fx_.log(log_line::worker_died_unexpectedly(pid, raw_status));
        s_.current.reset();
        publish_status();
        if (s_.phase == state::running)
            begin_restart(restart_kind::respawn, now);
        // restarting: the candidate becomes the current generation when it is up
        return;
    }
    const auto it = s_.old.find(pid);
    if (it == s_.old.end())
        return; // not ours: a reparented orphan (start_server as PID 1), reaped quietly
    s_.old.erase(it);
    if (s_.phase == state::stopping) {
        fx_.log(log_line::worker_died(pid, raw_status));
        publish_status();
        finish_if_empty();
        return;
    }
    fx_.log(log_line::old_worker_died(pid, raw_status));
    publish_status();
}

void machine::on_ready(pid_t pid, clock::time_point now)
{
    if (s_.phase != state::restarting || !s_.candidate || s_.candidate->pid != pid ||
        settings_.ready_mode != readiness::notify)
        return;
    fx_.log(log_line::worker_ready(pid, since(s_.candidate->spawned, now)));
    succeed(now);
}

std::vector<machine::deadline> machine::deadlines() const
{
    std::vector<deadline> out;
    if (s_.phase == state::restarting) {
        if (!s_.candidate)
            out.push_back({timer::retry, s_.next_spawn_at});
        else if (settings_.ready_mode == readiness::interval)
            out.push_back({timer::candidate_up, s_.candidate->spawned + settings_.interval});
        else if (settings_.ready_timeout)
            out.push_back({timer::ready_timeout, s_.candidate->spawned + *settings_.ready_timeout});
    }
    if (s_.stop)
        out.push_back({timer::drain_end, s_.stop->until});
    // A coalesced HUP is a restart already asked for: no auto-restart on top of it, nor
    // during a drain delay.
    if (s_.phase == state::running && settings_.is_auto_restart && !s_.is_hup_pending && !s_.stop) {
        const auto interval = settings_.auto_restart_interval;
        if (s_.old.empty())
            out.push_back({timer::auto_restart, s_.last_restart + interval});
        out.push_back({timer::forced_auto_restart, s_.last_restart + 2 * interval});
    }
    for (const auto& [pid, r] : s_.old)
        if (r.signal_at && !r.signalled_at)
            out.push_back({timer::kill_old, *r.signal_at, pid});
    if (settings_.shutdown_timeout)
        for (const auto& [pid, r] : s_.old)
            if (r.signalled_at && !r.is_killed)
                out.push_back(
                    {timer::shutdown_timeout, *r.signalled_at + *settings_.shutdown_timeout, pid});
    return out;
}

void machine::act(const deadline& d, clock::time_point now)
{
    switch (d.what) {
    case timer::candidate_up:
        succeed(now);
        return;
    case timer::ready_timeout: {
        const pid_t pid = s_.candidate->pid;
        const auto waited = since(s_.candidate->spawned, now);
        fx_.log(log_line::not_ready_in_time(pid, waited));
        fx_.send_signal(pid, SIGKILL);
        s_.doomed.insert(pid);
        fail(now, "not ready after " + std::to_string(waited.count()) + " ms");
        return;
    }
    case timer::retry:
        spawn_candidate(now);
        return;
    case timer::auto_restart:
    case timer::forced_auto_restart:
        fx_.log(log_line::autorestart(settings_.auto_restart_interval,
                                      d.what == timer::forced_auto_restart));
        begin_restart(restart_kind::hup, now);
        return;
    case timer::kill_old:
        signal_due_old_workers(now, true);
        return;
    case timer::shutdown_timeout:
        escalate(now);
        return;
    case timer::drain_end: {
        const auto request = *s_.stop; // stop_workers clears it
        stop_workers(request.received, request.sent, now);
        return;
    }
    }
}

void machine::on_tick(clock::time_point now)
{
    // Each deadline due now, once, in order; an earlier one's action may cancel a later one
    // (a succeeded candidate ends its own ready timeout, one KILL round covers every pid).
    for (const auto& d : deadlines()) {
        if (d.at > now)
            continue;
        const auto live = deadlines();
        const auto same = [&d](const deadline& o) {
            return o.what == d.what && o.at == d.at && o.pid == d.pid;
        };
        if (std::any_of(live.begin(), live.end(), same))
            act(d, now);
    }
}

std::optional<clock::time_point> machine::next_deadline() const
{
    std::optional<clock::time_point> first;
    for (const auto& d : deadlines())
        if (!first || d.at < *first)
            first = d.at;
    return first;
}

} // namespace baton::starter
