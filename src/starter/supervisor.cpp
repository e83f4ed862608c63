// SPDX-License-Identifier: MIT
#include "supervisor.hpp"

#include "common/unique_fd.hpp"
#include "daemon.hpp"
#include "health.hpp"
#include "listeners.hpp"
#include "log.hpp"
#include "machine.hpp"
#include "notify_socket.hpp"
#include "pid_file.hpp"
#include "preflight.hpp"
#include "process_effects.hpp"
#include "restart_record.hpp"
#include "signal_name.hpp"
#include "spawn.hpp"
#include "state_record.hpp"
#include "status_file.hpp"
#include "status_publisher.hpp"
#include "upgrade.hpp"
#include "worker_env.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>

namespace baton::starter {

namespace {

using std::chrono::milliseconds;

void fatal(const std::string& line)
{
    log_line::write(line);
}

// The settings Server::Starter reads from its (envdir-overlaid) environment on every turn.
machine_settings settings_from(const options& opts, const named_signal& on_hup, const env_map& env)
{
    using std::chrono::seconds;
    machine_settings s;
    s.ready_mode = opts.ready_mode;
    s.interval = opts.interval;
    s.ready_timeout = opts.ready_timeout;
    s.shutdown_timeout = opts.shutdown_timeout;
    s.signal_on_hup = on_hup;
    s.drain_delay = opts.drain_delay.value_or(std::chrono::milliseconds(0));
    s.is_auto_restart = env_true(env, "ENABLE_AUTO_RESTART");
    s.kill_old_delay = env.contains("KILL_OLD_DELAY")
                           ? seconds(env_number(env, "KILL_OLD_DELAY", 0))
                           : seconds(s.is_auto_restart ? 5 : 0);
    s.auto_restart_interval = seconds(env_number(env, "AUTO_RESTART_INTERVAL", 0));
    if (s.auto_restart_interval <= seconds(0))
        s.auto_restart_interval = seconds(360);
    return s;
}

// What run_supervisor sets up once, released in reverse order whatever the exit path (the
// pid file last, so a waiting --stop sees it go only when everything else is gone).
struct supervisor_setup {
    named_signal on_hup;
    named_signal on_term;
    std::string systemd_address; ///< start_server's own NOTIFY_SOCKET, never the workers'
    pid_file pid_lock;
    std::vector<listener_socket> sockets;
    std::string port_env;
    detail::unique_fd signals;
    notify_socket notifier;
    std::optional<health_endpoint> health; ///< `--health`
    invocation self;                       ///< what an upgrade executes again
    detail::unique_fd running_image;       ///< what a failed upgrade rolls back to
    upgrade_state carried;                 ///< the upgrade counters, start time and images
    bool is_upgrade_asked = false;         ///< SIGUSR2 read, not acted on yet
    std::optional<preflight> check;        ///< the upgrade under way, its preflight running
    clock::time_point upgrade_began{};     ///< its USR2: the upgrade's time includes the check
    std::string last_upgrade;              ///< for --show-status: `done`, `failed: WHY`

    supervisor_setup() = default;
    supervisor_setup(const supervisor_setup&) = delete;
    supervisor_setup& operator=(const supervisor_setup&) = delete;

