// SPDX-License-Identifier: MIT
// start_server set-up: bad input, every kind of socket, environment, files, daemonize, systemd.
#include "starter_harness.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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
    std::string marker = (dir / "dump").string();

    // The worker part of a command line; the worker writes marker.<gen> when it runs.
    std::vector<std::string> worker_argv() const { return {"--", worker(), "--dump-env", marker}; }

    std::vector<std::string> cmd(std::vector<std::string> opts) const
    {
        opts.insert(opts.begin(), program("start_server"));
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
    // a taken port (bound to port 0 and held by the test), and a locked pid file held by a
    // real start_server
    const tcp_listener taken = listen_tcp();
    const std::string locked = (dir / "locked.pid").string();
    child_process first({program("start_server"), "--pid-file=" + locked, "--", worker()});
    ASSERT_TRUE(first.wait_for_output("starting new worker")) << first.output();
    const std::string sock = (dir / "s.sock").string();
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
        {{"--path=" + sock, "--port=" + taken.key()},
         "failed to bind to " + taken.key() + ":Address already in use",
         2},
        {{"--path=" + sock, "--pid-file=" + (dir / "no/such/dir/pid").string()},
         "failed to open file:" + (dir / "no/such/dir/pid").string() +
             ": No such file or directory",
         2},
        {{"--path=" + sock, "--pid-file=" + locked},
         "pid file " + locked + " is locked by another start_server (pid " +
             std::to_string(first.pid()) + ")",
         2},
        {{"--log-file=" + (dir / "no/such/dir/log").string()},
         "failed to open log file:" + (dir / "no/such/dir/log").string() +
             ": No such file or directory",
         2},
    };
    for (const auto& c : cases) {
        child_process p(cmd(c.opts));
        EXPECT_EQ(p.wait_for_exit_code(), c.code) << c.line;
        EXPECT_EQ(last_line(p.output()), c.line);
        EXPECT_FALSE(p.has_output("starting new worker")) << c.line;
        EXPECT_FALSE(exists(sock)) << c.line << ": socket file left behind";
    }
    {
        // a valid --port but no program: it fails before it binds anything
        child_process p({program("start_server"), "--port=127.0.0.1:0"});
        EXPECT_EQ(p.wait_for_exit_code(), 1);
        EXPECT_EQ(last_line(p.output()), "server program not specified");
    }
    EXPECT_FALSE(exists(marker + ".1")); // no worker from any bad invocation
    EXPECT_EQ(read_file(locked), std::to_string(first.pid()) + "\n"); // not clobbered
}

TEST_F(StarterSetup, EverySocketKindIsHandedOnInCommandLineOrder)
{
    const std::string sock = (dir / "s.sock").string();
    child_process s(cmd({"--port=127.0.0.1:0", "--path=" + sock, "--port=[::1]:0",
                         "--port=127.0.0.1:u0", "--port=127.0.0.1:0=9"}));
    const std::string d = dump(1);
    ASSERT_FALSE(d.empty()) << s.output();
    // The worker runs, so start_server has bound every socket; tell them apart by kind.
    const std::vector<held_socket> sockets = listening_sockets(s.pid());
    const held_socket* v4 = nullptr;
    const held_socket* v6 = nullptr;
    const held_socket* udp = nullptr;
    const held_socket* pinned = nullptr;
    for (const held_socket& k : sockets) {
        if (k.is_udp)
            udp = &k;
        else if (k.family == ip_family::v6)
            v6 = &k;
        else if (k.fd == 9)
            pinned = &k;
        else
            v4 = &k;
    }
    ASSERT_EQ(sockets.size(), 4U) << ::testing::PrintToString(sockets);
    ASSERT_TRUE(v4 && v6 && udp && pinned) << ::testing::PrintToString(sockets);
    for (const held_socket* k : {v4, udp, pinned})
        EXPECT_EQ(k->host, "127.0.0.1") << *k;
    EXPECT_EQ(v6->host, "::1");
    // Port 0 is what each key says (as Server::Starter's do); the descriptors, in command-line
    // order, are the sockets of each kind; the paths come last.
    const std::string env = dump_line(d, "env SERVER_STARTER_PORT=");
    const std::string ip_entries = "127.0.0.1:0=" + std::to_string(v4->fd) +
                                   ";[::1]:0=" + std::to_string(v6->fd) +
                                   ";127.0.0.1:0=" + std::to_string(udp->fd) + ";127.0.0.1:0=9;";
    EXPECT_TRUE(env.starts_with("env SERVER_STARTER_PORT=" + ip_entries + sock + "=")) << env;
    EXPECT_TRUE(s.has_output("socket is duplicated to file descriptor 9"));
    EXPECT_EQ(generation_of(ask(v4->port)), 1);
    EXPECT_EQ(generation_of(ask(v6->port, ip_family::v6)), 1);
    EXPECT_EQ(generation_of(ask_udp(udp->port)), 1);
    EXPECT_EQ(generation_of(ask(pinned->port)), 1);
    EXPECT_EQ(generation_of(ask_unix(sock)), 1);
    EXPECT_NE(d.find("fd 9 stream"), std::string::npos);
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0);
    EXPECT_FALSE(exists(sock)); // the socket file it created is removed
}

