// SPDX-License-Identifier: MIT
#include "spawn.hpp"

#include "log.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace baton::starter {

namespace {

// In the child only: `head` + strerror(err) + "\n" in one write, then exit 255. No
// allocation: the child shares the parent's memory until it execs or exits (vfork).
[[noreturn]] void fail_in_child(const std::string& head, int err)
{
    const char* why = ::strerror(err); // glibc: a static string for every known errno
    iovec parts[3] = {{const_cast<char*>(head.data()), head.size()},
                      {const_cast<char*>(why), std::strlen(why)},
                      {const_cast<char*>("\n"), 1}};
    [[maybe_unused]] auto w = ::writev(STDERR_FILENO, parts, 3);
    ::_exit(255);
}

// What the child needs, built before vfork so that the child only makes system calls.
struct child_plan {
    std::vector<char*> args;
    std::vector<char*> envp;
    const char* dir = nullptr;
    std::string chdir_head;
    std::string exec_head;
};

// In the child. Dispositions first (start_server has no handlers, only SIG_IGN ones to
// undo), then the empty mask, so no signal reaches a disposition meant for the parent.
[[noreturn]] void exec_child(const child_plan& plan)
{
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP)
            ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (plan.dir && ::chdir(plan.dir) != 0)
        fail_in_child(plan.chdir_head, errno);
    ::execvpe(plan.args[0], plan.args.data(), plan.envp.data());
    fail_in_child(plan.exec_head, errno);
}

} // namespace

pid_t spawn_worker(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   const std::optional<std::string>& dir)
{
    // vfork, not fork: the parent's page tables are not copied, and the parent resumes the
    // moment the child has exec'd (see bench/starter/README.md for what fork cost here).
    child_plan plan;
    for (const auto& a : argv)
        plan.args.push_back(const_cast<char*>(a.c_str()));
    plan.args.push_back(nullptr);
    for (const auto& e : env)
        plan.envp.push_back(const_cast<char*>(e.c_str()));
    plan.envp.push_back(nullptr);
    if (dir) {
        plan.dir = dir->c_str();
        plan.chdir_head = "failed to chdir:" + *dir + ":";
    }
    plan.exec_head = log_line::exec_failed(argv.front(), "");
    const pid_t pid = ::vfork();
    if (pid == 0)
        exec_child(plan);
    return pid;
}

} // namespace baton::starter
