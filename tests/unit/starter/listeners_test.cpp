// SPDX-License-Identifier: MIT
#include "listeners.hpp" // the header under test comes first

// test support
#include "support/loopback.hpp"
#include "unit/listener/systemd_fds.hpp"

#include <baton/listener.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace bl = baton::listener;
using baton::starter::listener_socket;
using baton::starter::setup_error;
using baton::test::fd_placement;
using baton::test::systemd_env;
using baton::test::unique_fd;

bool is_cloexec(int fd)
{
    return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
}

/// Closes what bind_listeners made, whatever the test's outcome.
struct bound {
    std::vector<listener_socket> sockets;

    ~bound() { baton::starter::close_listeners(sockets); }
};

TEST(SystemdListeners, AreTheSocketsAWorkerReadsKeyedByTheirBoundAddress)
{
    baton::test::temp_dir dir;
    const auto tcp = bl::bind_address("127.0.0.1:0");
    const unique_fd tcp_guard{tcp.fd};
    const auto path = (dir / "s.sock").string();
    const auto unix_sock = bl::bind_address(path);
    const unique_fd unix_guard{unix_sock.fd};
    const fd_placement p3(3, tcp.fd);
    const fd_placement p4(4, unix_sock.fd);
    const auto env = systemd_env(2, "web:admin");

    bl::error lerr;
    const auto worker = bl::from_env(env, lerr);
    ASSERT_FALSE(lerr) << lerr.message;
    setup_error err;
    const auto got = baton::starter::systemd_listeners(env, err);
    ASSERT_FALSE(err) << err.message;
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), worker.sockets.size());
    for (std::size_t i = 0; i < got->size(); ++i) {
        EXPECT_EQ((*got)[i].fd, worker.sockets[i].fd);
        EXPECT_EQ((*got)[i].key, bl::make_key(worker.sockets[i].info));
        EXPECT_FALSE((*got)[i].socket_path); // systemd's socket files are not ours to remove
        EXPECT_FALSE(is_cloexec((*got)[i].fd)) << "workers inherit it";
    }
    EXPECT_EQ((*got)[0].key, "127.0.0.1:" + std::to_string(tcp.info.port));
    EXPECT_EQ((*got)[1].key, path);
}

TEST(SystemdListeners, NoneWhenTheVariablesAreForAnotherProcess)
{
    setup_error err;
    EXPECT_FALSE(baton::starter::systemd_listeners(
        systemd_env(1, std::nullopt, std::to_string(::getpid() + 1)), err));
    EXPECT_FALSE(err);
    EXPECT_FALSE(baton::starter::systemd_listeners(bl::env_view{}, err));
    EXPECT_FALSE(err);
}

TEST(SystemdListeners, ServerStarterPortInItsOwnEnvironmentIsNotRead)
{
    bl::env_view env;
    env.server_starter_port = "8080=3";
    setup_error err;
    EXPECT_FALSE(baton::starter::systemd_listeners(env, err));
    EXPECT_FALSE(err);

    env = systemd_env(0, std::nullopt);
    env.server_starter_port = "8080=3";
    const auto got = baton::starter::systemd_listeners(env, err);
    ASSERT_FALSE(err) << err.message;
    ASSERT_TRUE(got) << "LISTEN_FDS=0 for us: systemd passed no sockets";
    EXPECT_TRUE(got->empty());
}

TEST(SystemdListeners, MalformedVariablesAreTheErrorAWorkerGets)
{
    for (const auto& env : {systemd_env(1, "web:admin"), [] {
                                auto e = systemd_env(0, std::nullopt);
                                e.listen_fds = "two";
                                return e;
                            }()}) {
        bl::error lerr;
        bl::from_env(env, lerr);
        ASSERT_TRUE(lerr);
        setup_error err;
        EXPECT_FALSE(baton::starter::systemd_listeners(env, err));
        EXPECT_EQ(err.code, baton::starter::errc::listen_fds_invalid);
        EXPECT_EQ(err.message, lerr.message);
    }
}