TEST_F(StarterSetup, SocketPinnedToDescriptorZeroIsStdin)
{
    child_process s(cmd({"--port=127.0.0.1:0=0"}));
    const std::string d = dump(1);
    ASSERT_FALSE(d.empty()) << s.output();
    EXPECT_EQ(dump_line(d, "env SERVER_STARTER_PORT="), "env SERVER_STARTER_PORT=127.0.0.1:0=0");
    EXPECT_NE(d.find("fd 0 stream"), std::string::npos);
    const std::vector<held_socket> sockets = listening_sockets(s.pid());
    ASSERT_EQ(sockets.size(), 1U) << ::testing::PrintToString(sockets);
    EXPECT_EQ(sockets[0].fd, 0);
    EXPECT_EQ(generation_of(ask(sockets[0].port)), 1);
}

TEST_F(StarterSetup, WorkersGetTheEnvironmentServerStarterGives)
{
    const std::string envdir = (dir / "env").string();
    const std::string work = (dir / "work").string();
    ASSERT_EQ(::mkdir(envdir.c_str(), 0755), 0);
    ASSERT_EQ(::mkdir(work.c_str(), 0755), 0);
    std::ofstream(envdir + "/FOO") << "one\nignored second line\n";
    std::ofstream(envdir + "/.hidden") << "x\n";
    child_process s(child_options{
        .argv = cmd({"--port=127.0.0.1:0", "--interval=0", "--dir=" + work, "--envdir=" + envdir,
                     "--kill-old-delay=0", "--auto-restart-interval=100"}),
        .env = {{"NOTIFY_SOCKET", "/nonexistent/systemd-notify"}, {"KEPT", "yes"}}});
    std::string d = dump(1);
    ASSERT_FALSE(d.empty()) << s.output();
    const std::uint16_t port = listening_port(s.pid());
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
    const std::string sock = (dir / "s.sock").string();
    // every descriptor start_server opens itself: pid file, status file, log pipe, notify
    // socket, signalfd; child_process starts it with nothing open beyond 0, 1 and 2
    child_process s(
        cmd({"--port=127.0.0.1:0", "--port=127.0.0.1:0=7", "--path=" + sock,
             "--pid-file=" + (dir / "pid").string(), "--status-file=" + (dir / "status").string(),
             "--log-file=| cat >> " + (dir / "piped.log").string(), "--readiness=notify",
             "--ready-timeout=5"}));
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
    {
        child_process probe({"/usr/bin/unshare", "-fp", "--mount-proc", "true"});
        if (probe.wait_for_exit_code() != 0)
            GTEST_SKIP() << "cannot create a pid namespace here";
    }
    // The worker leaves an orphan behind (a background sleep whose parent exits at once):
    // in the namespace it is reparented to start_server, PID 1, which must reap it.
    child_process s({"/usr/bin/unshare", "-fp", "--mount-proc", program("start_server"),
                     "--port=127.0.0.1:0", "--interval=0", "--", "/bin/sh", "-c",
                     "(/bin/sleep 60 &) ; exec " + worker()});
    pid_t starter = 0;
    ASSERT_TRUE(wait_until([&] {
        const auto kids = children_of(s.pid());
        starter = kids.size() == 1 ? kids[0] : 0;
        return starter > 0;
    })) << s.output();
    const std::uint16_t port = listening_port(starter);
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 1; })) << s.output();
    // The orphaned sleep becomes start_server's child (beside the worker) ...
    pid_t orphan = 0;
    ASSERT_TRUE(wait_until([&] {
        for (const pid_t kid : children_of(starter))
            if (read_file("/proc/" + std::to_string(kid) + "/comm") == "sleep\n")
                orphan = kid;
        return orphan > 0;
    })) << "the orphan was never reparented to start_server";
    // ... and once it ends (ended here, by its pid) it must be reaped: an unreaped orphan would
    // stay a zombie child of start_server.
    ASSERT_EQ(::kill(orphan, SIGKILL), 0);
    ASSERT_TRUE(wait_until([&] {
        const auto kids = children_of(starter);
        return kids.size() == 1 && kids[0] != orphan && state_of(kids[0]) != 'Z';
    })) << "children of start_server: "
        << ::testing::PrintToString(children_of(starter));
    EXPECT_EQ(generation_of(ask(port)), 1);
    ::kill(starter, SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_EQ(last_line(s.output()), "exiting");
}