    ~supervisor_setup() { close_listeners(sockets); }
};

// Step 2: the environment every worker inherits; Server::Starter's options become the
// variables its workers (and an envdir) may read and override.
void take_environment(const options& opts, supervisor_setup& s)
{
    if (const char* ns = std::getenv("NOTIFY_SOCKET"))
        s.systemd_address = ns;
    ::unsetenv("NOTIFY_SOCKET");
    if (opts.envdir)
        ::setenv("ENVDIR", opts.envdir->c_str(), 1);
    if (opts.is_auto_restart)
        ::setenv("ENABLE_AUTO_RESTART", "1", 1);
    if (opts.kill_old_delay)
        ::setenv("KILL_OLD_DELAY", std::to_string(opts.kill_old_delay->count()).c_str(), 1);
    if (opts.auto_restart_interval)
        ::setenv("AUTO_RESTART_INTERVAL",
                 std::to_string(opts.auto_restart_interval->count()).c_str(), 1);
}

// The variables workers get for the sockets (open_sockets, or carried by an upgrade).
void export_sockets(supervisor_setup& s)
{
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDNAMES");
    ::setenv("SERVER_STARTER_PORT", s.port_env.c_str(), 1);
    ::setenv("SERVER_STARTER_GENERATION", "0", 1);
}

// Step 3: the sockets, once for every generation.
bool open_sockets(const options& opts, supervisor_setup& s, setup_error& err)
{
    if (auto inherited = systemd_listeners(err)) {
        s.sockets = std::move(*inherited);
        if (!opts.ports.empty() || !opts.paths.empty())
            log_line::write("using the " + std::to_string(s.sockets.size()) +
                            " sockets systemd passed (LISTEN_FDS); --port and --path ignored");
    } else if (err || !bind_listeners(opts.ports, opts.paths,
                                      static_cast<int>(opts.backlog.value_or(SOMAXCONN)), s.sockets,
                                      err)) {
        return false; // systemd's environment is broken, or a bind failed
    }
    s.port_env = port_env_value(s.sockets, err);
    if (err)
        return false;
    export_sockets(s);
    return true;
}

// Step 3b: start_server's own health endpoint (not inherited by workers: close-on-exec).
bool open_health(const options& opts, supervisor_setup& s, setup_error& err)
{
    if (!opts.health)
        return true;
    std::string error;
    const auto spec = parse_health_spec(*opts.health, error); // checked when parsed
    if (spec)
        s.health = health_endpoint::open(*spec, error);
    if (!s.health)
        err = {errc::health_failed, error};
    return s.health.has_value();
}

// Step 4: signals arrive on a descriptor; SIGPIPE (a dead log pipe) is ignored here only.
bool take_signals(supervisor_setup& s, setup_error& err)
{
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD})
        sigaddset(&mask, sig);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    s.signals.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!s.signals)
        err = {errc::signalfd_failed, std::string("signalfd failed:") + std::strerror(errno)};
    return s.signals.is_open();
}

// Step 5: pid file, log file, daemonize, notify socket. Server::Starter takes the pid file
// last; taking its lock first makes a second instance fail in the foreground, on the
// terminal, with a non-zero exit even under --daemonize (the lock is shared by the forked
// daemon, which rewrites its own pid).
bool take_files(const options& opts, supervisor_setup& s, setup_error& err)
{
    const bool is_stdin_pinned =
        std::any_of(s.sockets.begin(), s.sockets.end(), [](const auto& l) { return l.fd == 0; });
    if ((opts.pid_file && !s.pid_lock.acquire(*opts.pid_file, err)) ||
        (opts.log_file && !open_log(*opts.log_file, err)) ||
        (opts.is_daemonize && !daemonize(is_stdin_pinned, err)) ||
        (opts.is_daemonize && s.pid_lock.is_held() && !s.pid_lock.rewrite(err)))
        return false;
    return opts.ready_mode != readiness::notify || s.notifier.open(err);
}

// Step 1: validate what Server::Starter only finds out at the first HUP.
bool take_signal_names(const options& opts, supervisor_setup& s)
{
    const auto on_hup = parse_signal(opts.signal_on_hup);
    const auto on_term = parse_signal(opts.signal_on_term);
    if (!on_hup || !on_term) {
        fatal("start_server: unknown signal name \"" +
              (on_hup ? opts.signal_on_term : opts.signal_on_hup) + "\" for --signal-on-" +
              (on_hup ? "term" : "hup"));
        return false;
    }
    s.on_hup = *on_hup;
    s.on_term = *on_term;
    return true;
}

