// SPDX-License-Identifier: MIT
#include "status_report.hpp"
#include "upgrade.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

namespace {

using namespace baton::starter;

TEST(UpgradeArgs, StateFdOptionIsTakenOnlyFirstAndRemoved)
{
    std::string error;
    invocation inv{
        "/usr/bin/start_server", {"start_server", "--baton-state-fd=7", "--port=1"}, {}, {}};
    EXPECT_EQ(take_state_fd(inv, error), 7);
    EXPECT_EQ(inv.argv, (std::vector<std::string>{"start_server", "--port=1"}));
    // Anywhere else it is the program's argument, not start_server's.
    invocation later{"/x", {"start_server", "--", "app", "--baton-state-fd=7"}, {}, {}};
    EXPECT_EQ(take_state_fd(later, error), -1);
    EXPECT_EQ(later.argv.size(), 4u);
    invocation bad{"/x", {"start_server", "--baton-state-fd=seven"}, {}, {}};
    EXPECT_EQ(take_state_fd(bad, error), -2);
    EXPECT_NE(error.find("--baton-state-fd=seven"), std::string::npos) << error;
}

TEST(UpgradeArgs, RollbackOptionsFollowTheStateFd)
{
    std::string error;
    invocation inv{
        "/x",
        {"start_server", "--baton-rollback-fd=9", "--baton-upgrade-failed=state: x y", "--port=1"},
        {},
        {}};
    EXPECT_EQ(take_fd_option(inv, rollback_fd_option, error), 9);
    EXPECT_EQ(take_failed_option(inv), "state: x y");
    EXPECT_EQ(inv.argv, (std::vector<std::string>{"start_server", "--port=1"}));
    EXPECT_FALSE(take_failed_option(inv));
    EXPECT_TRUE(open_running_executable());
}

TEST(UpgradeArgs, ExecutableIsResolvedToAnAbsolutePath)
{
    char a0[] = "start_server"; // as found on PATH: /proc/self/exe names it
    char a1[] = "--port=0";
    char* argv[] = {a0, a1};
    const auto inv = current_invocation(2, argv);
    ASSERT_FALSE(inv.exe.empty());
    EXPECT_EQ(inv.exe.front(), '/');
    EXPECT_EQ(inv.argv, (std::vector<std::string>{"start_server", "--port=0"}));
    EXPECT_FALSE(inv.env.empty());
    char rel[] = "./bin/start_server";
    char* argv2[] = {rel};
    const auto inv2 = current_invocation(1, argv2);
    EXPECT_EQ(inv2.exe.front(), '/');
    char cwd[4096];
    ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
    EXPECT_EQ(inv2.exe, std::string(cwd) + "/bin/start_server");
    char steps[] = "././bin//./start_server"; // only the `.` and empty steps go
    char* argv3[] = {steps};
    EXPECT_EQ(current_invocation(1, argv3).exe, std::string(cwd) + "/bin/start_server");
    char up[] = "../bin/start_server"; // `..` stays: after a link it is not the parent
    char* argv4[] = {up};
    EXPECT_EQ(current_invocation(1, argv4).exe, std::string(cwd) + "/../bin/start_server");
}

TEST(UpgradeState, MemfdHoldsTheRecordAndIsCloseOnExecUntilCleared)
{
    std::string error;
    const std::string text(200'000, 'x'); // more than one read's buffer
    const auto fd = state_memfd(text, error);
    ASSERT_TRUE(fd) << error;
    EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
    ASSERT_TRUE(set_cloexec(fd.get(), false));
    EXPECT_FALSE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
    const auto back = read_state(fd.get(), 1 << 20, error);
    ASSERT_TRUE(back) << error;
    EXPECT_EQ(*back, text);
    EXPECT_FALSE(read_state(fd.get(), 1000, error));
    EXPECT_NE(error.find("longer than 1000 bytes"), std::string::npos) << error;
    EXPECT_FALSE(read_state(-1, 1000, error));
    EXPECT_FALSE(set_cloexec(-1, true));
}

TEST(UpgradeState, VersionIsTheProjects)
{
    EXPECT_FALSE(baton_version().empty());
    EXPECT_NE(baton_version(), "0.35"); // not Server::Starter's, which --version prints
}

} // namespace
