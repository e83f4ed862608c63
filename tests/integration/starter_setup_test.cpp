// SPDX-License-Identifier: MIT
// start_server set-up: bad input, every kind of socket, environment, files, daemonize, systemd.
#include "starter_harness.hpp"

#include <set>

namespace {

using namespace starter_test;

std::string dump_line(const std::string& dump, const std::string& prefix)
{
    std::istringstream in(dump);
    for (std::string l; std::getline(in, l);)
        if (l.starts_with(prefix))
            return l;
    return "";
}

struct StarterSetup : ::testing::Test {
    temp_dir dir;
    std::string marker = dir / "dump";

    // The worker part of a command line; the worker writes marker.<gen> when it runs.
    std::vector<std::string> worker_argv() const { return {"--", worker(), "--dump-env", marker}; }

    std::vector<std::string> cmd(std::vector<std::string> opts) const
    {
        opts.insert(opts.begin(), bin("start_server"));
        const auto w = worker_argv();
        opts.insert(opts.end(), w.begin(), w.end());
        return opts;
    }

    std::string dump(int gen)
    {
        const std::string path = marker + "." + std::to_string(gen);
        if (!wait_until([&] { return exists(path); }))
            return "";
        return read_file(path);
    }
};

TEST_F(StarterSetup, BadInputFailsWithOneLineAndSpawnsNothing)
{
    // a taken port, and a locked pid file held by a real start_server
    const int taken = free_port();
    const int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<std::uint16_t>(taken));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
    ASSERT_EQ(::listen(holder, 1), 0);
    const std::string locked = dir / "locked.pid";
    process first({bin("start_server"), "--pid-file=" + locked, "--", worker()}, dir / "first.log");
    ASSERT_TRUE(wait_until([&] { return first.logged("starting new worker"); }));
    const std::string sock = dir / "s.sock";
    ASSERT_TRUE(
        wait_until([&] { return read_file(locked) == std::to_string(first.pid()) + "\n"; }));

    struct bad_case {
        std::vector<std::string> opts;
        std::string line;
        int code;
    };

    const std::vector<bad_case> cases{
        {{"--bogus"}, "Unknown option: bogus", 1},
        {{"--p=1"}, "Option p is ambiguous (path, pid-file, port)", 1},
        {{"--interval=soon"}, "Value \"soon\" invalid for option interval (number expected)", 1},
        {{"--daemonize"},
         "Usage: --log-file option must be specified together with --deamonize",
         1},
        {{"--signal-on-hup=FOO"},
         "start_server: unknown signal name \"FOO\" for --signal-on-hup",
         1},
        {{"--signal-on-term=SIGNOPE"},
         "start_server: unknown signal name \"NOPE\" for --signal-on-term",
         1},
        {{"--port=80x"}, "invalid ``port'' value:80x", 2},
        {{"--port=[::1]:99999"}, "invalid ``port'' value:[::1]:99999", 2},
        {{"--path=" + sock, "--port=127.0.0.1:" + std::to_string(taken)},
         "failed to bind to 127.0.0.1:" + std::to_string(taken) + ":Address already in use",
         2},
        {{"--path=" + sock, "--pid-file=" + dir / "no/such/dir/pid"},
         "failed to open file:" + dir / "no/such/dir/pid" + ": No such file or directory",
         2},
        {{"--path=" + sock, "--pid-file=" + locked},
         "pid file " + locked + " is locked by another start_server (pid " +
             std::to_string(first.pid()) + ")",
         2},
        {{"--log-file=" + dir / "no/such/dir/log"},
         "failed to open log file:" + dir / "no/such/dir/log" + ": No such file or directory",
         2},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        process p(cmd(c.opts), dir / ("bad" + std::to_string(i) + ".log"));
        EXPECT_EQ(p.exit_code(), c.code) << c.line;
        EXPECT_EQ(last_line(p.log()), c.line);
        EXPECT_FALSE(p.logged("starting new worker")) << c.line;
        EXPECT_FALSE(exists(sock)) << c.line << ": socket file left behind";
    }
    {
        process p({bin("start_server"), "--port=8080"}, dir / "noprog.log");
        EXPECT_EQ(p.exit_code(), 1);
        EXPECT_EQ(last_line(p.log()), "server program not specified");
    }
    EXPECT_FALSE(exists(marker + ".1")); // no worker from any bad invocation
    EXPECT_EQ(read_file(locked), std::to_string(first.pid()) + "\n"); // not clobbered
    ::close(holder);
}