TEST_F(StarterSetup, PipedLoggerHoldsNoListeningSocket)
{
    // A logger holding the listener would keep it open after start_server exits: connections
    // would queue on a socket nobody accepts from instead of being refused.
    const std::string piped = (dir / "piped.log").string();
    child_process s(cmd({"--port=127.0.0.1:0", "--log-file=| cat >> " + piped}));
    ASSERT_FALSE(dump(1).empty()) << read_file(piped);
    std::vector<pid_t> loggers;
    ASSERT_TRUE(wait_until([&] {
        loggers.clear();
        for (pid_t c : children_of(s.pid())) {
            const std::string argv0 = read_file("/proc/" + std::to_string(c) + "/cmdline");
            if (argv0.starts_with("sh") || argv0.starts_with("cat"))
                loggers.push_back(c);
        }
        return !loggers.empty();
    })) << s.output();
    EXPECT_EQ(listening_sockets(s.pid()).size(), 1u);
    for (pid_t l : loggers) {
        EXPECT_TRUE(listening_sockets(l).empty()) << "logger " << l;
        for (pid_t c : children_of(l))
            EXPECT_TRUE(listening_sockets(c).empty()) << "logger's child " << c;
    }
}

TEST_F(StarterSetup, PathNeverDeletesARegularFile)
{
    const std::string file = (dir / "precious").string();
    std::ofstream(file) << "data\n";
    child_process s(cmd({"--path=" + file}));
    EXPECT_EQ(s.wait_for_exit_code(), 2);
    EXPECT_NE(last_line(s.output()).find("failed to listen to file " + file), std::string::npos);
    EXPECT_EQ(read_file(file), "data\n");
}

TEST_F(StarterSetup, StaleSocketFileIsReplaced)
{
    const std::string sock = (dir / "s.sock").string();
    (void)listen_unix(sock); // closed at once: the socket file stays behind, stale
    ASSERT_TRUE(exists(sock));
    child_process s(cmd({"--path=" + sock}));
    ASSERT_TRUE(wait_until([&] { return generation_of(ask_unix(sock)) == 1; })) << s.output();
    EXPECT_TRUE(s.has_output("removing existing socket file:" + sock));
}

TEST_F(StarterSetup, PidFileHoldsThePidWhileRunningAndIsRemovedAtExit)
{
    const std::string pid = (dir / "pid").string();
    child_process s(cmd({"--pid-file=" + pid}));
    ASSERT_TRUE(wait_until([&] { return read_file(pid) == std::to_string(s.pid()) + "\n"; }));
    ASSERT_FALSE(dump(1).empty());
    s.signal(SIGINT);
    EXPECT_EQ(s.wait_for_exit_code(), 0);
    EXPECT_TRUE(s.has_output("received INT, sending TERM to all workers:"));
    EXPECT_FALSE(exists(pid));
}

TEST_F(StarterSetup, ValueThatLooksLikeAnOptionIsTakenAsWrittenWithAWarning)
{
    // Getopt::Long's meaning: --status-file's value is the next word, so no pid file is made.
    const std::string pid = (dir / "pid").string();
    const std::string sock = (dir / "s.sock").string();
    child_process s(cmd({"--path=" + sock, "--status-file", "--pid-file=" + pid}));
    ASSERT_TRUE(s.wait_for_output("starting new worker")) << s.output();
    EXPECT_TRUE(s.has_output("start_server: warning: --status-file takes \"--pid-file=" + pid +
                             "\" as its value\n"))
        << s.output();
    EXPECT_FALSE(exists(pid));
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(StarterSetup, QuitUsr1AndUsr2NeverOrphanWorkers)
{
    child_process s(cmd({}));
    ASSERT_FALSE(dump(1).empty());
    s.signal(SIGUSR1);
    ASSERT_TRUE(s.wait_for_output("received USR1, ignored")) << s.output();
    s.signal(SIGUSR2); // an upgrade in place: the same process, still running
    ASSERT_TRUE(s.wait_for_output("start_server upgraded in ")) << s.output();
    EXPECT_TRUE(s.is_running());
    s.signal(SIGQUIT);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    EXPECT_TRUE(s.has_output("received QUIT, sending TERM to all workers:"));
    EXPECT_TRUE(s.has_output("died, status:0"));
}

TEST_F(StarterSetup, DaemonizeWritesToTheLogFileAndThePidFile)
{
    const std::string pid = (dir / "pid").string();
    const std::string log = (dir / "daemon.log").string();
    child_process s(
        cmd({"--daemonize", "--log-file=" + log, "--pid-file=" + pid, "--port=127.0.0.1:0"}));
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output(); // the foreground parent returns at once
    const daemon_guard daemon{daemon_pid(pid, log)};
    ASSERT_GT(daemon.pid, 1) << read_file(log);
    EXPECT_NE(daemon.pid, s.pid());
    const std::uint16_t port = listening_port(daemon.pid);
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 1; })) << read_file(log);
    // a second daemonizing instance fails in the foreground
    child_process second(
        cmd({"--daemonize", "--log-file=" + (dir / "second.log").string(), "--pid-file=" + pid}));
    EXPECT_EQ(second.wait_for_exit_code(), 2);
    EXPECT_NE(last_line(second.output()).find("is locked by another start_server"),
              std::string::npos)
        << second.output();
    EXPECT_EQ(read_file(pid), std::to_string(daemon.pid) + "\n");
    ::kill(daemon.pid, SIGTERM);
    EXPECT_TRUE(wait_until([&] { return !exists(pid); })) << read_file(log);
    EXPECT_TRUE(wait_until([&] { return read_file(log).find("exiting") != std::string::npos; }));
}

