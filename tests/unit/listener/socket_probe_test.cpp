// SPDX-License-Identifier: MIT
#include <baton/listener.hpp> // the header under test comes first

// test support
#include "support/loopback.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace bl = baton::listener;

namespace {

/// A descriptor closed at scope exit.
int inet_socket(int family, int type, bool do_listen)
{
    int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (family == AF_INET) {
        auto& sin = reinterpret_cast<sockaddr_in&>(ss);
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof sin;
    } else {
        auto& sin6 = reinterpret_cast<sockaddr_in6&>(ss);
        sin6.sin6_family = AF_INET6;
        sin6.sin6_addr = in6addr_loopback;
        len = sizeof sin6;
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
        (do_listen && ::listen(fd, 16) != 0)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

} // namespace

TEST(SocketProbe, IdentifiesListeningTcpOnIpv4Loopback)
{
    baton::test::unique_fd s{inet_socket(AF_INET, SOCK_STREAM, true)};
    ASSERT_GE(s.get(), 0);
    auto info = bl::probe_socket(s.get());
    EXPECT_EQ(info.family, AF_INET);
    EXPECT_EQ(info.type, bl::socket_type::stream);
    EXPECT_TRUE(info.is_listening);
    EXPECT_NE(info.port, 0);
    EXPECT_EQ(info.address, "127.0.0.1:" + std::to_string(info.port));
}

TEST(SocketProbe, IdentifiesListeningTcpOnIpv6Loopback)
{
    baton::test::unique_fd s{inet_socket(AF_INET6, SOCK_STREAM, true)};
    if (s.get() < 0)
        GTEST_SKIP() << "no IPv6 loopback here";
    auto info = bl::probe_socket(s.get());
    EXPECT_EQ(info.family, AF_INET6);
    EXPECT_EQ(info.type, bl::socket_type::stream);
    EXPECT_TRUE(info.is_listening);
    EXPECT_EQ(info.address, "[::1]:" + std::to_string(info.port));
}

TEST(SocketProbe, BoundButNotListeningIsReportedSo)
{
    baton::test::unique_fd s{inet_socket(AF_INET, SOCK_STREAM, false)};
    ASSERT_GE(s.get(), 0);
    EXPECT_FALSE(bl::probe_socket(s.get()).is_listening);
}

TEST(SocketProbe, IdentifiesUdpSocket)
{
    baton::test::unique_fd s{inet_socket(AF_INET, SOCK_DGRAM, false)};
    ASSERT_GE(s.get(), 0);
    auto info = bl::probe_socket(s.get());
    EXPECT_EQ(info.type, bl::socket_type::datagram);
    EXPECT_FALSE(info.is_listening);
    EXPECT_EQ(info.family, AF_INET);
}

TEST(SocketProbe, IdentifiesUnixStreamSocketByPath)
{
    char dir[] = "/tmp/baton-probe-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/s.sock";
    baton::test::unique_fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
    ASSERT_EQ(::listen(s.get(), 4), 0);
    auto info = bl::probe_socket(s.get());
    EXPECT_EQ(info.family, AF_UNIX);
    EXPECT_EQ(info.type, bl::socket_type::stream);
    EXPECT_TRUE(info.is_listening);
    EXPECT_EQ(info.address, path);
    ::unlink(path.c_str());
    ::rmdir(dir);
}

TEST(SocketProbe, ShowsAbstractUnixNameWithAt)
{
    baton::test::unique_fd s{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    const std::string name = "baton-probe-" + std::to_string(::getpid());
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path + 1, name.data(), name.size());
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&sun), len), 0);
    auto info = bl::probe_socket(s.get());
    EXPECT_EQ(info.address, "@" + name);
    EXPECT_EQ(info.type, bl::socket_type::datagram);
}

TEST(SocketProbe, PlainFileIsNotASocket)
{
    char path[] = "/tmp/baton-probe-file-XXXXXX";
    baton::test::unique_fd f{::mkstemp(path)};
    ASSERT_GE(f.get(), 0);
    ::unlink(path);
    bl::error err;
    bl::probe_socket(f.get(), err);
    EXPECT_EQ(err.code, bl::errc::not_a_socket);
    EXPECT_EQ(err.message,
              "descriptor " + std::to_string(f.get()) + " is not a socket (it is a regular file)");
    EXPECT_THROW(bl::probe_socket(f.get()), bl::listener_error);
}

TEST(SocketProbe, PipeIsNotASocket)
{
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    baton::test::unique_fd r{p[0]}, w{p[1]};
    bl::error err;
    bl::probe_socket(r.get(), err);
    EXPECT_EQ(err.code, bl::errc::not_a_socket);
    EXPECT_NE(err.message.find("a pipe"), std::string::npos) << err.message;
}

TEST(SocketProbe, ClosedDescriptorIsNotOpen)
{
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::close(fd);
    bl::error err;
    bl::probe_socket(fd, err);
    EXPECT_EQ(err.code, bl::errc::not_a_socket);
    EXPECT_EQ(err.message, "descriptor " + std::to_string(fd) + " is not open");
}
