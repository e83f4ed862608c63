// SPDX-License-Identifier: MIT
#include "notify_socket.hpp"
#include "support/loopback.hpp"

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

/// What a receiver bound at a fresh abstract name gets from tell_systemd(state).
std::string received_from_tell_systemd(std::string_view state)
{
    const std::string address = baton::test::unique_abstract_name();
    const auto receiver = baton::test::bind_unix_datagram(address);
    EXPECT_TRUE(tell_systemd(address, state));
    std::string got;
    EXPECT_TRUE(baton::test::receive_datagram(receiver.get(), got));
    return got;
}

TEST(TellSystemd, SendsTheStateVerbatim)
{
    EXPECT_EQ(received_from_tell_systemd("READY=1\nSTATUS=serving"), "READY=1\nSTATUS=serving");
}

TEST(TellSystemd, ReloadingGoesWithTheMonotonicTime)
{
    const std::string got = received_from_tell_systemd("RELOADING=1");
    constexpr std::string_view prefix = "RELOADING=1\nMONOTONIC_USEC=";
    ASSERT_TRUE(got.starts_with(prefix)) << got;
    EXPECT_GT(std::stoull(got.substr(prefix.size())), 0u);
}

TEST(TellSystemd, UnusableAddressIsFalse)
{
    EXPECT_FALSE(tell_systemd("relative/notify", "READY=1"));
    EXPECT_FALSE(tell_systemd(baton::test::unique_abstract_name(), "READY=1")); // nobody bound
}

TEST(NotifySocket, ParentIsReadFromProc)
{
    EXPECT_EQ(parent_of(::getpid()), ::getppid());
    EXPECT_EQ(parent_of(0), 0);
}

} // namespace
