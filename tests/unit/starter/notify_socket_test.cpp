// SPDX-License-Identifier: MIT
#include "notify_socket.hpp"

#include <baton/notify.hpp>

#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>

namespace {

using namespace baton::starter;

std::vector<ready_message> drain_after_send(notify_socket& ns, std::string_view text)
{
    std::error_code ec;
    baton::notify::send_to(ns.address(), text, ec);
    EXPECT_FALSE(ec) << ec.message();
    pollfd p{ns.fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 2000), 1);
    return ns.drain();
}

TEST(NotifySocket, ReadyIsAttributedToTheSenderByItsCredentials)
{
    notify_socket ns;
    baton::starter::setup_error err;
    ASSERT_TRUE(ns.open(err)) << err.message;
    EXPECT_TRUE(ns.address().starts_with("@baton-start_server/"));
    const auto got = drain_after_send(ns, "STATUS=warming\nREADY=1");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].sender, ::getpid());
    EXPECT_EQ(got[0].main_pid, 0);
}

TEST(NotifySocket, MainPidIsReported)
{
    notify_socket ns;
    baton::starter::setup_error err;
    ASSERT_TRUE(ns.open(err));
    const auto got = drain_after_send(ns, "READY=1\nMAINPID=4242");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].main_pid, 4242);
}

TEST(NotifySocket, OtherStatesAreNotReady)
{
    notify_socket ns;
    baton::starter::setup_error err;
    ASSERT_TRUE(ns.open(err));
    EXPECT_TRUE(drain_after_send(ns, "STATUS=READY=1 is not a line of its own").empty());
    EXPECT_TRUE(drain_after_send(ns, "READY=0").empty());
}

TEST(NotifySocket, ParentIsReadFromProc)
{
    EXPECT_EQ(parent_of(::getpid()), ::getppid());
    EXPECT_EQ(parent_of(0), 0);
}

} // namespace
