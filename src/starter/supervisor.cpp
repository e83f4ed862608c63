// SPDX-License-Identifier: MIT
#include "supervisor.hpp"

#include "listeners.hpp"
#include "log.hpp"
#include "machine.hpp"
#include "notify_socket.hpp"
#include "pid_file.hpp"
#include "restart_record.hpp"
#include "signal_name.hpp"
#include "spawn.hpp"
#include "status_file.hpp"
#include "worker_env.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>

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
    s.is_auto_restart = env_true(env, "ENABLE_AUTO_RESTART");
    s.kill_old_delay = env.contains("KILL_OLD_DELAY")
                           ? seconds(env_number(env, "KILL_OLD_DELAY", 0))
                           : seconds(s.is_auto_restart ? 5 : 0);
    s.auto_restart_interval = seconds(env_number(env, "AUTO_RESTART_INTERVAL", 0));
    if (s.auto_restart_interval <= seconds(0))
        s.auto_restart_interval = seconds(360);
    return s;
}

// The outside world for the machine.
class process_effects final : public effects {
public:
    process_effects(const options& opts, env_map base_env, std::string port_env,
                    std::string notify_address, std::string systemd_address)
        : opts_(opts)
        , base_env_(std::move(base_env))
        , port_env_(std::move(port_env))
        , notify_address_(std::move(notify_address))
        , systemd_address_(std::move(systemd_address))
    {}

    env_map current_env() const
    {
        const auto it = base_env_.find("ENVDIR");
        return it == base_env_.end() ? base_env_ : merge(base_env_, read_envdir(it->second));
    }

    pid_t spawn(unsigned long generation) override
    {
        env_map env = current_env(); // the envdir as it is now, for every attempt
        env["SERVER_STARTER_PORT"] = port_env_;
        env["SERVER_STARTER_GENERATION"] = std::to_string(generation);
        if (!notify_address_.empty())
            env["NOTIFY_SOCKET"] = notify_address_;
        return spawn_worker(opts_.command, to_strings(env), opts_.dir);
    }

    void send_signal(pid_t pid, int sig) override { ::kill(pid, sig); }

    void log(std::string_view line) override { log_line::write(line); }

    void status_changed(const std::vector<std::pair<unsigned long, pid_t>>& workers) override
    {
        if (!opts_.status_file)
            return;
        if (const auto ec = write_status_file(*opts_.status_file, format_status(workers)))
            log_line::write("failed to write status file " + *opts_.status_file + ": " +
                            ec.message());
        else
            is_status_written_ = true;
    }

    void restart_recorded(const restart_record& record) override
    {
        if (!opts_.status_file)
            return;
        const std::string path = restart_record_path(*opts_.status_file);
        if (const auto ec = write_status_file(path, format_restart_record(record)))
            log_line::write("failed to write restart record " + path + ": " + ec.message());
        else
            is_record_written_ = true;
    }

    void tell_systemd(std::string_view state) override
    {
        if (systemd_address_.empty())
            return;
        std::string msg(state);
        if (state == "RELOADING=1") { // systemd's Type=notify-reload wants the time with it
            timespec ts{};
            ::clock_gettime(CLOCK_MONOTONIC, &ts);
            const long long usec =
                static_cast<long long>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
            msg += "\nMONOTONIC_USEC=" + std::to_string(usec);
        }
        starter::tell_systemd(systemd_address_, msg);
    }

    bool is_status_written() const noexcept { return is_status_written_; }

    bool is_record_written() const noexcept { return is_record_written_; }

private:
    const options& opts_;
    env_map base_env_;
    std::string port_env_;
    std::string notify_address_;
    std::string systemd_address_;
    bool is_status_written_ = false;
    bool is_record_written_ = false;
};