TEST_F(StarterSetup, LogFileCanBeAPipeToACommand)
{
    const std::string pid = (dir / "pid").string();
    const std::string piped = (dir / "piped.log").string();
    child_process s(cmd({"--daemonize", "--log-file=| cat >> " + piped, "--pid-file=" + pid,
                         "--port=127.0.0.1:0"}));
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
    const daemon_guard daemon{daemon_pid(pid, piped)}; // the log reached the piped command
    ASSERT_GT(daemon.pid, 1) << read_file(piped);
    const std::uint16_t port = listening_port(daemon.pid);
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 1; }));
    ::kill(daemon.pid, SIGTERM);
    EXPECT_TRUE(wait_until([&] { return read_file(piped).find("exiting") != std::string::npos; }));
    EXPECT_TRUE(wait_until([&] { return !exists(pid); }));
}

TEST_F(StarterSetup, ReportsToSystemdThroughItsNotifySocket)
{
    const std::string addr = (dir / "notify").string();
    const unique_fd fd = bind_unix_datagram(addr);
    std::vector<std::string> got;
    const auto receive = [&] {
        std::string message;
        if (receive_datagram(fd.get(), message, 0ms))
            got.push_back(std::move(message));
    };
    child_process s(child_options{.argv = cmd({"--port=127.0.0.1:0", "--interval=0"}),
                                  .env = {{"NOTIFY_SOCKET", addr}}});
    ASSERT_TRUE(wait_until([&] {
        receive();
        return got.size() == 1;
    })) << s.output();
    EXPECT_TRUE(got[0].starts_with("READY=1\nSTATUS=generation 1 ready (pid ")) << got[0];
    EXPECT_EQ(dump_line(dump(1), "env NOTIFY_SOCKET="), "");
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
        receive();
        return got.size() == 3;
    })) << s.output();
    EXPECT_TRUE(got[1].starts_with("RELOADING=1\nMONOTONIC_USEC=")) << got[1];
    EXPECT_TRUE(got[2].starts_with("READY=1\nSTATUS=generation 2 ready (pid ")) << got[2];
    s.signal(SIGTERM);
    ASSERT_TRUE(wait_until([&] {
        receive();
        return got.size() == 4;
    })) << s.output();
    EXPECT_EQ(got[3], "STOPPING=1");
    EXPECT_EQ(s.wait_for_exit_code(), 0);
}

TEST_F(StarterSetup, HandsOnSocketsFromSystemdSocketActivation)
{
    if (::access("/usr/bin/systemd-socket-activate", X_OK) != 0)
        GTEST_SKIP() << "systemd-socket-activate is not installed";
    // systemd-socket-activate refuses port 0 (-l 127.0.0.1:0), but passes on the sockets it
    // is handed itself (LISTEN_FDS and LISTEN_PID, as systemd sets them): the test binds
    // port 0 and hands the socket over on fd 3, as systemd would.
    const tcp_listener listener = listen_tcp();
    std::vector<std::string> argv{"/bin/sh",
                                  "-c",
                                  "LISTEN_PID=$$ LISTEN_FDS=1; export LISTEN_PID LISTEN_FDS; "
                                  "exec \"$@\"",
                                  "sh",
                                  "/usr/bin/systemd-socket-activate",
                                  program("start_server")};
    const auto w = worker_argv();
    argv.insert(argv.end(), w.begin(), w.end());
    child_process s(child_options{.argv = argv, .map_fds = {{listener.fd.get(), 3}}});
    // systemd-socket-activate execs start_server on the first connection, which then waits
    // in the queue for the worker.
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(listener.port)) == 1; })) << s.output();
    const std::string d = dump(1);
    EXPECT_EQ(dump_line(d, "env SERVER_STARTER_PORT="),
              "env SERVER_STARTER_PORT=" + listener.key() + "=3");
    EXPECT_EQ(dump_line(d, "env LISTEN_FDS="), "");
}

} // namespace
