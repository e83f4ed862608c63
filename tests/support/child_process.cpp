// SPDX-License-Identifier: MIT
#include "support/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ; // NOLINT: POSIX declares it nowhere in a header

namespace baton::test {
namespace {

/// The stage of the child's setup that failed, reported to the parent with errno.
enum class stage : int { stdio, fds, working_dir, exec };

struct child_failure {
    stage where;
    int error;
};

std::string stage_name(stage s)
{
    switch (s) {
    case stage::stdio:
        return "setting up stdin/stdout/stderr";
    case stage::fds:
        return "passing the inherited descriptors";
    case stage::working_dir:
        return "changing to the working directory";
    case stage::exec:
        return "exec";
    }
    return "setup";
}

/// argv[0] as the child will exec it: a path is kept, a bare name is searched in PATH.
std::string resolve_program(const std::string& name)
{
    if (name.find('/') != std::string::npos)
        return name;
    const char* path_env = std::getenv("PATH");
    std::string_view path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
    while (true) {
        const std::size_t colon = path.find(':');
        const std::string_view dir = path.substr(0, colon);
        const std::string candidate =
            (dir.empty() ? std::string{"."} : std::string{dir}) + '/' + name;
        if (::access(candidate.c_str(), X_OK) == 0)
            return candidate;
        if (colon == std::string_view::npos)
            return name; // exec fails with ENOENT, reported as such
        path.remove_prefix(colon + 1);
    }
}

std::vector<std::string> make_environment(const child_options& options)
{
    std::vector<std::string> result;
    if (options.is_env_inherited) {
        for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
            const std::string_view entry{*e};
            const std::string key{entry.substr(0, entry.find('='))};
            if (!options.env.contains(key))
                result.emplace_back(entry);
        }
    }
    for (const auto& [key, value] : options.env)
        if (value)
            result.push_back(key + '=' + *value);
    return result;
}

std::vector<char*> make_pointers(std::vector<std::string>& strings)
{
    std::vector<char*> result;
    result.reserve(strings.size() + 1);
    for (std::string& s : strings)
        result.push_back(s.data());
    result.push_back(nullptr);
    return result;
}

/// In the forked child: report the failure to the parent and exit. Async-signal-safe.
[[noreturn]] void child_fail(int report_fd, stage where)
{
    const child_failure failure{where, errno};
    (void)!::write(report_fd, &failure, sizeof failure);
    ::_exit(127);
}

/// Raw wait status (as waitpid gives it) from waitid's siginfo.
int raw_status(const siginfo_t& info)
{
    switch (info.si_code) {
    case CLD_EXITED:
        return (info.si_status & 0xff) << 8;
    case CLD_KILLED:
        return info.si_status & 0x7f;
    case CLD_DUMPED:
        return (info.si_status & 0x7f) | 0x80;
    default:
        return info.si_status;
    }
}

} // namespace

bool wait_until(const std::function<bool()>& predicate, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll_interval)
{
    poll_interval = std::max(poll_interval, std::chrono::milliseconds{1});
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const auto max_calls = std::max<std::chrono::milliseconds::rep>(0, timeout / poll_interval) + 2;
    for (std::chrono::milliseconds::rep call = 0; call < max_calls; ++call) {
        if (predicate())
            return true;
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline)
            return false;
        // The one sleep allowed: the pause of a bounded poll loop.
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(poll_interval, deadline - now));
    }
    return false;
}

child_process::child_process(std::vector<std::string> argv)
    : child_process(child_options{.argv = std::move(argv)})
{}