TEST_F(StarterSetup, EverySocketKindIsHandedOnInCommandLineOrder)
{
    const int v4 = free_port();
    const int v6 = free_port(AF_INET6);
    const int udp = free_port(AF_INET, SOCK_DGRAM);
    const int pinned = free_port();
    const std::string sock = dir / "s.sock";
    process s(cmd({"--port=127.0.0.1:" + std::to_string(v4), "--path=" + sock,
                   "--port=[::1]:" + std::to_string(v6), "--port=127.0.0.1:u" + std::to_string(udp),
                   "--port=127.0.0.1:" + std::to_string(pinned) + "=9"}),
              dir / "log");
    const std::string d = dump(1);
    ASSERT_FALSE(d.empty()) << s.log();
    const std::string env = dump_line(d, "env SERVER_STARTER_PORT=");
    const auto at = [&](const std::string& key) { return env.find(key); };
    ASSERT_NE(at("127.0.0.1:" + std::to_string(v4) + "="), std::string::npos) << env;
    EXPECT_LT(at("127.0.0.1:" + std::to_string(v4) + "="), at("[::1]:" + std::to_string(v6) + "="));
    EXPECT_LT(at("[::1]:" + std::to_string(v6) + "="),
              at("127.0.0.1:" + std::to_string(udp) + "="));
    EXPECT_NE(at("127.0.0.1:" + std::to_string(pinned) + "=9;"), std::string::npos) << env;
    EXPECT_NE(at(";" + sock + "="), std::string::npos) << env; // paths come last
    EXPECT_TRUE(s.logged("socket is duplicated to file descriptor 9"));
    EXPECT_EQ(generation_of(ask(v4)), 1);
    EXPECT_EQ(generation_of(ask(v6, AF_INET6)), 1);
    EXPECT_EQ(generation_of(ask_udp(udp)), 1);
    EXPECT_EQ(generation_of(ask(pinned)), 1);
    EXPECT_EQ(generation_of(ask_unix(sock)), 1);
    EXPECT_NE(d.find("fd 9 stream"), std::string::npos);
    s.signal(SIGTERM);
    EXPECT_EQ(s.exit_code(), 0);
    EXPECT_FALSE(exists(sock)); // the socket file it created is removed
}

TEST_F(StarterSetup, SocketPinnedToDescriptorZeroIsStdin)
{
    const int port = free_port();
    process s(cmd({"--port=127.0.0.1:" + std::to_string(port) + "=0"}), dir / "log");
    const std::string d = dump(1);
    ASSERT_FALSE(d.empty()) << s.log();
    EXPECT_EQ(dump_line(d, "env SERVER_STARTER_PORT="),
              "env SERVER_STARTER_PORT=127.0.0.1:" + std::to_string(port) + "=0");
    EXPECT_NE(d.find("fd 0 stream"), std::string::npos);
    EXPECT_EQ(generation_of(ask(port)), 1);
}

