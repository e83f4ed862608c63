// SPDX-License-Identifier: MIT
#include "support/child_process.hpp"
#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace baton::test;
using namespace std::chrono_literals;

namespace {

pid_t parse_pid(const std::string& text)
{
    return static_cast<pid_t>(std::stol(text));
}

} // namespace

// ---------------------------------------------------------------------------------------------
// wait_until

TEST(WaitUntil, ReturnsTrueOncePredicateHolds)
{
    int calls = 0;
    EXPECT_TRUE(wait_until([&] { return ++calls == 3; }, 5s, 1ms));
    EXPECT_EQ(calls, 3);
}

TEST(WaitUntil, ReturnsFalseAtTimeoutAfterBoundedCalls)
{
    int calls = 0;
    const auto start = std::chrono::steady_clock::now();

    EXPECT_FALSE(wait_until([&] { return ++calls < 0; }, 50ms, 10ms));

    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    EXPECT_GE(calls, 1);
    EXPECT_LE(calls, 50 / 10 + 2);
}

TEST(WaitUntil, CallsPredicateOnceWithZeroTimeout)
{
    int calls = 0;
    EXPECT_FALSE(wait_until([&] { return ++calls < 0; }, 0ms));
    EXPECT_EQ(calls, 1);
}

// ---------------------------------------------------------------------------------------------
// child_process

TEST(ChildProcess, DestructorKillsAndReapsTheChild)
{
    pid_t pid = -1;
    {
        child_process child({"sleep", "30"});
        pid = child.pid();
        ASSERT_GT(pid, 0);
        EXPECT_TRUE(child.is_running());
    }
    // Reaped: the pid is no longer our child (and no zombie is left).
    int status = 0;
    const pid_t waited = ::waitpid(pid, &status, WNOHANG);
    const int wait_errno = errno;
    EXPECT_EQ(waited, -1);
    EXPECT_EQ(wait_errno, ECHILD);
    EXPECT_TRUE(is_process_gone(pid));
}

TEST(ChildProcess, DestructorKillsTheWholeProcessGroup)
{
    pid_t grandchild = -1;
    {
        child_process child({"/bin/sh", "-c", "sleep 30 & echo $!; wait"});
        ASSERT_TRUE(child.wait_for_output("\n", 5s)) << child.output();
        grandchild = parse_pid(child.output());
        ASSERT_GT(grandchild, 0);
        EXPECT_FALSE(is_process_gone(grandchild));
    }
    // The grandchild was re-parented when the shell died; whoever reaps it, it is not running.
    EXPECT_TRUE(wait_until([&] { return is_process_gone(grandchild); }, 10s));
}

TEST(ChildProcess, WaitForExitReturnsNothingAtTheDeadline)
{
    child_process child({"sleep", "30"});
    const auto start = std::chrono::steady_clock::now();

    const std::optional<int> status = child.wait_for_exit(50ms);

    EXPECT_FALSE(status.has_value());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    EXPECT_TRUE(child.is_running());
}

TEST(ChildProcess, WaitForExitReportsRawExitStatus)
{
    child_process child({"/bin/sh", "-c", "exit 3"});

    const std::optional<int> status = child.wait_for_exit(10s);

    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status)) << describe_wait_status(*status);
    EXPECT_EQ(WEXITSTATUS(*status), 3);
    EXPECT_EQ(*status, 768); // the raw value Server::Starter's log lines print
    EXPECT_FALSE(child.is_running());
    EXPECT_EQ(child.wait_for_exit(0ms), status); // asked again: the same answer at once
}

TEST(ChildProcess, WaitForExitCodeIsTheStatusOfANormalExitOnly)
{
    child_process exits({"/bin/sh", "-c", "exit 3"});
    child_process killed({"/bin/sh", "-c", "kill -9 $$"});
    child_process runs({"sleep", "30"});

    EXPECT_EQ(exits.wait_for_exit_code(10s), 3);
    EXPECT_EQ(killed.wait_for_exit_code(10s), std::nullopt);
    EXPECT_EQ(runs.wait_for_exit_code(50ms), std::nullopt);
    EXPECT_TRUE(runs.is_running());
}

TEST(ChildProcess, SignalEndsChildAndStatusNamesTheSignal)
{
    child_process child({"sleep", "30"});

    ASSERT_TRUE(child.signal(SIGTERM));
    const std::optional<int> status = child.wait_for_exit(10s);

    ASSERT_TRUE(status.has_value());
    ASSERT_TRUE(WIFSIGNALED(*status)) << describe_wait_status(*status);
    EXPECT_EQ(WTERMSIG(*status), SIGTERM);
    EXPECT_EQ(describe_wait_status(*status), "killed by signal 15 (SIGTERM)");
    EXPECT_FALSE(child.signal(SIGTERM)); // it has exited: nothing to signal
}

TEST(ChildProcess, ChildStartsWithDefaultSignalDispositions)
{
    // Even if the test ignores SIGTERM, the child must not inherit that.
    struct sigaction old {};

    struct sigaction ignore {};

    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGTERM, &ignore, &old);
    child_process child({"sleep", "30"});
    ::sigaction(SIGTERM, &old, nullptr);

    EXPECT_FALSE(is_signal_in_mask(child.pid(), "SigIgn:", SIGTERM));
}

TEST(ChildProcess, CapturesStdoutAndStderr)
{
    child_process child({"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2"});

    ASSERT_TRUE(child.wait_for_exit(10s).has_value());

    EXPECT_EQ(child.output(), "to-stdout\nto-stderr\n");
}

TEST(ChildProcess, OutputIsReadableWhileChildRuns)
{
    child_process child({"/bin/sh", "-c", "echo started; exec sleep 30"});

    EXPECT_TRUE(child.wait_for_output("started\n", 10s)) << child.output();
    EXPECT_TRUE(child.is_running());
    EXPECT_TRUE(child.has_output("art"));
    EXPECT_FALSE(child.has_output("stopped"));
}

