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

// ---------------------------------------------------------------------------------------------
// loopback

TEST(Loopback, ListenTcpReadsBackKernelChosenPort)
{
    const tcp_listener listener = listen_tcp(ip_family::v4);

    ASSERT_NE(listener.port, 0);
    EXPECT_EQ(listener.key(), "127.0.0.1:" + std::to_string(listener.port));
    const unique_fd client = connect_tcp(ip_family::v4, listener.port);
    EXPECT_TRUE(accept_connection(listener.fd.get()).is_valid());
}

TEST(Loopback, ListenTcpOnIpv6Loopback)
{
    if (!has_ipv6_loopback())
        GTEST_SKIP() << "no IPv6 loopback here";
    const tcp_listener listener = listen_tcp(ip_family::v6);

    EXPECT_EQ(listener.key(), "[::1]:" + std::to_string(listener.port));
    const unique_fd client = connect_tcp("::1", listener.port);
    EXPECT_TRUE(accept_connection(listener.fd.get()).is_valid());
}

TEST(Loopback, ConnectToClosedPortIsRefused)
{
    std::uint16_t port = 0;
    {
        port = listen_tcp().port;
    }
    std::error_code ec;

    const unique_fd fd = connect_tcp("127.0.0.1", port, ec);

    EXPECT_FALSE(fd.is_valid());
    EXPECT_EQ(ec, std::errc::connection_refused);
}

TEST(Loopback, UnixListenerAcceptsConnection)
{
    const temp_dir dir;
    const unique_fd listener = listen_unix(dir / "app.sock");

    const unique_fd client = connect_unix(dir / "app.sock");

    EXPECT_TRUE(accept_connection(listener.get()).is_valid());
}

TEST(Loopback, TempDirIsRemovedWithItsContents)
{
    std::filesystem::path path;
    {
        const temp_dir dir;
        path = dir.path();
        std::ofstream(dir / "file") << "x";
        std::filesystem::create_directory(dir / "sub");
        ASSERT_TRUE(std::filesystem::exists(dir / "file"));
    }
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Loopback, BinDirHoldsFixturePrograms)
{
    EXPECT_TRUE(std::filesystem::is_directory(bin_dir()));
    EXPECT_NO_THROW((void)fixture_program("echo_pid_worker"));
    EXPECT_THROW((void)fixture_program("no_such_worker"), std::runtime_error);
}