namespace {

// The child's side of the fork: set up its descriptors, signals and directory, then exec.
// Only async-signal-safe calls (the test may have threads); a failure is reported on
// `report_write` and ends the child.
[[noreturn]] void exec_child(const child_options& options, int report_write, int high, int output,
                             std::vector<int>& staged, const std::string& working_dir,
                             const std::string& program, std::vector<char*>& argv,
                             std::vector<char*>& envp)
{
    // The child. Own process group, so the parent can kill everything it forks.
    (void)::setpgid(0, 0);
    const int report_fd = ::fcntl(report_write, F_DUPFD_CLOEXEC, high);
    if (report_fd < 0)
        child_fail(report_write, stage::fds);

    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int signo = 1; signo < NSIG; ++signo)
        (void)::signal(signo, SIG_DFL); // SIG_IGN would survive exec

    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || ::dup2(null_fd, 0) < 0)
        child_fail(report_fd, stage::stdio);
    if (output >= 0 && (::dup2(output, 1) < 0 || ::dup2(output, 2) < 0))
        child_fail(report_fd, stage::stdio);

    for (std::size_t i = 0; i < options.map_fds.size(); ++i) {
        staged[i] = ::fcntl(options.map_fds[i].first, F_DUPFD_CLOEXEC, high);
        if (staged[i] < 0)
            child_fail(report_fd, stage::fds);
    }
    // Nothing the test opened leaks into the child, even without close-on-exec: mark
    // every descriptor above stdio, then clear the mark on the ones handed on below.
    // (Linux >= 5.11; on an older kernel only close-on-exec keeps the others out.)
    (void)::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    for (std::size_t i = 0; i < options.map_fds.size(); ++i)
        if (::dup2(staged[i], options.map_fds[i].second) < 0) // dup2 clears CLOEXEC
            child_fail(report_fd, stage::fds);
    for (const int fd : options.inherit_fds)
        if (::fcntl(fd, F_SETFD, 0) != 0)
            child_fail(report_fd, stage::fds);

    if (!working_dir.empty() && ::chdir(working_dir.c_str()) != 0)
        child_fail(report_fd, stage::working_dir);
    ::execve(program.c_str(), argv.data(), envp.data());
    child_fail(report_fd, stage::exec);
}

} // namespace

child_process::child_process(child_options options)
{
    if (options.argv.empty())
        throw std::invalid_argument("child_process: empty argv");

    // Everything the child needs is prepared here: after fork it may only call
    // async-signal-safe functions (the test may have threads).
    const std::string program = resolve_program(options.argv.front());
    std::vector<std::string> env_strings = make_environment(options);
    std::vector<char*> envp = make_pointers(env_strings);
    std::vector<char*> argv = make_pointers(options.argv);
    const std::string working_dir = options.working_dir.string();

    if (options.is_output_captured) {
        std::string templ =
            (std::filesystem::temp_directory_path() / "baton-output-XXXXXX").string();
        output_ = ::mkostemp(templ.data(), O_CLOEXEC);
        if (output_ < 0)
            throw std::system_error(errno, std::generic_category(), "mkostemp " + templ);
        ::unlink(templ.c_str()); // readable through output_ only; nothing to clean up
    }

    std::array<int, 2> report{-1, -1};
    if (::pipe2(report.data(), O_CLOEXEC) != 0) {
        const int err = errno;
        if (output_ >= 0)
            ::close(output_);
        throw std::system_error(err, std::generic_category(), "pipe2");
    }

    // The child's descriptors at a number above every target, so no dup2 clobbers them.
    int high = 3;
    for (const int fd : options.inherit_fds)
        high = std::max(high, fd + 1);
    for (const auto& [from, to] : options.map_fds)
        high = std::max({high, from + 1, to + 1});
    std::vector<int> staged(options.map_fds.size(), -1);

    const pid_t pid = ::fork();
    if (pid < 0) {
        const int err = errno;
        ::close(report[0]);
        ::close(report[1]);
        if (output_ >= 0)
            ::close(output_);
        throw std::system_error(err, std::generic_category(), "fork");
    }

    if (pid == 0)
        exec_child(options, report[1], high, output_, staged, working_dir, program, argv, envp);

    // The parent: the report pipe closes on a successful exec, or carries the failure.
    ::close(report[1]);
    child_failure failure{};
    ssize_t n = 0;
    do {
        n = ::read(report[0], &failure, sizeof failure);
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    pid_ = pid;
    if (n == static_cast<ssize_t>(sizeof failure)) {
        int ignored = 0;
        (void)::waitpid(pid, &ignored, 0);
        pid_ = -1;
        if (output_ >= 0)
            ::close(output_);
        output_ = -1;
        throw std::system_error(failure.error, std::generic_category(),
                                "starting " + options.argv.front() + ": " +
                                    stage_name(failure.where) + " failed");
    }
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); // -1: fall back to polling
}

child_process::child_process(child_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1))
    , pidfd_(std::exchange(other.pidfd_, -1))
    , output_(std::exchange(other.output_, -1))
    , status_(std::exchange(other.status_, std::nullopt))
{}

child_process& child_process::operator=(child_process&& other) noexcept
{
    if (this != &other) {
        kill_and_reap();
        pid_ = std::exchange(other.pid_, -1);
        pidfd_ = std::exchange(other.pidfd_, -1);
        output_ = std::exchange(other.output_, -1);
        status_ = std::exchange(other.status_, std::nullopt);
    }
    return *this;
}