TEST_F(StarterSetup, WorkersGetTheEnvironmentServerStarterGives)
{
    const int port = free_port();
    const std::string envdir = dir / "env";
    const std::string work = dir / "work";
    ASSERT_EQ(::mkdir(envdir.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(work.c_str(), 0755), 0);
    std::ofstream(envdir + "/FOO") << "one\nignored second line\n";
    std::ofstream(envdir + "/.hidden") << "x\n";
    process s(cmd({"--port=127.0.0.1:" + std::to_string(port), "--interval=0", "--dir=" + work,
                   "--envdir=" + envdir, "--kill-old-delay=0", "--auto-restart-interval=100"}),
              dir / "log", {"NOTIFY_SOCKET=/nonexistent/systemd-notify", "KEPT=yes"});
    std::string d = dump(1);
    ASSERT_FALSE(d.empty()) << s.log();
    EXPECT_EQ(dump_line(d, "env SERVER_STARTER_GENERATION="), "env SERVER_STARTER_GENERATION=1");
    EXPECT_EQ(dump_line(d, "env FOO="), "env FOO=one");
    EXPECT_EQ(dump_line(d, "env .hidden"), "");
    EXPECT_EQ(dump_line(d, "env ENVDIR="), "env ENVDIR=" + envdir);
    EXPECT_EQ(dump_line(d, "env KILL_OLD_DELAY="), "env KILL_OLD_DELAY=0");
    EXPECT_EQ(dump_line(d, "env AUTO_RESTART_INTERVAL="), "env AUTO_RESTART_INTERVAL=100");
    EXPECT_EQ(dump_line(d, "env ENABLE_AUTO_RESTART="), "");
    EXPECT_EQ(dump_line(d, "env KEPT="), "env KEPT=yes");
    EXPECT_EQ(dump_line(d, "env NOTIFY_SOCKET="), ""); // systemd's socket is not passed on
    EXPECT_EQ(dump_line(d, "cwd "), "cwd " + work);
    EXPECT_EQ(dump_line(d, "sigpipe "), "sigpipe default");

    // the envdir is re-read for every spawn: change, add, remove
    std::ofstream(envdir + "/FOO") << "two\n";
    std::ofstream(envdir + "/BAR") << "bar \n";
    s.signal(SIGHUP);
    d = dump(2);
    EXPECT_EQ(dump_line(d, "env FOO="), "env FOO=two");
    EXPECT_EQ(dump_line(d, "env BAR="), "env BAR=bar "); // trailing space kept, as Perl's chomp
    ASSERT_EQ(::unlink((envdir + "/FOO").c_str()), 0);
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 2; }));
    s.signal(SIGHUP);
    d = dump(3);
    EXPECT_EQ(dump_line(d, "env FOO="), "");
    EXPECT_EQ(dump_line(d, "env BAR="), "env BAR=bar ");
}

TEST_F(StarterSetup, WorkersInheritNoDescriptorButStdioAndTheSockets)
{
    const int port = free_port();
    const std::string sock = dir / "s.sock";
    // every descriptor start_server opens itself: pid file, status file, log pipe, notify
    // socket, signalfd; the harness starts it with nothing open beyond 0, 1 and 2
    process s(cmd({"--port=127.0.0.1:" + std::to_string(port), "--port=127.0.0.1:0=7",
                   "--path=" + sock, "--pid-file=" + dir / "pid", "--status-file=" + dir / "status",
                   "--log-file=| cat >> " + dir / "piped.log", "--readiness=notify",
                   "--ready-timeout=5"}),
              dir / "log");
    const std::string d = dump(1);
    ASSERT_FALSE(d.empty()) << read_file(dir / "piped.log");
    std::set<int> expected{0, 1, 2, 7};
    std::istringstream in(d);
    for (std::string l; std::getline(in, l);)
        if (l.starts_with("fd "))
            expected.insert(std::atoi(l.c_str() + 3));
    std::string want = "open";
    for (int fd : expected)
        want += " " + std::to_string(fd);
    EXPECT_EQ(dump_line(d, "open"), want);
    EXPECT_EQ(expected.size(), 6u) << d;
}