// Steps 1 to 5; exit_ok, or the exit code of the step that failed (its line written).
int set_up(const options& opts, supervisor_setup& s)
{
    if (!take_signal_names(opts, s))
        return exit_usage;
    take_environment(opts, s);
    log_line::write(log_line::starting_now(::getpid()));
    setup_error err;
    if (!open_sockets(opts, s, err) || !open_health(opts, s, err) || !take_signals(s, err) ||
        !take_files(opts, s, err)) {
        fatal(err.message);
        return exit_setup;
    }
    return exit_ok;
}

// An upgraded image's steps 1 to 5: everything set up is taken from the record `r` (the
// descriptors survived the execve); nothing is bound, opened or forked again.
int resume(const options& opts, supervisor_setup& s, const upgrade_state& r)
{
    if (!take_signal_names(opts, s))
        return exit_usage;
    take_environment(opts, s); // the original environment again: the same variables result
    s.sockets = r.listeners;
    s.port_env = r.port_env;
    export_sockets(s);
    // Close-on-exec again: workers inherit the listeners only.
    if (r.health && set_cloexec(r.health->fd, true))
        s.health = health_endpoint::adopt(detail::unique_fd(r.health->fd));
    if (r.pid_file && set_cloexec(r.pid_file->fd, true))
        s.pid_lock.adopt(r.pid_file->what, detail::unique_fd(r.pid_file->fd));
    if (r.notify_socket && set_cloexec(r.notify_socket->fd, true))
        s.notifier.adopt(detail::unique_fd(r.notify_socket->fd), r.notify_socket->what);
    setup_error err;
    if (!take_signals(s, err)) {
        fatal(err.message);
        return exit_setup;
    }
    return exit_ok;
}

// What an upgrade carries: the machine, this process's set-up, its history.
upgrade_state state_to_carry(const options& opts, const supervisor_setup& s, const machine& m)
{
    upgrade_state st = s.carried;
    st.writer = std::string(baton_version());
    st.argv = s.self.argv;
    st.env = s.self.env;
    st.exe = s.self.exe;
    st.machine = m.snapshot();
    st.listeners = s.sockets;
    st.port_env = s.port_env;
    if (s.notifier.fd() >= 0)
        st.notify_socket = kept_fd{s.notifier.fd(), s.notifier.address()};
    if (s.pid_lock.is_held())
        st.pid_file = kept_fd{s.pid_lock.fd(), s.pid_lock.path()};
    if (s.health)
        st.health = kept_fd{s.health->listen_fd(), opts.health.value_or("")};
    st.status_file = opts.status_file;
    return st;
}

// The descriptors start_server keeps for itself (not the listeners: workers have them too).
std::vector<int> own_fds(const supervisor_setup& s)
{
    std::vector<int> fds;
    if (s.notifier.fd() >= 0)
        fds.push_back(s.notifier.fd());
    if (s.pid_lock.is_held())
        fds.push_back(s.pid_lock.fd());
    if (s.health)
        fds.push_back(s.health->listen_fd());
    return fds;
}

bool is_stopping(const machine& m)
{
    return m.current_state() == state::stopping || m.current_state() == state::stopped ||
           m.snapshot().stop;
}

// An upgrade that did not happen (nothing changed): counted, logged, and systemd hears the
// old image still serves.
void upgrade_failed(supervisor_setup& s, process_effects& fx, const machine& m,
                    const std::string& error)
{
    ++s.carried.upgrades_failed;
    s.last_upgrade = "failed: " + error;
    log_line::write("upgrade failed: " + error);
    const auto serving = m.current_pid();
    fx.tell_systemd("READY=1\nSTATUS=upgrade failed (" + error + ")" +
                    (serving ? "; pid " + std::to_string(*serving) + " still serving" : ""));
}

// The record (docs/design.md §2.4) of the state as it is now, in a memfd; empty and `error`
// (`state: ...`) when it cannot be written.
detail::unique_fd record_now(const options& opts, const supervisor_setup& s, const machine& m,
                             std::string& error)
{
    auto st = state_to_carry(opts, s, m);
    st.upgrade_began = s.upgrade_began;
    auto fd = state_memfd(write_record(st), error);
    if (!fd)
        error = "state: " + error;
    return fd;
}

