// SPDX-License-Identifier: MIT
#include "common/unique_fd.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace {

using baton::detail::unique_fd;

bool is_open_fd(int fd)
{
    return ::fcntl(fd, F_GETFD) != -1;
}

int open_null()
{
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    return fd;
}

TEST(UniqueFd, ClosesItsDescriptorWhenDestroyed)
{
    const int fd = open_null();
    {
        unique_fd owner(fd);
        EXPECT_TRUE(owner);
        EXPECT_EQ(owner.get(), fd);
    }
    EXPECT_FALSE(is_open_fd(fd));
}

TEST(UniqueFd, ReleaseGivesTheDescriptorUpWithoutClosingIt)
{
    const int fd = open_null();
    {
        unique_fd owner(fd);
        EXPECT_EQ(owner.release(), fd);
        EXPECT_FALSE(owner);
        EXPECT_EQ(owner.get(), -1);
    }
    EXPECT_TRUE(is_open_fd(fd));
    ::close(fd);
}

TEST(UniqueFd, MoveTransfersOwnershipAndAssignmentClosesTheOldOne)
{
    const int a = open_null();
    const int b = open_null();
    unique_fd first(a);
    unique_fd second(std::move(first));
    EXPECT_FALSE(first); // NOLINT(bugprone-use-after-move): the moved-from state is the subject
    EXPECT_EQ(second.get(), a);

    second = unique_fd(b);
    EXPECT_FALSE(is_open_fd(a));
    EXPECT_EQ(second.get(), b);
}

TEST(UniqueFd, ResetToTheSameDescriptorKeepsItOpen)
{
    const int fd = open_null();
    unique_fd owner(fd);
    owner.reset(fd);
    EXPECT_TRUE(is_open_fd(fd));
    EXPECT_EQ(owner.get(), fd);
}

TEST(UniqueFd, ClosingLeavesErrnoAsTheFailedCallSetIt)
{
    unique_fd owner(open_null());
    errno = ECONNREFUSED;
    owner.reset();
    EXPECT_EQ(errno, ECONNREFUSED);
}

} // namespace