std::vector<pid_t> children_of(pid_t pid)
{
    std::istringstream in(
        read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children"));
    std::vector<pid_t> out;
    for (long c = 0; in >> c;)
        out.push_back(static_cast<pid_t>(c));
    return out;
}

char state_of(pid_t pid)
{
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

TEST_F(StarterSetup, AsPidOneItReapsReparentedOrphans)
{
    if (std::system("unshare -fp --mount-proc true >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "cannot create a pid namespace here";
    const int port = free_port();
    // The worker leaves an orphan behind (a background sleep whose parent exits at once):
    // in the namespace it is reparented to start_server, PID 1, which must reap it.
    process s({"/usr/bin/unshare", "-fp", "--mount-proc", bin("start_server"),
               "--port=127.0.0.1:" + std::to_string(port), "--interval=0", "--", "/bin/sh", "-c",
               "(/bin/sleep 1 &) ; exec " + worker()},
              dir / "log");
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 1; })) << s.log();
    pid_t starter = 0;
    ASSERT_TRUE(wait_until([&] {
        const auto kids = children_of(s.pid());
        starter = kids.size() == 1 ? kids[0] : 0;
        return starter > 0;
    }));
    // The orphaned sleep becomes start_server's child, then exits: it must be reaped (an
    // unreaped orphan would stay a zombie child of start_server).
    ASSERT_TRUE(wait_until([&] { return children_of(starter).size() == 2; }))
        << "the orphan was never reparented to start_server";
    ASSERT_TRUE(wait_until([&] {
        const auto kids = children_of(starter);
        return kids.size() == 1 && state_of(kids[0]) != 'Z';
    }));
    EXPECT_EQ(generation_of(ask(port)), 1);
    ::kill(starter, SIGTERM);
    EXPECT_EQ(s.exit_code(), 0) << s.log();
    EXPECT_EQ(last_line(s.log()), "exiting");
}

TEST_F(StarterSetup, PathNeverDeletesARegularFile)
{
    const std::string file = dir / "precious";
    std::ofstream(file) << "data\n";
    process s(cmd({"--path=" + file}), dir / "log");
    EXPECT_EQ(s.exit_code(), 2);
    EXPECT_NE(last_line(s.log()).find("failed to listen to file " + file), std::string::npos);
    EXPECT_EQ(read_file(file), "data\n");
}

TEST_F(StarterSetup, StaleSocketFileIsReplaced)
{
    const std::string sock = dir / "s.sock";
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::strncpy(sun.sun_path, sock.c_str(), sizeof sun.sun_path - 1);
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
        ::close(fd);
    }
    process s(cmd({"--path=" + sock}), dir / "log");
    ASSERT_TRUE(wait_until([&] { return generation_of(ask_unix(sock)) == 1; })) << s.log();
    EXPECT_TRUE(s.logged("removing existing socket file:" + sock));
}

TEST_F(StarterSetup, PidFileHoldsThePidWhileRunningAndIsRemovedAtExit)
{
    const std::string pid = dir / "pid";
    process s(cmd({"--pid-file=" + pid}), dir / "log");
    ASSERT_TRUE(wait_until([&] { return read_file(pid) == std::to_string(s.pid()) + "\n"; }));
    ASSERT_FALSE(dump(1).empty());
    s.signal(SIGINT);
    EXPECT_EQ(s.exit_code(), 0);
    EXPECT_TRUE(s.logged("received INT, sending TERM to all workers:"));
    EXPECT_FALSE(exists(pid));
}

TEST_F(StarterSetup, QuitUsr1AndUsr2NeverOrphanWorkers)
{
    process s(cmd({}), dir / "log");
    ASSERT_FALSE(dump(1).empty());
    s.signal(SIGUSR1);
    s.signal(SIGUSR2);
    ASSERT_TRUE(wait_until([&] { return s.logged("received USR2, ignored"); })) << s.log();
    EXPECT_TRUE(is_alive(s.pid()));
    s.signal(SIGQUIT);
    EXPECT_EQ(s.exit_code(), 0) << s.log();
    EXPECT_TRUE(s.logged("received QUIT, sending TERM to all workers:"));
    EXPECT_TRUE(s.logged("died, status:0"));
}

TEST_F(StarterSetup, DaemonizeWritesToTheLogFileAndThePidFile)
{
    const int port = free_port();
    const std::string pid = dir / "pid";
    const std::string log = dir / "daemon.log";
    process s(cmd({"--daemonize", "--log-file=" + log, "--pid-file=" + pid,
                   "--port=127.0.0.1:" + std::to_string(port)}),
              dir / "log");
    EXPECT_EQ(s.exit_code(), 0) << s.log(); // the foreground parent returns at once
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 1; })) << read_file(log);
    const pid_t daemon = static_cast<pid_t>(std::atol(read_file(pid).c_str()));
    ASSERT_GT(daemon, 1);
    EXPECT_NE(daemon, s.pid());
    ASSERT_TRUE(wait_until(
        [&] { return read_file(log).find("starting new worker") != std::string::npos; }));
    // a second daemonizing instance fails in the foreground
    process second(cmd({"--daemonize", "--log-file=" + dir / "second.log", "--pid-file=" + pid}),
                   dir / "second-foreground.log");
    EXPECT_EQ(second.exit_code(), 2);
    EXPECT_NE(last_line(second.log()).find("is locked by another start_server"), std::string::npos)
        << second.log();
    EXPECT_EQ(read_file(pid), std::to_string(daemon) + "\n");
    ::kill(daemon, SIGTERM);
    EXPECT_TRUE(wait_until([&] { return !exists(pid); })) << read_file(log);
    EXPECT_TRUE(wait_until([&] { return read_file(log).find("exiting") != std::string::npos; }));
}