bool open_log(const std::string& spec, setup_error& err)
{
    int fd = -1;
    if (spec.starts_with("|")) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) {
            err = {errc::log_file_failed,
                   "failed to open pipe:" + spec + ": " + std::strerror(errno)};
            return false;
        }
        const std::string cmd = spec.substr(1);
        const pid_t pid = ::fork();
        if (pid < 0) {
            err = {errc::log_file_failed,
                   "failed to open pipe:" + spec + ": " + std::strerror(errno)};
            return false;
        }
        if (pid == 0) {
            ::dup2(p[0], STDIN_FILENO);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGPIPE, SIG_DFL);
            ::setsid(); // the logger outlives a Ctrl-C aimed at start_server's group
            ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(p[0]);
        fd = p[1];
    } else {
        fd = ::open(spec.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            err = {errc::log_file_failed,
                   "failed to open log file:" + spec + ": " + std::strerror(errno)};
            return false;
        }
    }
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
    return true;
}

bool daemonize(bool is_stdin_pinned, setup_error& err)
{
    // fork, setsid, fork (Server::Starter's order); the parents exit at once.
    for (int round = 0; round < 2; ++round) {
        const pid_t pid = ::fork();
        if (pid < 0) {
            err = {errc::daemonize_failed, std::string("fork failed:") + std::strerror(errno)};
            return false;
        }
        if (pid > 0)
            ::_exit(0);
        if (round == 0)
            ::setsid();
    }
    if (!is_stdin_pinned) {
        const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ::dup2(fd, STDIN_FILENO);
            ::close(fd);
        }
    }
    return true;
}

} // namespace