// SIGUSR2: the state as it is now into a memfd, and the new image's preflight started on it
// beside the loop (check_upgrade goes on when it is done). One upgrade at a time.
void begin_upgrade(const options& opts, supervisor_setup& s, process_effects& fx, const machine& m)
{
    if (s.check || is_stopping(m)) {
        log_line::write(log_line::signal_ignored("USR2", s.check ? "an upgrade is in progress"
                                                                 : "start_server is stopping"));
        return;
    }
    log_line::write("received USR2, upgrading start_server (" + std::string(baton_version()) + ")");
    s.upgrade_began = clock::now();
    std::string error;
    const auto state_fd = record_now(opts, s, m, error);
    if (!state_fd)
        return upgrade_failed(s, fx, m, error);
    auto child = preflight::start(s.self, state_fd.get(), preflight_time_limit(), error);
    if (!child)
        return upgrade_failed(s, fx, m, "preflight: " + s.self.exe + ": " + error);
    s.check.emplace(std::move(*child));
}

// Execute the binary start_server was started from, under this pid, with the state as it is
// now (it moved during the preflight). Returns only when the exec failed (counted, logged).
void exec_upgrade(const options& opts, supervisor_setup& s, process_effects& fx, const machine& m)
{
    std::string error;
    const auto state_fd = record_now(opts, s, m, error);
    if (!state_fd)
        return upgrade_failed(s, fx, m, error);
    fx.tell_systemd("RELOADING=1");
    fx.tell_systemd("STATUS=upgrading start_server");
    auto fds = own_fds(s);
    fds.push_back(s.running_image.get());
    for (const int fd : fds)
        set_cloexec(fd, false);
    set_cloexec(state_fd.get(), false);
    error =
        "exec: " + s.self.exe + ": " + exec_upgraded(s.self, state_fd.get(), s.running_image.get());
    for (const int fd : fds)
        set_cloexec(fd, true);
    upgrade_failed(s, fx, m, error);
}

// Every turn while a preflight runs: a stop cancels the upgrade; a verdict ends it, by the
// exec or with its reason.
void check_upgrade(const options& opts, supervisor_setup& s, process_effects& fx, const machine& m)
{
    if (!s.check)
        return;
    if (is_stopping(m)) {
        const pid_t pid = s.check->pid();
        s.check.reset(); // killed and reaped
        ++s.carried.upgrades_failed;
        s.last_upgrade = "failed: cancelled (start_server is stopping)";
        log_line::write("upgrade cancelled: start_server is stopping (preflight pid " +
                        std::to_string(pid) + " killed)");
        return;
    }
    if (!s.check->is_done(clock::now()))
        return;
    const std::string why = s.check->verdict();
    s.check.reset();
    if (!why.empty())
        return upgrade_failed(s, fx, m, "preflight: " + s.self.exe + ": " + why);
    exec_upgrade(opts, s, fx, m);
}

// Every signal queued on the signalfd, as the machine's events.
void on_signals(supervisor_setup& s, machine& m)
{
    signalfd_siginfo si{};
    while (::read(s.signals.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        const auto sig = static_cast<int>(si.ssi_signo);
        const auto now = clock::now();
        if (sig == SIGCHLD) {
            int status = 0;
            pid_t pid = 0;
            while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
                if (s.check && pid == s.check->pid())
                    s.check->on_exit(status); // the upgrade's to judge, not a worker's exit
                else
                    m.on_child_exit(pid, status, clock::now());
            }
        } else if (sig == SIGHUP) {
            m.on_hup(now);
        } else if (sig == SIGTERM) {
            m.on_stop("TERM", s.on_term, now);
        } else if (sig == SIGINT || sig == SIGQUIT) {
            m.on_stop(signal_of(sig).name, signal_of(SIGTERM), now);
        } else if (sig == SIGUSR2) {
            s.is_upgrade_asked = true; // after this batch: a TERM beside it wins
        } else if (sig == SIGUSR1) {
            log_line::write(
                log_line::signal_ignored(signal_of(sig).name, "no meaning to start_server"));
        }
    }
}