TEST_F(StarterSetup, LogFileCanBeAPipeToACommand)
{
    const int port = free_port();
    const std::string pid = dir / "pid";
    const std::string piped = dir / "piped.log";
    process s(cmd({"--daemonize", "--log-file=| cat >> " + piped, "--pid-file=" + pid,
                   "--port=127.0.0.1:" + std::to_string(port)}),
              dir / "log");
    EXPECT_EQ(s.exit_code(), 0) << s.log();
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 1; }));
    ASSERT_TRUE(wait_until(
        [&] { return read_file(piped).find("starting new worker") != std::string::npos; }));
    const pid_t daemon = static_cast<pid_t>(std::atol(read_file(pid).c_str()));
    ASSERT_GT(daemon, 1);
    ::kill(daemon, SIGTERM);
    EXPECT_TRUE(wait_until([&] { return read_file(piped).find("exiting") != std::string::npos; }));
    EXPECT_TRUE(wait_until([&] { return !exists(pid); }));
}

TEST_F(StarterSetup, ReportsToSystemdThroughItsNotifySocket)
{
    const int port = free_port();
    const std::string addr = dir / "notify";
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, addr.c_str(), sizeof sun.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
    std::vector<std::string> got;
    const auto receive = [&] {
        char buf[512];
        const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0)
            got.emplace_back(buf, static_cast<std::size_t>(n));
        return n > 0;
    };
    process s(cmd({"--port=127.0.0.1:" + std::to_string(port), "--interval=0"}), dir / "log",
              {"NOTIFY_SOCKET=" + addr});
    ASSERT_TRUE(wait_until([&] {
        receive();
        return got.size() == 1;
    })) << s.log();
    EXPECT_EQ(got[0], "READY=1");
    EXPECT_EQ(dump_line(dump(1), "env NOTIFY_SOCKET="), "");
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        receive();
        return got.size() == 3;
    })) << s.log();
    EXPECT_TRUE(got[1].starts_with("RELOADING=1\nMONOTONIC_USEC=")) << got[1];
    EXPECT_EQ(got[2], "READY=1");
    s.signal(SIGTERM);
    ASSERT_TRUE(wait_until([&] {
        receive();
        return got.size() == 4;
    })) << s.log();
    EXPECT_EQ(got[3], "STOPPING=1");
    EXPECT_EQ(s.exit_code(), 0);
    ::close(fd);
}

TEST_F(StarterSetup, HandsOnSocketsFromSystemdSocketActivation)
{
    if (::access("/usr/bin/systemd-socket-activate", X_OK) != 0)
        GTEST_SKIP() << "systemd-socket-activate is not installed";
    const int port = free_port();
    std::vector<std::string> argv{"/usr/bin/systemd-socket-activate", "-l",
                                  "127.0.0.1:" + std::to_string(port), bin("start_server")};
    const auto w = worker_argv();
    argv.insert(argv.end(), w.begin(), w.end());
    process s(argv, dir / "log");
    // systemd-socket-activate execs start_server on the first connection, which then waits
    // in the queue for the worker.
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 1; })) << s.log();
    const std::string d = dump(1);
    EXPECT_EQ(dump_line(d, "env SERVER_STARTER_PORT="),
              "env SERVER_STARTER_PORT=127.0.0.1:" + std::to_string(port) + "=3");
    EXPECT_EQ(dump_line(d, "env LISTEN_FDS="), "");
}

} // namespace
