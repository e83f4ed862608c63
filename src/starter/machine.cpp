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

std::optional<pid_t> machine::current_pid() const
{
    return current_ ? std::optional<pid_t>(current_->pid) : std::nullopt;
}

std::optional<pid_t> machine::candidate_pid() const
{
    return candidate_ ? std::optional<pid_t>(candidate_->pid) : std::nullopt;
}

bool machine::is_worker(pid_t pid) const
{
    return (current_ && current_->pid == pid) || (candidate_ && candidate_->pid == pid) ||
           old_.contains(pid);
}

void machine::transition(state to)
{
    state_ = to;
}

milliseconds machine::pace() const
{
    // Never faster than one attempt per --interval, and never faster than one a second
    // (a missing binary must not spin the CPU, whatever --interval says).
    return std::max(settings_.interval, milliseconds(1000));
}

void machine::start(clock::time_point now)
{
    last_restart_ = now;
    begin_restart(restart_kind::initial, now);
}

void machine::begin_restart(restart_kind kind, clock::time_point now)
{
    kind_ = kind;
    transition(state::restarting);
    if (kind == restart_kind::respawn && generation_ > 0 && now < last_spawn_at_ + pace()) {
        next_spawn_at_ = last_spawn_at_ + pace(); // a crash loop keeps the pace
        return;
    }
    spawn_candidate(now);
}

void machine::spawn_candidate(clock::time_point now)
{
    ++generation_; // per attempt, as Server::Starter counts
    last_spawn_at_ = now;
    const pid_t pid = fx_.spawn(generation_);
    record_.started = restart_attempt{generation_, record_.hups, pid, {}};
    if (pid < 0) {
        fail(now, "fork failed");
        return;
    }
    fx_.log(log_line::starting_worker(pid));
    candidate_ = worker{pid, generation_, now, record_.hups};
    fx_.restart_recorded(record_);
}

void machine::count_hup()
{
    ++record_.hups;
    fx_.restart_recorded(record_);
}

void machine::succeed(clock::time_point now)
{
    const bool is_hup = kind_ == restart_kind::hup;
    if (current_)
        old_[current_->pid] = retired{current_->generation, {}, {}, false};
    current_ = candidate_;
    candidate_.reset();
    failures_ = 0;
    record_.ready = restart_attempt{current_->generation, current_->hups, current_->pid, {}};
    fx_.restart_recorded(record_);
    last_restart_ = now;
    transition(state::running);

    std::vector<pid_t> to_signal;
    for (auto& [pid, r] : old_)
        if (!r.signal_at && !r.signalled_at)
            to_signal.push_back(pid);
    if (is_hup) {
        fx_.log(log_line::new_worker_running(settings_.signal_on_hup.name, to_signal));
        const auto delay = std::max(settings_.kill_old_delay, std::chrono::seconds(0));
        if (delay > std::chrono::seconds(0))
            fx_.log(log_line::sleeping_before_kill(delay));
        for (pid_t pid : to_signal)
            old_[pid].signal_at = now + delay;
        if (delay == std::chrono::seconds(0))
            signal_due_old_workers(now, true);
    } else {
        // A respawn after an unexpected death has no old generation to retire.
        for (pid_t pid : to_signal)
            old_[pid].signal_at = now;
        signal_due_old_workers(now, false);
    }
    publish_status();
    fx_.tell_systemd("READY=1");
    if (is_hup_pending_) {
        is_hup_pending_ = false;
        fx_.log(log_line::received_hup());
        fx_.tell_systemd("RELOADING=1");
        begin_restart(restart_kind::hup, now);
    }
}

void machine::fail(clock::time_point now, std::string why)
{
    record_.failed = candidate_ ? restart_attempt{candidate_->generation, candidate_->hups,
                                                  candidate_->pid, std::move(why)}
                                : restart_attempt{generation_, record_.hups, -1, std::move(why)};
    fx_.restart_recorded(record_);
    candidate_.reset();
    ++failures_;
    if (is_hup_pending_) { // an operator's new HUP: a fresh deploy, tried at once
        is_hup_pending_ = false;
        failures_ = 0;
        fx_.log(log_line::received_hup());
        spawn_candidate(now);
        return;
    }
    milliseconds delay = pace();
    if (failures_ > rhythm_failures) {
        const unsigned doublings = std::min(failures_ - rhythm_failures, 8u);
        delay = std::min(delay * (1L << doublings), max_backoff);
        fx_.log(log_line::retrying_in(delay, failures_));
    }
    next_spawn_at_ = std::max(now, last_spawn_at_ + delay);
}

void machine::signal_due_old_workers(clock::time_point now, bool is_announced)
{
    std::vector<pid_t> due;
    for (auto& [pid, r] : old_)
        if (r.signal_at && *r.signal_at <= now && !r.signalled_at)
            due.push_back(pid);
    if (!is_announced && due.empty())
        return;
    if (is_announced)
        fx_.log(log_line::killing_old_workers());
    for (pid_t pid : due) {
        fx_.send_signal(pid, settings_.signal_on_hup.number);
        old_[pid].signalled_at = now;
        old_[pid].signal_at.reset();
    }
}