int run_supervisor(const options& opts)
{
    // 1. validate what Server::Starter only finds out at the first HUP
    const auto sig_hup = parse_signal(opts.signal_on_hup);
    const auto sig_term = parse_signal(opts.signal_on_term);
    if (!sig_hup || !sig_term) {
        fatal("start_server: unknown signal name \"" +
              (sig_hup ? opts.signal_on_term : opts.signal_on_hup) + "\" for --signal-on-" +
              (sig_hup ? "term" : "hup"));
        return exit_usage;
    }

    // 2. the environment: systemd's NOTIFY_SOCKET is ours, never the workers'
    std::string systemd_address;
    if (const char* ns = std::getenv("NOTIFY_SOCKET"))
        systemd_address = ns;
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

    log_line::write(log_line::starting_now(::getpid()));

    // 3. the sockets, once for every generation
    setup_error err;
    std::vector<listener_socket> sockets;
    if (auto inherited = systemd_listeners(err)) {
        sockets = std::move(*inherited);
        if (!opts.ports.empty() || !opts.paths.empty())
            log_line::write("using the " + std::to_string(sockets.size()) +
                            " sockets systemd passed (LISTEN_FDS); --port and --path ignored");
    } else if (err) {
        fatal(err.message);
        return exit_setup;
    } else if (!bind_listeners(opts.ports, opts.paths,
                               static_cast<int>(opts.backlog.value_or(SOMAXCONN)), sockets, err)) {
        fatal(err.message);
        return exit_setup;
    }
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDNAMES");
    const std::string port_env = port_env_value(sockets, err);
    if (err) {
        fatal(err.message);
        close_listeners(sockets);
        return exit_setup;
    }
    ::setenv("SERVER_STARTER_PORT", port_env.c_str(), 1);
    ::setenv("SERVER_STARTER_GENERATION", "0", 1);

    // 4. signals arrive on a descriptor; SIGPIPE (a dead log pipe) is ignored here only
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD})
        sigaddset(&mask, sig);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    const int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        err = {errc::signalfd_failed, std::string("signalfd failed:") + std::strerror(errno)};
        fatal(err.message);
        close_listeners(sockets);
        return exit_setup;
    }

    // 5. pid file, log file, daemonize. Server::Starter takes the pid file last; taking its
    //    lock first makes a second instance fail in the foreground, on the terminal, with a
    //    non-zero exit even under --daemonize (the lock is shared by the forked daemon, which
    //    rewrites its own pid).
    const bool is_stdin_pinned =
        std::any_of(sockets.begin(), sockets.end(), [](const auto& s) { return s.fd == 0; });
    pid_file pid_lock;
    if ((opts.pid_file && !pid_lock.acquire(*opts.pid_file, err)) ||
        (opts.log_file && !open_log(*opts.log_file, err)) ||
        (opts.is_daemonize && !daemonize(is_stdin_pinned, err)) ||
        (opts.is_daemonize && pid_lock.is_held() && !pid_lock.rewrite(err))) {
        fatal(err.message);
        pid_lock.release();
        close_listeners(sockets);
        ::close(sfd);
        return exit_setup;
    }

    notify_socket notifier;
    if (opts.ready_mode == readiness::notify && !notifier.open(err)) {
        fatal(err.message);
        close_listeners(sockets);
        ::close(sfd);
        return exit_setup;
    }

    // 6. the loop
    process_effects fx(opts, process_environment(), port_env, notifier.address(), systemd_address);
    machine m(settings_from(opts, *sig_hup, fx.current_env()), fx);
    m.start(clock::now());
    const bool is_polling_env = opts.envdir.has_value() || std::getenv("ENVDIR") != nullptr;
    while (m.current_state() != state::stopped) {
        int timeout = -1;
        if (const auto deadline = m.next_deadline()) {
            const auto left = std::chrono::ceil<milliseconds>(*deadline - clock::now()).count();
            timeout = static_cast<int>(std::clamp<long long>(left, 0, 60'000));
        }
        if (is_polling_env && (timeout < 0 || timeout > 1000))
            timeout = 1000; // the envdir may turn auto-restart on at any time
        pollfd fds[2] = {{sfd, POLLIN, 0}, {notifier.fd(), POLLIN, 0}};
        const nfds_t nfds = notifier.fd() >= 0 ? 2 : 1;
        const int rc = ::poll(fds, nfds, timeout);
        if (rc < 0 && errno != EINTR) {
            // Never leave the workers behind: report, back off a little, keep supervising.
            log_line::write(std::string("poll failed: ") + std::strerror(errno));
            const timespec backoff{0, 100'000'000};
            ::nanosleep(&backoff, nullptr);
            continue;
        }
        m.update_settings(settings_from(opts, *sig_hup, fx.current_env()));
        if (rc > 0 && (fds[0].revents & POLLIN)) {
            signalfd_siginfo si{};
            while (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                const auto sig = static_cast<int>(si.ssi_signo);
                const auto now = clock::now();
                if (sig == SIGCHLD) {
                    int status = 0;
                    pid_t pid = 0;
                    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0)
                        m.on_child_exit(pid, status, clock::now());
                } else if (sig == SIGHUP) {
                    m.on_hup(now);
                } else if (sig == SIGTERM) {
                    m.on_stop("TERM", *sig_term, now);
                } else if (sig == SIGINT || sig == SIGQUIT) {
                    m.on_stop(signal_of(sig).name, signal_of(SIGTERM), now);
                } else if (sig == SIGUSR1 || sig == SIGUSR2) {
                    log_line::write(log_line::signal_ignored(signal_of(sig).name,
                                                             "no meaning to start_server"));
                }
            }
        }
        if (nfds == 2 && rc > 0 && (fds[1].revents & POLLIN)) {
            for (const auto& msg : notifier.drain()) {
                // READY=1 counts for the worker that sent it, or whose descendant sent it
                // (a shell worker running `systemd-notify --ready`), or that MAINPID= names.
                pid_t who = m.is_worker(msg.main_pid) ? msg.main_pid : msg.sender;
                for (int depth = 0; depth < 16 && who > 1 && !m.is_worker(who); ++depth)
                    who = parent_of(who);
                if (who > 1 && m.is_worker(who))
                    m.on_ready(who, clock::now());
            }
        }
        m.on_tick(clock::now());
    }

    // 7. clean up what this process created
    if (opts.status_file && fx.is_status_written())
        ::unlink(opts.status_file->c_str());
    if (opts.status_file && fx.is_record_written())
        ::unlink(restart_record_path(*opts.status_file).c_str());
    close_listeners(sockets);
    ::close(sfd);
    pid_lock.release();
    return exit_ok;
}

} // namespace baton::starter
