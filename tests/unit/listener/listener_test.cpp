// SPDX-License-Identifier: MIT
#include <baton/listener.hpp> // the header under test comes first

// test support
#include "support/loopback.hpp"
#include "unit/listener/systemd_fds.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace bl = baton::listener;
using baton::test::fd_placement;
using baton::test::systemd_env;

namespace {

/// Sets (or unsets) an environment variable for the life of the guard.
class env_guard {
public:
    env_guard(const char* name, std::optional<std::string> value)
        : name_(name)
    {
        if (const char* old = std::getenv(name))
            old_ = old;
        if (value)
            ::setenv(name, value->c_str(), 1);
        else
            ::unsetenv(name);
    }

    env_guard(const env_guard&) = delete;
    env_guard& operator=(const env_guard&) = delete;

    ~env_guard()
    {
        if (old_)
            ::setenv(name_, old_->c_str(), 1);
        else
            ::unsetenv(name_);
    }

private:
    const char* name_;
    std::optional<std::string> old_;
};

/// A temporary directory, removed with its files at scope exit.
class temp_dir {
public:
    temp_dir()
    {
        char tmpl[] = "/tmp/baton-listener-XXXXXX";
        if (::mkdtemp(tmpl) != nullptr)
            path_ = tmpl;
    }

    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    ~temp_dir()
    {
        for (const auto& f : files_)
            ::unlink(f.c_str());
        ::rmdir(path_.c_str());
    }

    std::string file(const std::string& name)
    {
        files_.push_back(path_ + "/" + name);
        return files_.back();
    }

private:
    std::string path_;
    std::vector<std::string> files_;
};

bl::port_entry entry(std::string key, int fd)
{
    bl::port_entry e;
    e.key = std::move(key);
    e.fd = fd;
    return e;
}

bl::env_view starter_env(std::string value)
{
    bl::env_view env;
    env.server_starter_port = std::move(value);
    return env;
}

} // namespace

TEST(FromEnv, UnsetMeansNotUnderAStarter)
{
    bl::error err;
    auto got = bl::from_env(bl::env_view{}, err);
    EXPECT_FALSE(err);
    EXPECT_EQ(got.from, bl::source::none);
    EXPECT_FALSE(got.is_under_starter());
    EXPECT_TRUE(got.sockets.empty());
}

TEST(FromEnv, EmptyMeansAStarterWithNoSockets)
{
    auto got = [] {
        bl::error err;
        auto r = bl::from_env(starter_env(""), err);
        EXPECT_FALSE(err);
        return r;
    }();
    EXPECT_EQ(got.from, bl::source::server_starter);
    EXPECT_TRUE(got.is_under_starter());
    EXPECT_TRUE(got.sockets.empty());
}

TEST(FromEnv, IdentifiesEverySocketKindFromTheKernel)
{
    temp_dir dir;
    auto tcp4 = bl::bind_address("127.0.0.1:0");
    baton::test::unique_fd g4{tcp4.fd};
    auto unix_sock = bl::bind_address(dir.file("s.sock"));
    baton::test::unique_fd gu{unix_sock.fd};
    bl::bind_options udp_opts;
    udp_opts.is_datagram = true;
    auto udp = bl::bind_address("127.0.0.1:0", udp_opts);
    baton::test::unique_fd gd{udp.fd};
    std::optional<bl::inherited_socket> tcp6;
    bl::error err6;
    auto s6 = bl::bind_address("[::1]:0", {}, err6);
    baton::test::unique_fd g6{s6.fd};
    if (!err6)
        tcp6 = s6;

    // Perl drops the "u" of a UDP port from the key: the key says "port", the kernel says UDP
    std::vector<bl::port_entry> entries;
    entries.push_back(entry("127.0.0.1:" + std::to_string(tcp4.info.port), tcp4.fd));
    entries.push_back(entry(std::to_string(udp.info.port), udp.fd));
    if (tcp6)
        entries.push_back(entry(bl::make_key("::1", tcp6->info.port), tcp6->fd));
    entries.push_back(entry(unix_sock.info.address, unix_sock.fd));

    bl::error err;
    auto got = bl::from_env(starter_env(bl::format_port_env(entries)), err);
    ASSERT_FALSE(err) << err.message;
    ASSERT_EQ(got.sockets.size(), entries.size());
    EXPECT_EQ(got.from, bl::source::server_starter);

    const auto& t4 = got.sockets[0];
    EXPECT_EQ(t4.name, entries[0].key);
    EXPECT_EQ(t4.fd, tcp4.fd);
    EXPECT_EQ(t4.info.family, AF_INET);
    EXPECT_EQ(t4.info.type, bl::socket_type::stream);
    EXPECT_TRUE(t4.info.is_listening);

    const auto& u = got.sockets[1];
    EXPECT_EQ(u.info.type, bl::socket_type::datagram);
    EXPECT_FALSE(u.info.is_listening);
    EXPECT_EQ(u.info.address, "127.0.0.1:" + std::to_string(udp.info.port));

    std::size_t next = 2;
    if (tcp6) {
        const auto& t6 = got.sockets[next++];
        EXPECT_EQ(t6.info.family, AF_INET6);
        EXPECT_TRUE(t6.info.is_listening);
        EXPECT_EQ(t6.info.address, "[::1]:" + std::to_string(tcp6->info.port));
    }
    const auto& us = got.sockets[next];
    EXPECT_EQ(us.info.family, AF_UNIX);
    EXPECT_EQ(us.info.type, bl::socket_type::stream);
    EXPECT_TRUE(us.info.is_listening);
    EXPECT_EQ(us.name, us.info.address);
}

