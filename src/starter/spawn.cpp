// SPDX-License-Identifier: MIT
#include "spawn.hpp"

#include "log.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace baton::starter {

pid_t spawn_worker(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   const std::optional<std::string>& dir)
{
    // Everything the child needs is built before fork: the child only makes system calls.
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env)
        envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const std::string chdir_line_head = dir ? "failed to chdir:" + *dir + ":" : std::string();

    const pid_t pid = ::fork();
    if (pid != 0)
        return pid;

    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP)
            ::signal(sig, SIG_DFL);
    if (dir && ::chdir(dir->c_str()) != 0) {
        const char* why = std::strerror(errno);
        const std::string line = chdir_line_head + why + "\n";
        [[maybe_unused]] auto w = ::write(STDERR_FILENO, line.data(), line.size());
        ::_exit(255);
    }
    ::execvpe(args[0], args.data(), envp.data());
    const char* why = std::strerror(errno);
    const std::string line = log_line::exec_failed(argv.front(), why) + "\n";
    [[maybe_unused]] auto w = ::write(STDERR_FILENO, line.data(), line.size());
    ::_exit(255);
}

} // namespace baton::starter
