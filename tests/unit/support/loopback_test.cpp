// SPDX-License-Identifier: MIT
#include "support/child_process.hpp"
#include "support/loopback.hpp"
#include "support/raw_http.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <optional>
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

TEST(Loopback, ReadFileReturnsTheWholeFileOrNothing)
{
    const temp_dir dir;
    std::ofstream(dir / "file", std::ios::binary) << "one\r\ntwo";

    EXPECT_EQ(read_file(dir / "file"), "one\r\ntwo");
    EXPECT_EQ(read_file(dir / "missing"), "");
}

namespace {

/// A UDP socket bound to 127.0.0.1 port 0.
unique_fd bind_udp_loopback()
{
    unique_fd fd{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0)
        return {};
    return fd;
}

} // namespace

TEST(Loopback, ConnectUdpTalksToThatPeer)
{
    const unique_fd server = bind_udp_loopback();
    ASSERT_TRUE(server.is_valid());
    const unique_fd client = connect_udp("127.0.0.1", local_port(server.get()));

    ASSERT_EQ(::send(client.get(), "ping", 4, 0), 4);
    std::string got;
    ASSERT_TRUE(receive_datagram(server.get(), got));

    EXPECT_EQ(got, "ping");
    EXPECT_THROW((void)connect_udp("localhost", 1), std::system_error); // not a numeric address
}

TEST(Loopback, ListeningSocketsOfAProcessAreListedInDescriptorOrder)
{
    const tcp_listener tcp = listen_tcp(ip_family::v4);
    const unique_fd udp = bind_udp_loopback();
    ASSERT_TRUE(udp.is_valid());
    const unique_fd tcp_again{::fcntl(tcp.fd.get(), F_DUPFD_CLOEXEC, udp.get() + 10)};
    ASSERT_TRUE(tcp_again.is_valid());
    const unique_fd connected = connect_tcp(ip_family::v4, tcp.port);   // not listening
    const unique_fd udp_connected = connect_udp("127.0.0.1", tcp.port); // connected: not listed
    std::optional<tcp_listener> v6;
    if (has_ipv6_loopback())
        v6 = listen_tcp(ip_family::v6);

    std::vector<held_socket> ours;
    for (held_socket& s : listening_sockets(::getpid()))
        if (s.fd == tcp.fd.get() || s.fd == udp.get() || s.fd == tcp_again.get() ||
            s.fd == connected.get() || s.fd == udp_connected.get() || (v6 && s.fd == v6->fd.get()))
            ours.push_back(std::move(s));

    ASSERT_EQ(ours.size(), v6 ? 4U : 3U);
    for (std::size_t i = 1; i < ours.size(); ++i)
        EXPECT_LT(ours[i - 1].fd, ours[i].fd);
    for (const held_socket& s : ours) {
        if (s.fd == tcp.fd.get() || s.fd == tcp_again.get()) {
            EXPECT_FALSE(s.is_udp);
            EXPECT_EQ(s.family, ip_family::v4);
            EXPECT_EQ(s.host, "127.0.0.1");
            EXPECT_EQ(s.port, tcp.port);
        } else if (s.fd == udp.get()) {
            EXPECT_TRUE(s.is_udp);
            EXPECT_EQ(s.family, ip_family::v4);
            EXPECT_EQ(s.host, "127.0.0.1");
            EXPECT_EQ(s.port, local_port(udp.get()));
        } else {
            ASSERT_TRUE(v6 && s.fd == v6->fd.get()) << "fd " << s.fd << " is not listening";
            EXPECT_FALSE(s.is_udp);
            EXPECT_EQ(s.family, ip_family::v6);
            EXPECT_EQ(s.host, "::1");
            EXPECT_EQ(s.port, v6->port);
        }
    }
}

TEST(Loopback, HeldSocketPrintsAsFdProtocolAndAddress)
{
    std::ostringstream os;
    os << held_socket{.fd = 3,
                      .family = ip_family::v4,
                      .is_udp = false,
                      .host = "127.0.0.1",
                      .port = 8080}
       << ' '
       << held_socket{.fd = 4, .family = ip_family::v6, .is_udp = true, .host = "::1", .port = 53};

    EXPECT_EQ(os.str(), "fd 3: tcp 127.0.0.1:8080 fd 4: udp [::1]:53");
}

TEST(Loopback, NoProcessHoldsNoSockets)
{
    EXPECT_TRUE(listening_sockets(-1).empty());
    EXPECT_TRUE(wait_for_listening_sockets(-1, 1, 0ms).empty());
}