child_process::~child_process()
{
    kill_and_reap();
}

void child_process::kill_and_reap() noexcept
{
    if (pid_ > 0) {
        // The child is at most a zombie here (never reaped before), so its pgid is still ours.
        (void)::kill(-pid_, SIGKILL);
        int raw = 0;
        pid_t r = 0;
        do {
            r = ::waitpid(pid_, &raw, 0);
        } while (r < 0 && errno == EINTR);
        if (r == pid_ && !status_)
            status_ = raw;
        pid_ = -1;
    }
    if (pidfd_ >= 0)
        ::close(pidfd_);
    pidfd_ = -1;
    if (output_ >= 0)
        ::close(output_);
    output_ = -1;
}

bool child_process::observe_exit() noexcept
{
    if (status_)
        return true;
    if (pid_ <= 0)
        return false;
    siginfo_t info{};
    // WNOWAIT: leave the zombie, keeping the pid (and the pgid) reserved until the destructor.
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
        return false;
    if (info.si_pid != pid_)
        return false;
    status_ = raw_status(info);
    return true;
}

bool child_process::signal(int signo) noexcept
{
    if (pid_ <= 0 || observe_exit())
        return false;
    return ::kill(pid_, signo) == 0;
}

bool child_process::signal_group(int signo) noexcept
{
    if (pid_ <= 0)
        return false;
    return ::kill(-pid_, signo) == 0;
}

std::optional<int> child_process::wait_for_exit(std::chrono::steady_clock::time_point deadline)
{
    // Bounded: one pass per wake-up, and each pass either ends or waits until the deadline.
    for (int pass = 0; pass < 100000; ++pass) {
        if (observe_exit())
            return status_;
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || pid_ <= 0)
            return std::nullopt;
        if (pidfd_ >= 0) {
            pollfd p{pidfd_, POLLIN, 0};
            (void)::poll(
                &p, 1,
                static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 60'000)));
        } else {
            std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds{2}));
        }
    }
    return observe_exit() ? status_ : std::nullopt;
}

std::optional<int> child_process::wait_for_exit(std::chrono::milliseconds timeout)
{
    return wait_for_exit(std::chrono::steady_clock::now() + timeout);
}

bool child_process::is_running()
{
    return pid_ > 0 && !observe_exit();
}

std::optional<int> child_process::wait_for_exit_code(std::chrono::milliseconds timeout)
{
    const std::optional<int> status = wait_for_exit(timeout);
    if (!status || !WIFEXITED(*status))
        return std::nullopt;
    return WEXITSTATUS(*status);
}

std::string child_process::output() const
{
    std::string result;
    if (output_ < 0)
        return result;
    std::array<char, 65536> buffer{};
    off_t offset = 0;
    while (true) {
        // pread: the child shares the file offset of its copy; never move it.
        const ssize_t n = ::pread(output_, buffer.data(), buffer.size(), offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        result.append(buffer.data(), static_cast<std::size_t>(n));
        offset += n;
    }
    return result;
}

bool child_process::has_output(std::string_view needle) const
{
    return output().find(needle) != std::string::npos;
}

bool child_process::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout)
{
    return wait_until([&] { return has_output(needle); }, timeout);
}

std::string describe_wait_status(int raw_status)
{
    if (WIFEXITED(raw_status))
        return "exited with status " + std::to_string(WEXITSTATUS(raw_status));
    if (WIFSIGNALED(raw_status)) {
        const int signo = WTERMSIG(raw_status);
        const char* name = ::sigabbrev_np(signo);
        std::string text = "killed by signal " + std::to_string(signo);
        if (name != nullptr)
            text += std::string{" (SIG"} + name + ')';
        if (WCOREDUMP(raw_status))
            text += ", core dumped";
        return text;
    }
    return "wait status " + std::to_string(raw_status);
}

bool is_process_gone(pid_t pid)
{
    if (::kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    // A zombie still answers kill(); it no longer runs. Field 3 of /proc/PID/stat is the state.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line))
        return true;
    const std::size_t paren = line.rfind(')');
    if (paren == std::string::npos || paren + 2 >= line.size())
        return false;
    const char state = line[paren + 2];
    return state == 'Z' || state == 'X';
}

bool is_signal_in_mask(pid_t pid, std::string_view field, int signo)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(field))
            return ((std::stoull(line.substr(field.size()), nullptr, 16) >> (signo - 1)) & 1U) != 0;
    return false;
}

} // namespace baton::test
