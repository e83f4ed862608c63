// SPDX-License-Identifier: MIT
#include "upgrade.hpp"

#include "log.hpp"
#include "state_record.hpp"
#include "status_report.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace baton::starter {

namespace {

std::string absolute_path(std::string_view argv0)
{
    if (argv0.find('/') == std::string_view::npos) { // found on PATH: the kernel knows where
        char buf[PATH_MAX];
        const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string(argv0);
    }
    if (argv0.front() == '/')
        return std::string(argv0);
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof cwd) == nullptr)
        return std::string(argv0);
    // `./start_server` is cwd/start_server: drop the `.` steps only (a `..` after a symbolic
    // link is not the lexical parent, so it stays as written).
    std::string path(cwd);
    for (std::size_t at = 0; at < argv0.size();) {
        const std::size_t end = std::min(argv0.find('/', at), argv0.size());
        if (const auto step = argv0.substr(at, end - at); !step.empty() && step != ".")
            path.append("/").append(step);
        at = end + 1;
    }
    return path;
}

std::vector<char*> pointers(const std::vector<std::string>& strings)
{
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (const auto& s : strings)
        out.push_back(const_cast<char*>(s.c_str())); // NOLINT: execve's historical signature
    out.push_back(nullptr);
    return out;
}

} // namespace

invocation current_invocation(int argc, char** argv)
{
    invocation inv;
    for (int i = 0; i < argc; ++i)
        inv.argv.emplace_back(argv[i]);
    for (char** e = environ; e != nullptr && *e != nullptr; ++e)
        inv.env.emplace_back(*e);
    // An upgraded image keeps the path its first image resolved (the record's argv[0] is
    // the original), so every later upgrade executes the same file.
    if (!inv.argv.empty())
        inv.exe = absolute_path(inv.argv[0]);
    return inv;
}

int take_fd_option(invocation& inv, std::string_view option, std::string& error)
{
    if (inv.argv.size() < 2 || !inv.argv[1].starts_with(option))
        return -1;
    const std::string n = inv.argv[1].substr(option.size());
    int fd = -1;
    const auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), fd);
    inv.argv.erase(inv.argv.begin() + 1);
    if (ec != std::errc{} || ptr != n.data() + n.size() || fd < 0) {
        error = "start_server: bad " + std::string(option) + n;
        return -2;
    }
    return fd;
}

std::optional<std::string> take_failed_option(invocation& inv)
{
    if (inv.argv.size() < 2 || !inv.argv[1].starts_with(failed_option))
        return std::nullopt;
    std::string why = inv.argv[1].substr(failed_option.size());
    inv.argv.erase(inv.argv.begin() + 1);
    return why;
}

detail::unique_fd open_running_executable() noexcept
{
    return detail::unique_fd(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
}

std::optional<std::string> read_state(int fd, std::size_t limit, std::string& error)
{
    std::string out;
    char buf[65536];
    for (off_t at = 0;;) {
        const ssize_t n = ::pread(fd, buf, sizeof buf, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error = std::string("cannot read the upgrade record: ") + std::strerror(errno);
            return std::nullopt;
        }
        if (n == 0)
            return out;
        out.append(buf, static_cast<std::size_t>(n));
        at += n;
        if (out.size() > limit) {
            error = "the upgrade record is longer than " + std::to_string(limit) + " bytes";
            return std::nullopt;
        }
    }
}

detail::unique_fd state_memfd(std::string_view text, std::string& error)
{
    detail::unique_fd fd(::memfd_create("baton-upgrade-state", MFD_CLOEXEC));
    std::size_t done = 0;
    while (fd && done < text.size()) {
        const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += static_cast<std::size_t>(n);
    }
    if (!fd || done != text.size()) {
        error = std::string("cannot write the upgrade record: ") + std::strerror(errno);
        fd.reset();
    }
    return fd;
}

bool set_cloexec(int fd, bool on) noexcept
{
    const int flags = ::fcntl(fd, F_GETFD);
    return flags >= 0 &&
           ::fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC)) == 0;
}