TEST(SystemdListeners, ADescriptorThatIsNotASocketIsAnErrorNamingIt)
{
    const unique_fd null_fd{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
    const fd_placement p3(3, null_fd.get());
    setup_error err;
    EXPECT_FALSE(baton::starter::systemd_listeners(systemd_env(1, std::nullopt), err));
    EXPECT_EQ(err.code, baton::starter::errc::listen_fds_invalid);
    EXPECT_TRUE(err.message.starts_with("LISTEN_FDS descriptor 3 ")) << err.message;
}

TEST(SystemdListeners, AnUnnamedSocketIsNotABoundSocket)
{
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    const unique_fd a{pair[0]};
    const unique_fd b{pair[1]};
    const fd_placement p3(3, a.get());
    setup_error err;
    EXPECT_FALSE(baton::starter::systemd_listeners(systemd_env(1, std::nullopt), err));
    EXPECT_EQ(err.message, "LISTEN_FDS descriptor 3 is not a bound socket");
}

TEST(BindListeners, PortsThenPathsAreBoundKeyedAndInheritable)
{
    baton::test::temp_dir dir;
    const auto path = (dir / "s.sock").string();
    bound b;
    setup_error err;
    ASSERT_TRUE(
        baton::starter::bind_listeners({"127.0.0.1:0", "127.0.0.1:u0"}, {path}, 16, b.sockets, err))
        << err.message;
    ASSERT_EQ(b.sockets.size(), 3u);
    EXPECT_EQ(b.sockets[0].key, "127.0.0.1:0"); // as Server::Starter writes it: as typed
    EXPECT_EQ(b.sockets[1].key, "127.0.0.1:0");
    EXPECT_EQ(b.sockets[2].key, path);
    EXPECT_EQ(b.sockets[2].socket_path, path);
    const auto tcp = bl::probe_socket(b.sockets[0].fd);
    EXPECT_TRUE(tcp.is_listening);
    EXPECT_NE(tcp.port, 0);
    EXPECT_EQ(bl::probe_socket(b.sockets[1].fd).type, bl::socket_type::datagram);
    EXPECT_EQ(bl::probe_socket(b.sockets[2].fd).address, path);
    for (const auto& s : b.sockets)
        EXPECT_FALSE(is_cloexec(s.fd));

    struct stat st {};

    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0777u); // Server::Starter's socket files are mode 0777
    baton::starter::close_listeners(b.sockets);
    EXPECT_NE(::lstat(path.c_str(), &st), 0) << "the socket file it made is removed";
}

TEST(BindListeners, TakenPortFailsWithServerStarterLineAndClosesWhatItMade)
{
    const auto taken = baton::test::listen_tcp();
    std::vector<listener_socket> out;
    setup_error err;
    EXPECT_FALSE(baton::starter::bind_listeners({"127.0.0.1:0", taken.key()}, {}, 16, out, err));
    EXPECT_EQ(err.code, baton::starter::errc::bind_failed);
    EXPECT_EQ(err.message, "failed to bind to " + taken.key() + ":Address already in use");
    EXPECT_TRUE(out.empty());
}

TEST(BindListeners, ARegularFileAtAPathIsAnErrorAndIsKept)
{
    baton::test::temp_dir dir;
    const auto path = (dir / "data").string();
    std::ofstream(path) << "keep me";
    std::vector<listener_socket> out;
    setup_error err;
    EXPECT_FALSE(baton::starter::bind_listeners({}, {path}, 16, out, err));
    EXPECT_EQ(err.code, baton::starter::errc::path_not_a_socket);
    EXPECT_EQ(err.message,
              "failed to listen to file " + path + ":File exists (not a socket; not removed)");
    EXPECT_EQ(baton::test::read_file(path), "keep me");
}

TEST(BindListeners, InvalidPortIsServerStarterLine)
{
    std::vector<listener_socket> out;
    setup_error err;
    EXPECT_FALSE(baton::starter::bind_listeners({"80x"}, {}, 16, out, err));
    EXPECT_EQ(err.message, "invalid ``port'' value:80x");
}

TEST(BindListeners, ASocketIsMovedToItsFd)
{
    constexpr int target = 250;
    if (::fcntl(target, F_GETFD) != -1)
        GTEST_SKIP() << "descriptor 250 is in use here";
    bound b;
    setup_error err;
    ASSERT_TRUE(baton::starter::bind_listeners({"127.0.0.1:0=250"}, {}, 16, b.sockets, err))
        << err.message;
    ASSERT_EQ(b.sockets.size(), 1u);
    EXPECT_EQ(b.sockets[0].fd, target);
    EXPECT_TRUE(bl::probe_socket(target).is_listening);
}

TEST(PortEnvValue, WritesKeysAndDescriptorsInOrder)
{
    const std::vector<listener_socket> sockets{{5, "127.0.0.1:80", std::nullopt},
                                               {6, "/run/s.sock", "/run/s.sock"}};
    setup_error err;
    EXPECT_EQ(baton::starter::port_env_value(sockets, err), "127.0.0.1:80=5;/run/s.sock=6");
    EXPECT_FALSE(err);
}

TEST(PortEnvValue, AKeyThatCannotBeWrittenIsAnError)
{
    const std::vector<listener_socket> sockets{{5, "a;b", std::nullopt}};
    setup_error err;
    baton::starter::port_env_value(sockets, err);
    EXPECT_EQ(err.code, baton::starter::errc::port_env_invalid);
}

} // namespace