TEST(ChildProcess, AppliesEnvironmentChanges)
{
    ::setenv("BATON_TEST_TO_REMOVE", "present", 1);
    ::setenv("BATON_TEST_TO_OVERRIDE", "old", 1);
    child_options options;
    options.argv = {"/bin/sh", "-c",
                    "echo \"${BATON_TEST_TO_REMOVE-removed} $BATON_TEST_TO_OVERRIDE "
                    "$BATON_TEST_ADDED\""};
    options.env = {{"BATON_TEST_TO_REMOVE", std::nullopt},
                   {"BATON_TEST_TO_OVERRIDE", "new"},
                   {"BATON_TEST_ADDED", "added"}};
    child_process child(options);
    ::unsetenv("BATON_TEST_TO_REMOVE");
    ::unsetenv("BATON_TEST_TO_OVERRIDE");

    ASSERT_TRUE(child.wait_for_exit(10s).has_value());

    EXPECT_EQ(child.output(), "removed new added\n");
}

TEST(ChildProcess, UninheritedEnvironmentHasOnlyGivenVariables)
{
    child_process child(child_options{
        .argv = {"/usr/bin/env"}, .env = {{"ONLY", "this"}}, .is_env_inherited = false});

    ASSERT_TRUE(child.wait_for_exit(10s).has_value());

    EXPECT_EQ(child.output(), "ONLY=this\n");
}

TEST(ChildProcess, RunsInGivenWorkingDirectory)
{
    const temp_dir dir;
    child_process child(
        child_options{.argv = {"/bin/sh", "-c", "pwd -P"}, .working_dir = dir.path()});

    ASSERT_TRUE(child.wait_for_exit(10s).has_value());

    EXPECT_EQ(child.output(), std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(ChildProcess, InheritsListedDescriptorsOnly)
{
    std::array<int, 2> listed{};
    std::array<int, 2> unlisted{};
    ASSERT_EQ(::pipe2(listed.data(), O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(unlisted.data(), O_CLOEXEC), 0);
    const unique_fd listed_read{listed[0]}, listed_write{listed[1]};
    const unique_fd unlisted_read{unlisted[0]}, unlisted_write{unlisted[1]};
    const std::string script = "echo through-pipe > /proc/self/fd/" + std::to_string(listed[1]) +
                               "; test -e /proc/self/fd/" + std::to_string(unlisted[1]) +
                               " && echo leaked || echo not-inherited";

    child_process child(
        child_options{.argv = {"/bin/sh", "-c", script}, .inherit_fds = {listed_write.get()}});
    ASSERT_TRUE(child.wait_for_exit(10s).has_value());

    std::array<char, 64> buffer{};
    const ssize_t n = ::read(listed_read.get(), buffer.data(), buffer.size());
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buffer.data(), static_cast<std::size_t>(n)), "through-pipe\n");
    EXPECT_EQ(child.output(), "not-inherited\n");
    // The parent's copy keeps close-on-exec.
    EXPECT_NE(::fcntl(listed_write.get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(ChildProcess, DescriptorsWithoutCloseOnExecAreNotInheritedUnlessListed)
{
    std::array<int, 2> open_fds{};
    ASSERT_EQ(::pipe2(open_fds.data(), 0), 0); // no O_CLOEXEC: exec alone would pass it on
    const unique_fd read_end{open_fds[0]}, write_end{open_fds[1]};
    const std::string script =
        "test -e /proc/self/fd/" + std::to_string(open_fds[0]) +
        " && echo leaked || echo not-inherited; echo listed > /proc/self/fd/" +
        std::to_string(open_fds[1]);

    child_process child(
        child_options{.argv = {"/bin/sh", "-c", script}, .inherit_fds = {write_end.get()}});
    ASSERT_TRUE(child.wait_for_exit(10s).has_value());

    EXPECT_EQ(child.output(), "not-inherited\n");
    std::array<char, 64> buffer{};
    const ssize_t n = ::read(read_end.get(), buffer.data(), buffer.size());
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buffer.data(), static_cast<std::size_t>(n)), "listed\n");
    EXPECT_EQ(::fcntl(read_end.get(), F_GETFD) & FD_CLOEXEC, 0); // the parent's copy untouched
}

TEST(ChildProcess, MapsDescriptorToRequestedNumber)
{
    std::array<int, 2> fds{};
    ASSERT_EQ(::pipe2(fds.data(), O_CLOEXEC), 0);
    const unique_fd read_end{fds[0]}, write_end{fds[1]};

    child_process child(child_options{.argv = {"/bin/sh", "-c", "echo on-three >&3"},
                                      .map_fds = {{write_end.get(), 3}}});
    ASSERT_TRUE(child.wait_for_exit(10s).has_value());

    std::array<char, 64> buffer{};
    const ssize_t n = ::read(read_end.get(), buffer.data(), buffer.size());
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buffer.data(), static_cast<std::size_t>(n)), "on-three\n");
}

TEST(ChildProcess, ThrowsWhenProgramCannotBeExecuted)
{
    try {
        child_process child({"/nonexistent/baton-no-such-program"});
        FAIL() << "no exception for a missing program";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
        EXPECT_NE(std::string{e.what()}.find("baton-no-such-program"), std::string::npos);
    }
}

TEST(ChildProcess, MovedFromObjectOwnsNothing)
{
    child_process first({"sleep", "30"});
    const pid_t pid = first.pid();

    child_process second = std::move(first);

    EXPECT_EQ(second.pid(), pid);
    EXPECT_EQ(first.pid(), -1); // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_TRUE(second.is_running());
}
