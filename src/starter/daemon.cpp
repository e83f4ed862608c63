// SPDX-License-Identifier: MIT
#include "daemon.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace baton::starter {

namespace {

using detail::unique_fd;

[[noreturn]] void exec_logger(int read_end, const std::string& cmd)
{
    ::dup2(read_end, STDIN_FILENO);
    // The logger is not a worker: it must not hold the listening sockets (a listener kept
    // open by it would outlive start_server and queue connections nobody accepts), the pid
    // file's lock or the notify socket. Everything above stderr goes.
    ::close_range(3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::setsid();
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
}

} // namespace

unique_fd open_log_target(const std::string& spec, setup_error& err)
{
    if (!spec.starts_with("|")) {
        unique_fd fd(::open(spec.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
        if (!fd)
            err = {errc::log_file_failed,
                   "failed to open log file:" + spec + ": " + std::strerror(errno)};
        return fd;
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
        err = {errc::log_file_failed, "failed to open pipe:" + spec + ": " + std::strerror(errno)};
        return {};
    }
    unique_fd read_end(p[0]);
    unique_fd write_end(p[1]);
    const pid_t pid = ::fork();
    if (pid < 0) {
        err = {errc::log_file_failed, "failed to open pipe:" + spec + ": " + std::strerror(errno)};
        return {};
    }
    if (pid == 0)
        exec_logger(read_end.get(), spec.substr(1));
    return write_end;
}

bool open_log(const std::string& spec, setup_error& err)
{
    const unique_fd fd = open_log_target(spec, err);
    if (!fd)
        return false;
    ::dup2(fd.get(), STDOUT_FILENO);
    ::dup2(fd.get(), STDERR_FILENO);
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
        const unique_fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (null)
            ::dup2(null.get(), STDIN_FILENO);
    }
    return true;
}

} // namespace baton::starter