TEST(FromEnv, PlainFileDescriptorIsAnErrorNamingItsEntry)
{
    char path[] = "/tmp/baton-listener-file-XXXXXX";
    baton::test::unique_fd f{::mkstemp(path)};
    ASSERT_GE(f.get(), 0);
    ::unlink(path);
    auto sock = bl::bind_address("127.0.0.1:0");
    baton::test::unique_fd gs{sock.fd};
    const std::string value =
        "8080=" + std::to_string(sock.fd) + ";9090=" + std::to_string(f.get());
    bl::error err;
    auto got = bl::from_env(starter_env(value), err);
    EXPECT_EQ(err.code, bl::errc::not_a_socket);
    EXPECT_EQ(err.message, "SERVER_STARTER_PORT entry 2 \"9090=" + std::to_string(f.get()) +
                               "\": descriptor " + std::to_string(f.get()) +
                               " is not a socket (it is a regular file)");
    EXPECT_TRUE(got.sockets.empty());
}

TEST(FromEnv, MalformedValueIsAnError)
{
    bl::error err;
    bl::from_env(starter_env("8080=3;;"), err);
    EXPECT_EQ(err.code, bl::errc::empty_entry);
}

TEST(FromEnv, ServerStarterPortWinsOverListenFds)
{
    auto env = systemd_env(1, std::nullopt);
    env.server_starter_port = "";
    bl::error err;
    auto got = bl::from_env(env, err);
    EXPECT_FALSE(err);
    EXPECT_EQ(got.from, bl::source::server_starter);
}

TEST(FromEnv, ListenFdsForAnotherPidIsIgnored)
{
    bl::error err;
    auto got = bl::from_env(systemd_env(2, "a:b", std::to_string(::getpid() + 1)), err);
    EXPECT_FALSE(err);
    EXPECT_EQ(got.from, bl::source::none);
    got = bl::from_env(systemd_env(2, "a:b", "not-a-pid"), err);
    EXPECT_EQ(got.from, bl::source::none);
    auto env = systemd_env(2, "a:b");
    env.listen_pid.reset();
    got = bl::from_env(env, err);
    EXPECT_EQ(got.from, bl::source::none);
}

TEST(FromEnv, ListenFdsNamesComeThrough)
{
    auto web = bl::bind_address("127.0.0.1:0");
    baton::test::unique_fd gw{web.fd};
    bl::bind_options udp_opts;
    udp_opts.is_datagram = true;
    auto dns = bl::bind_address("127.0.0.1:0", udp_opts);
    baton::test::unique_fd gd{dns.fd};
    fd_placement p3(3, web.fd);
    fd_placement p4(4, dns.fd);

    bl::error err;
    auto got = bl::from_env(systemd_env(2, "web:dns"), err);
    ASSERT_FALSE(err) << err.message;
    EXPECT_EQ(got.from, bl::source::systemd);
    ASSERT_EQ(got.sockets.size(), 2u);
    EXPECT_EQ(got.sockets[0].name, "web");
    EXPECT_EQ(got.sockets[0].fd, 3);
    EXPECT_TRUE(got.sockets[0].info.is_listening);
    EXPECT_EQ(got.sockets[0].info.port, web.info.port);
    EXPECT_EQ(got.sockets[1].name, "dns");
    EXPECT_EQ(got.sockets[1].fd, 4);
    EXPECT_EQ(got.sockets[1].info.type, bl::socket_type::datagram);

    got = bl::from_env(systemd_env(2, std::nullopt), err);
    ASSERT_FALSE(err) << err.message;
    EXPECT_EQ(got.sockets[0].name, "unknown");
}

TEST(FromEnv, ListenFdsMalformedIsAnError)
{
    bl::error err;
    auto env = systemd_env(0, std::nullopt);
    env.listen_fds = "two";
    bl::from_env(env, err);
    EXPECT_EQ(err.code, bl::errc::invalid_listen_fds);
    EXPECT_EQ(err.message, "LISTEN_FDS \"two\" is not a non-negative decimal number");

    bl::from_env(systemd_env(0, "a:b"), err);
    EXPECT_EQ(err.code, bl::errc::invalid_listen_fds);
}