// Every datagram queued on the notify socket. READY=1 counts for the worker that sent it, or
// whose descendant sent it (a shell worker running `systemd-notify --ready`), or that
// MAINPID= names.
void on_ready_messages(notify_socket& notifier, machine& m)
{
    for (const auto& msg : notifier.drain()) {
        pid_t who = m.is_worker(msg.main_pid) ? msg.main_pid : msg.sender;
        for (int depth = 0; depth < 16 && who > 1 && !m.is_worker(who); ++depth)
            who = parent_of(who);
        if (who > 1 && m.is_worker(who))
            m.on_ready(who, clock::now());
    }
}

// What `/readyz` reports for the machine's view of the service.
health_state health_of(const machine& m)
{
    const auto [what, generation] = m.service();
    switch (what) {
    case serving::ready:
        return {health_phase::ready, generation};
    case serving::no_worker:
        return {health_phase::no_worker, 0};
    case serving::stopping:
        return {health_phase::stopping, 0};
    case serving::starting:
        break;
    }
    return {health_phase::starting, 0};
}

// poll(2)'s timeout: until the machine's (or the health endpoint's, or the preflight's) next
// deadline, at most a minute; at most a second when an envdir is read (it may turn
// auto-restart on at any time).
int poll_timeout(const machine& m, const supervisor_setup& s, bool is_polling_env)
{
    int timeout = -1;
    auto deadline = m.next_deadline();
    for (const auto other :
         {s.health ? s.health->next_deadline() : std::nullopt,
          s.check ? std::optional<clock::time_point>(s.check->deadline()) : std::nullopt})
        if (other)
            deadline = deadline ? std::min(*deadline, *other) : *other;
    if (deadline) {
        const auto left = std::chrono::ceil<milliseconds>(*deadline - clock::now()).count();
        timeout = static_cast<int>(std::clamp<long long>(left, 0, 60'000));
    }
    if (is_polling_env && (timeout < 0 || timeout > 1000))
        timeout = 1000;
    return timeout;
}

// A descriptor the loop waits on, and what to do when it is readable.
struct watch {
    int fd;
    std::function<void()> on_readable;
};

} // namespace

/// What start_server carries across its upgrades: the counters, the first start's time, the
/// images it ran, and the last upgrade's result (this image's, when it was just upgraded to).
void carry_history(supervisor_setup& s, const invocation& self, const upgrade_state* resumed)
{
    if (resumed) {
        s.last_upgrade = self.failed_upgrade ? "failed: " + *self.failed_upgrade : "done";
        const bool is_rollback = self.failed_upgrade.has_value();
        s.carried.upgrades_done = resumed->upgrades_done + (is_rollback ? 0 : 1);
        s.carried.upgrades_failed = resumed->upgrades_failed + (is_rollback ? 1 : 0);
        s.carried.started_at = resumed->started_at;
        s.carried.images = resumed->images;
    } else {
        s.carried.started_at = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
    }
    s.carried.images.emplace_back(baton_version());
}

/// What --show-status says of start_server itself, once set up (the pid after daemonize); the
/// start time is the first image's, carried across upgrades.
starter_facts facts_of(const supervisor_setup& s)
{
    using std::chrono::nanoseconds;
    starter_facts f;
    f.pid = ::getpid();
    f.listeners = s.port_env;
    f.upgrades_done = s.carried.upgrades_done;
    f.upgrades_failed = s.carried.upgrades_failed;
    f.last_upgrade = s.last_upgrade;
    const std::int64_t real_now =
        std::chrono::duration_cast<nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const std::int64_t mono_now =
        std::chrono::duration_cast<nanoseconds>(clock::now().time_since_epoch()).count();
    const std::int64_t started = s.carried.started_at.value_or(real_now); // an older record's
    f.started_unix = started / 1'000'000'000;
    f.started_ns = mono_now - std::max<std::int64_t>(0, real_now - started);
    return f;
}

int run_supervisor(const options& opts, const invocation& self, const upgrade_state* resumed)
{
    supervisor_setup s;
    s.self = self;
    carry_history(s, self, resumed);
    if (const int code = resumed ? resume(opts, s, *resumed) : set_up(opts, s); code != exit_ok)
        return code;
    // After the sockets: they keep the descriptor numbers Server::Starter gives them (3...).
    s.running_image = open_running_executable();
    status_publisher status(opts.pid_file, facts_of(s), resumed != nullptr); // before pid file

    // 6. the loop
    process_effects fx(opts, process_environment(), s.port_env, s.notifier.address(),
                       s.systemd_address);
    fx.watch_sockets(s.sockets);
    fx.count_upgrades(s.carried.upgrades_done);
    const auto settings = settings_from(opts, s.on_hup, fx.current_env());
    std::optional<machine> machine_holder;
    if (resumed)
        machine_holder.emplace(settings, fx, resumed->machine);
    else
        machine_holder.emplace(settings, fx);
    machine& m = *machine_holder;
    std::vector<watch> watches{{s.signals.get(), [&] { on_signals(s, m); }}};
    if (s.notifier.fd() >= 0)
        watches.push_back({s.notifier.fd(), [&] { on_ready_messages(s.notifier, m); }});
    if (resumed) {
        fx.adopt_files();
        finish_upgrade(*resumed, s.self, fx, m);
    } else {
        m.start(clock::now());
    }
    const bool is_polling_env = opts.envdir.has_value() || std::getenv("ENVDIR") != nullptr;
    std::vector<pollfd> fds;
    while (m.current_state() != state::stopped) {
        status.facts().upgrades_done = s.carried.upgrades_done; // a failed one counts here
        status.facts().upgrades_failed = s.carried.upgrades_failed;
        status.facts().last_upgrade = s.last_upgrade;
        status.update(m.snapshot(), clock::now()); // after the start and every turn's events
        // The watches first, then a preflight's output, then the health endpoint's (its
        // connections come and go).
        fds.clear();
        for (const auto& w : watches)
            fds.push_back({w.fd, POLLIN, 0});
        const bool is_checking = s.check && s.check->fd() >= 0;
        if (is_checking)
            fds.push_back({s.check->fd(), POLLIN, 0});
        const std::size_t own = fds.size();
        if (s.health)
            s.health->add_pollfds(fds);
        const int rc = ::poll(fds.data(), fds.size(), poll_timeout(m, s, is_polling_env));
        if (rc < 0 && errno != EINTR) {
            // Never leave the workers behind: report, back off a little, keep supervising.
            log_line::write(std::string("poll failed: ") + std::strerror(errno));
            const timespec backoff{0, 100'000'000};
            ::nanosleep(&backoff, nullptr);
            continue;
        }
        m.update_settings(settings_from(opts, s.on_hup, fx.current_env()));
        for (std::size_t i = 0; rc > 0 && i < watches.size(); ++i)
            // An error or hang-up is read too: the read reports (and clears) it, where
            // waiting for POLLIN alone would leave it pending and poll returning at once.
            if (fds[i].revents & (POLLIN | POLLERR | POLLHUP))
                watches[i].on_readable();
        if (rc > 0 && is_checking && s.check &&
            (fds[own - 1].revents & (POLLIN | POLLERR | POLLHUP)))
            s.check->on_readable();
        if (std::exchange(s.is_upgrade_asked, false)) // ignored while a preflight runs
            begin_upgrade(opts, s, fx, m);
        check_upgrade(opts, s, fx, m);
        m.on_tick(clock::now());
        if (s.health) { // after the signals: a stop is reported from its first moment
            s.health->set_state(health_of(m));
            const auto now = clock::now();
            if (rc > 0)
                s.health->on_poll(fds.data() + own, fds.size() - own, now);
            s.health->on_tick(now);
        }
    }
    return exit_ok; // 7. the destructors clean up what this process created
}

} // namespace baton::starter
