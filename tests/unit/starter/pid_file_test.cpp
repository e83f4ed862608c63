// SPDX-License-Identifier: MIT
#include "pid_file.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace {

using baton::starter::pid_file;

std::string read_all(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

struct PidFile : ::testing::Test {
    std::string dir;
    std::string path;

    void SetUp() override
    {
        char t[] = "/tmp/baton-pidfile-XXXXXX";
        ASSERT_NE(::mkdtemp(t), nullptr);
        dir = t;
        path = dir + "/pid";
    }

    void TearDown() override { [[maybe_unused]] int rc = std::system(("rm -rf " + dir).c_str()); }
};

TEST_F(PidFile, HoldsThePidUnderALockAndIsUnlinkedOnRelease)
{
    pid_file pf;
    baton::starter::setup_error err;
    ASSERT_TRUE(pf.acquire(path, err)) << err.message;
    EXPECT_EQ(read_all(path), std::to_string(::getpid()) + "\n");
    const int other = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_NE(::flock(other, LOCK_EX | LOCK_NB), 0); // locked (another description)
    pf.release();
    EXPECT_NE(::access(path.c_str(), F_OK), 0);
    EXPECT_EQ(::flock(other, LOCK_EX | LOCK_NB), 0); // and unlocked after the unlink
    ::close(other);
}

TEST_F(PidFile, SecondHolderIsRefusedWithTheOwnersPid)
{
    pid_file first;
    baton::starter::setup_error err;
    ASSERT_TRUE(first.acquire(path, err));
    pid_file second;
    EXPECT_FALSE(second.acquire(path, err));
    EXPECT_EQ(err.code, baton::starter::errc::pid_file_locked);
    EXPECT_EQ(err.message, "pid file " + path + " is locked by another start_server (pid " +
                               std::to_string(::getpid()) + ")");
    EXPECT_EQ(read_all(path), std::to_string(::getpid()) + "\n"); // untouched
}

TEST_F(PidFile, StaleUnlockedFileIsTakenOver)
{
    std::ofstream(path) << "999999\n";
    pid_file pf;
    baton::starter::setup_error err;
    ASSERT_TRUE(pf.acquire(path, err)) << err.message;
    EXPECT_EQ(read_all(path), std::to_string(::getpid()) + "\n");
}

TEST_F(PidFile, UnwritableLocationIsReportedWithThePath)
{
    pid_file pf;
    baton::starter::setup_error err;
    EXPECT_FALSE(pf.acquire(dir + "/no/such/pid", err));
    EXPECT_EQ(err.code, baton::starter::errc::pid_file_failed);
    EXPECT_EQ(err.message,
              "failed to open file:" + dir + "/no/such/pid: No such file or directory");
    EXPECT_FALSE(pf.is_held());
}

TEST_F(PidFile, DescriptorIsCloseOnExec)
{
    pid_file pf;
    baton::starter::setup_error err;
    ASSERT_TRUE(pf.acquire(path, err));
    // find our descriptor for the file through /proc and check FD_CLOEXEC
    bool found = false;
    for (int fd = 3; fd < 256; ++fd) {
        char link[64];
        std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        char target[512] = {};
        const ssize_t n = ::readlink(link, target, sizeof target - 1);
        if (n > 0 && std::string(target, static_cast<std::size_t>(n)) == path) {
            found = true;
            EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
        }
    }
    EXPECT_TRUE(found);
}

} // namespace