TEST(FromEnv, ReadsTheProcessEnvironment)
{
    auto sock = bl::bind_address("127.0.0.1:0");
    baton::test::unique_fd gs{sock.fd};
    env_guard port("SERVER_STARTER_PORT", "127.0.0.1:1=" + std::to_string(sock.fd));
    auto got = bl::from_env();
    ASSERT_EQ(got.sockets.size(), 1u);
    EXPECT_EQ(got.sockets[0].fd, sock.fd);
}

TEST(Generation, ReadsServerStarterGeneration)
{
    {
        env_guard g("SERVER_STARTER_GENERATION", "7");
        EXPECT_EQ(bl::generation(), 7ul);
    }
    {
        env_guard g("SERVER_STARTER_GENERATION", "x7");
        EXPECT_EQ(bl::generation(), std::nullopt);
    }
    env_guard g("SERVER_STARTER_GENERATION", std::nullopt);
    EXPECT_EQ(bl::generation(), std::nullopt);
}

TEST(ListenOrInherit, BindsTheFallbackWhenNotUnderAStarter)
{
    env_guard a("SERVER_STARTER_PORT", std::nullopt);
    env_guard b("LISTEN_FDS", std::nullopt);
    auto got = bl::listen_or_inherit("127.0.0.1:0");
    ASSERT_EQ(got.sockets.size(), 1u);
    baton::test::unique_fd g{got.sockets[0].fd};
    EXPECT_EQ(got.from, bl::source::none);
    EXPECT_TRUE(got.sockets[0].info.is_listening);
    EXPECT_NE(got.sockets[0].info.port, 0);
    EXPECT_EQ(::fcntl(got.sockets[0].fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(ListenOrInherit, InheritsWhenUnderAStarter)
{
    auto sock = bl::bind_address("127.0.0.1:0");
    baton::test::unique_fd gs{sock.fd};
    env_guard a("SERVER_STARTER_PORT", "x:1=" + std::to_string(sock.fd));
    auto got = bl::listen_or_inherit("127.0.0.1:0");
    ASSERT_EQ(got.sockets.size(), 1u);
    EXPECT_EQ(got.from, bl::source::server_starter);
    EXPECT_EQ(got.sockets[0].fd, sock.fd);
}

TEST(ListenOrInherit, StarterWithNoSocketsBindsNothing)
{
    env_guard a("SERVER_STARTER_PORT", "");
    auto got = bl::listen_or_inherit("127.0.0.1:0");
    EXPECT_TRUE(got.is_under_starter());
    EXPECT_TRUE(got.sockets.empty());
}

TEST(BindAddress, TakenPortIsAClearSystemError)
{
    auto first = bl::bind_address("127.0.0.1:0");
    baton::test::unique_fd g{first.fd};
    const std::string address = "127.0.0.1:" + std::to_string(first.info.port);
    bl::error err;
    auto second = bl::bind_address(address, {}, err);
    EXPECT_EQ(second.fd, -1);
    EXPECT_EQ(err.code, std::errc::address_in_use);
    EXPECT_EQ(err.message, "unable to bind " + address + ": " + err.code.message());
}

TEST(BindAddress, ReplacesAStaleUnixSocketButNeverARegularFile)
{
    temp_dir dir;
    const auto path = dir.file("app.sock");
    {
        auto stale = bl::bind_address(path);
        ::close(stale.fd);
    }
    auto again = bl::bind_address(path);
    baton::test::unique_fd g{again.fd};
    EXPECT_TRUE(again.info.is_listening);

    const auto file = dir.file("data.txt");
    baton::test::unique_fd f{::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600)};
    bl::error err;
    bl::bind_address(file, {}, err);
    EXPECT_EQ(err.code, bl::errc::invalid_address);

    struct stat st {};

    EXPECT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(BindAddress, BindsIpv6WithV6Only)
{
    bl::error err;
    auto s = bl::bind_address("[::1]:0", {}, err);
    if (err)
        GTEST_SKIP() << err.message;
    baton::test::unique_fd g{s.fd};
    int v6only = 0;
    socklen_t len = sizeof v6only;
    ASSERT_EQ(::getsockopt(s.fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
    EXPECT_EQ(v6only, 1);
    EXPECT_EQ(s.info.family, AF_INET6);
}

TEST(BindAddress, UnparsableAddressIsRejected)
{
    bl::error err;
    bl::bind_address("[::1:80", {}, err);
    EXPECT_EQ(err.code, bl::errc::invalid_address);
    bl::bind_address("no-such-host.invalid:80", {}, err);
    EXPECT_EQ(err.code, bl::errc::invalid_address);
    EXPECT_THROW(bl::bind_address("[::1:80"), bl::listener_error);
}