void machine::escalate(clock::time_point now)
{
    if (!settings_.shutdown_timeout)
        return;
    for (auto& [pid, r] : old_) {
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
    if (current_)
        live.emplace_back(current_->generation, current_->pid);
    for (const auto& [pid, r] : old_)
        live.emplace_back(r.generation, pid);
    std::sort(live.begin(), live.end());
    fx_.status_changed(live);
}

void machine::finish_if_empty()
{
    if (state_ == state::stopping && !current_ && !candidate_ && old_.empty() && doomed_.empty()) {
        transition(state::stopped);
        fx_.log(log_line::exiting());
    }
}

void machine::on_hup(clock::time_point now)
{
    switch (state_) {
    case state::running:
        count_hup();
        fx_.log(log_line::received_hup());
        fx_.tell_systemd("RELOADING=1");
        begin_restart(restart_kind::hup, now);
        return;
    case state::restarting:
        count_hup();
        if (!candidate_) { // waiting to retry a failed start: a new HUP tries at once
            fx_.log(log_line::received_hup());
            failures_ = 0;
            kind_ = current_ ? restart_kind::hup : kind_;
            spawn_candidate(now);
        } else if (!is_hup_pending_) {
            is_hup_pending_ = true;
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
    if (state_ == state::stopping || state_ == state::stopped) {
        fx_.log(log_line::signal_ignored(received, "shutting down"));
        return;
    }
    std::vector<pid_t> all;
    if (current_) {
        old_[current_->pid] = retired{current_->generation, {}, {}, false};
        current_.reset();
    }
    if (candidate_) {
        old_[candidate_->pid] = retired{candidate_->generation, {}, {}, false};
        candidate_.reset();
    }
    is_hup_pending_ = false;
    transition(state::stopping);
    for (auto& [pid, r] : old_)
        all.push_back(pid);
    fx_.tell_systemd("STOPPING=1");
    fx_.log(log_line::received_term(received, sent.name, all));
    for (auto& [pid, r] : old_) {
        fx_.send_signal(pid, sent.number);
        r.signal_at.reset();
        r.signalled_at = now; // the shutdown timeout counts from here
        r.is_killed = false;
    }
    finish_if_empty();
}

void machine::on_child_exit(pid_t pid, int raw_status, clock::time_point now)
{
    if (doomed_.erase(pid) != 0) {
        finish_if_empty();
        return;
    }
    if (candidate_ && candidate_->pid == pid) {
        fx_.log(log_line::failed_to_start(pid, raw_status));
        fail(now, "exit status:" + std::to_string(raw_status));
        return;
    }
    if (current_ && current_->pid == pid) {
        fx_.log(log_line::worker_died_unexpectedly(pid, raw_status));
        current_.reset();
        publish_status();
        if (state_ == state::running)
            begin_restart(restart_kind::respawn, now);
        // restarting: the candidate becomes the current generation when it is up
        return;
    }
    const auto it = old_.find(pid);
    if (it == old_.end())
        return; // not ours: a reparented orphan (start_server as PID 1), reaped quietly
    old_.erase(it);
    if (state_ == state::stopping) {
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
    if (state_ != state::restarting || !candidate_ || candidate_->pid != pid ||
        settings_.ready_mode != readiness::notify)
        return;
    fx_.log(log_line::worker_ready(pid, since(candidate_->spawned, now)));
    succeed(now);
}

std::vector<machine::deadline> machine::deadlines() const
{
    std::vector<deadline> out;
    if (state_ == state::restarting) {
        if (!candidate_)
            out.push_back({timer::retry, next_spawn_at_});
        else if (settings_.ready_mode == readiness::interval)
            out.push_back({timer::candidate_up, candidate_->spawned + settings_.interval});
        else if (settings_.ready_timeout)
            out.push_back({timer::ready_timeout, candidate_->spawned + *settings_.ready_timeout});
    }
    // A coalesced HUP is a restart already asked for: no auto-restart on top of it.
    if (state_ == state::running && settings_.is_auto_restart && !is_hup_pending_) {
        const auto interval = settings_.auto_restart_interval;
        if (old_.empty())
            out.push_back({timer::auto_restart, last_restart_ + interval});
        out.push_back({timer::forced_auto_restart, last_restart_ + 2 * interval});
    }
    for (const auto& [pid, r] : old_)
        if (r.signal_at && !r.signalled_at)
            out.push_back({timer::kill_old, *r.signal_at, pid});
    if (settings_.shutdown_timeout)
        for (const auto& [pid, r] : old_)
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
        const pid_t pid = candidate_->pid;
        const auto waited = since(candidate_->spawned, now);
        fx_.log(log_line::not_ready_in_time(pid, waited));
        fx_.send_signal(pid, SIGKILL);
        doomed_.insert(pid);
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