namespace {

// `inv.argv` with the two hidden options first (after argv[0]).
std::vector<std::string> hidden_first(const invocation& inv, std::string first, std::string second)
{
    std::vector<std::string> args = inv.argv;
    args.insert(args.begin() + (args.empty() ? 0 : 1), {std::move(first), std::move(second)});
    return args;
}

} // namespace

std::string exec_upgraded(const invocation& inv, int state_fd, int rollback_fd)
{
    const auto args = hidden_first(inv, std::string(state_fd_option) + std::to_string(state_fd),
                                   std::string(rollback_fd_option) + std::to_string(rollback_fd));
    const auto argv = pointers(args);
    const auto envp = pointers(inv.env);
    ::execve(inv.exe.c_str(), argv.data(), envp.data());
    return std::strerror(errno);
}

std::string exec_rollback(const invocation& inv, int rollback_fd, int state_fd,
                          std::string_view why)
{
    const auto args = hidden_first(inv, std::string(state_fd_option) + std::to_string(state_fd),
                                   std::string(failed_option) + std::string(why));
    const auto argv = pointers(args);
    const auto envp = pointers(inv.env);
    ::fexecve(rollback_fd, argv.data(), envp.data());
    return std::strerror(errno);
}

void exec_check(const invocation& inv, int state_fd, int out)
{
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    constexpr int check_state_fd = 3;
    if (state_fd != check_state_fd && ::dup2(state_fd, check_state_fd) < 0)
        ::_exit(127);
    set_cloexec(check_state_fd, false);
    ::close_range(check_state_fd + 1, ~0U, 0);
    state_fd = check_state_fd;
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const std::vector<std::string> args{inv.exe, std::string(check_option),
                                        std::string(state_fd_option) + std::to_string(state_fd)};
    const auto argv = pointers(args);
    const auto envp = pointers(inv.env);
    ::execve(inv.exe.c_str(), argv.data(), envp.data());
    const std::string line = std::string("exec: ") + std::strerror(errno) + "\n";
    [[maybe_unused]] const auto n = ::write(STDOUT_FILENO, line.data(), line.size());
    ::_exit(127);
}

void finish_upgrade(const upgrade_state& r, const invocation& self, effects& fx, machine& m)
{
    int status = 0;
    pid_t pid = 0;
    for (int i = 0; i < 65536 && (pid = ::waitpid(-1, &status, WNOHANG)) > 0; ++i)
        m.on_child_exit(pid, status, clock::now());
    const auto& ms = m.snapshot();
    const std::size_t kept =
        std::size_t{ms.current ? 1U : 0U} + std::size_t{ms.candidate ? 1U : 0U} + ms.old.size();
    const auto took =
        r.upgrade_began
            ? std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - *r.upgrade_began)
            : std::chrono::milliseconds(0);
    std::string status_line = "READY=1\nSTATUS=start_server upgraded";
    if (const auto& why = self.failed_upgrade) {
        log_line::write("upgrade failed: " + log_line::printable(*why) + "; start_server (" +
                        std::string(baton_version()) + ") rolled back in " +
                        std::to_string(took.count()) + " ms, " + std::to_string(kept) +
                        " workers kept");
        status_line = "READY=1\nSTATUS=upgrade failed (" + *why + ")";
    } else {
        log_line::write("start_server upgraded in " + std::to_string(took.count()) + " ms, " +
                        std::to_string(kept) + " workers kept (" + log_line::printable(r.writer) +
                        " -> " + std::string(baton_version()) + ")");
    }
    if (ms.current)
        status_line += "; generation " + std::to_string(ms.current->generation) + " ready (pid " +
                       std::to_string(ms.current->pid) + ")";
    if (!ms.old.empty())
        status_line += "; " + std::to_string(ms.old.size()) + " retiring";
    fx.tell_systemd(status_line);
}

} // namespace baton::starter
