// SPDX-License-Identifier: MIT
// Interop: baton's start_server against Perl's Server::Starter 0.35 (libserver-starter-perl).
// The same worker under both gives the same environment and the same log lines; a baton
// worker runs under Perl's start_server; Perl and Go workers run under baton's.
#include "../integration/starter_harness.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace starter_test;

constexpr const char* perl_starter = "/usr/bin/start_server";

bool has_perl_starter()
{
    return ::access(perl_starter, X_OK) == 0;
}

// The lines of a dump that both starters must agree on: environment (descriptor numbers
// masked: Perl's script holds fd 3 itself) and working directory. `sigpipe` differs on
// purpose (Perl leaves SIGPIPE ignored in workers). Both are told port 0, and both keys
// must say so (`127.0.0.1:0`), as the command line does: the port number is not masked.
std::vector<std::string> comparable(const std::string& dump, const std::string& own_dir)
{
    std::vector<std::string> out;
    std::istringstream in(dump);
    static const std::regex fd_number("=[0-9]+(;|$)");
    for (std::string l; std::getline(in, l);) {
        if (l.starts_with("env SERVER_STARTER_PORT="))
            l = "env SERVER_STARTER_PORT=" + std::regex_replace(l.substr(24), fd_number, "=FD$1");
        if (l.starts_with("env _=") || l.starts_with("fd ") || l.starts_with("open") ||
            l.starts_with("sigpipe "))
            continue;
        if (l.find(own_dir) != std::string::npos && l.starts_with("env ") &&
            !l.starts_with("env ENVDIR=") && !l.starts_with("env SERVER_STARTER_PORT="))
            continue;
        out.push_back(l);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Log lines with numbers masked, in order, without the lines only one starter prints.
std::vector<std::string> normalised_log(const std::string& log)
{
    std::vector<std::string> out;
    std::istringstream in(log);
    static const std::regex number("[0-9]+");
    for (std::string l; std::getline(in, l);) {
        if (l.empty())
            continue;
        out.push_back(std::regex_replace(l, number, "N"));
    }
    return out;
}

struct PerlInterop : ::testing::Test {
    temp_dir dir;

    void SetUp() override
    {
        if (!has_perl_starter())
            GTEST_SKIP() << perl_starter << " is absent (apt-get install libserver-starter-perl)";
    }

    // Run `starter` with a fixed option set; return the gen-1 and gen-2 dumps and the log.
    struct run_result {
        std::string dump1, dump2, log;
        int exit_code = -1;
    };

    run_result run_under(const std::string& starter, const std::string& tag)
    {
        const std::string status = (dir / (tag + ".status")).string();
        const std::string envdir = (dir / "env").string();
        ::mkdir(envdir.c_str(), 0755);
        std::ofstream(envdir + "/FROM_ENVDIR") << "yes\n";
        const std::string dump = (dir / (tag + ".dump")).string();
        child_process s({starter, "--port=127.0.0.1:0",
                         "--path=" + (dir / (tag + ".sock")).string(), "--status-file=" + status,
                         "--envdir=" + envdir, "--kill-old-delay=0", "--interval=1", "--", worker(),
                         "--dump-env", dump});
        run_result r;
        const auto single_gen = [&](char gen) {
            return wait_until([&] {
                const std::string st = read_file(status);
                return st.size() > 2 && st[0] == gen && st[1] == ':' &&
                       std::count(st.begin(), st.end(), '\n') == 1;
            });
        };
        if (!single_gen('1'))
            return r;
        s.signal(SIGHUP);
        if (!single_gen('2'))
            return r;
        s.signal(SIGTERM);
        r.exit_code = s.wait_for_exit_code().value_or(-1);
        r.dump1 = read_file(dump + ".1");
        r.dump2 = read_file(dump + ".2");
        r.log = s.output();
        return r;
    }
};

TEST_F(PerlInterop, SameWorkerGetsTheSameEnvironmentAndLogLines)
{
    const auto perl = run_under(perl_starter, "perl");
    const auto ours = run_under(program("start_server"), "baton");
    ASSERT_EQ(perl.exit_code, 0) << perl.log;
    ASSERT_EQ(ours.exit_code, 0) << ours.log;
    // the tag differs in the socket path: mask it
    auto mask = [](std::vector<std::string> lines) {
        for (auto& l : lines) {
            for (const char* tag : {"perl.sock", "baton.sock"})
                if (auto p = l.find(tag); p != std::string::npos)
                    l.replace(p, std::strlen(tag), "TAG.sock");
        }
        std::sort(lines.begin(), lines.end());
        return lines;
    };
    const auto differences = [](const std::vector<std::string>& a,
                                const std::vector<std::string>& b) {
        std::vector<std::string> only_a, only_b;
        std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_a));
        std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_b));
        std::string out;
        for (const auto& l : only_a)
            out += "  baton only: " + l + "\n";
        for (const auto& l : only_b)
            out += "  perl only:  " + l + "\n";
        return out;
    };
    ASSERT_FALSE(ours.dump1.empty());
    EXPECT_NE(ours.dump1.find("\nenv SERVER_STARTER_PORT=127.0.0.1:0="), std::string::npos)
        << ours.dump1;
    const std::string own_dir = dir.path().string();
    ASSERT_FALSE(ours.dump2.empty());
    EXPECT_EQ(
        differences(mask(comparable(ours.dump1, own_dir)), mask(comparable(perl.dump1, own_dir))),
        "");
    EXPECT_EQ(
        differences(mask(comparable(ours.dump2, own_dir)), mask(comparable(perl.dump2, own_dir))),
        "");
    ASSERT_GE(normalised_log(perl.log).size(), 10u) << perl.log; // boot, HUP, TERM: all there
    EXPECT_EQ(normalised_log(ours.log), normalised_log(perl.log)) << "perl:\n"
                                                                  << perl.log << "baton:\n"
                                                                  << ours.log;
}

TEST_F(PerlInterop, BatonWorkerRunsUnderPerlStartServer)
{
    std::uint16_t port = 0;
    auto s = start_and_learn_port({perl_starter, "--port=127.0.0.1:0",
                                   "--status-file=" + (dir / "status").string(), "--",
                                   program("echo_pid_worker")},
                                  port);
    ASSERT_TRUE(wait_until([&] { return generation_of(ask_http(port)) == 1; })) << s.output();
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return generation_of(ask_http(port)) == 2; })) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(PerlInterop, PerlServerPortsWorkerRunsUnderBatonStartServer)
{
    const std::string script =
        "use Server::Starter qw(server_ports); use IO::Socket::INET;"
        "my ($k, $fd) = %{server_ports()};"
        "my $l = IO::Socket::INET->new(Proto => 'tcp'); $l->fdopen($fd, 'w') or die;"
        "$SIG{TERM} = sub { exit 0 };"
        "while (my $c = $l->accept) { print $c \"$$ $ENV{SERVER_STARTER_GENERATION}\\n\"; "
        "close $c; }";
    std::uint16_t port = 0;
    auto s = start_and_learn_port({program("start_server"), "--port=127.0.0.1:0", "--interval=1",
                                   "--", "/usr/bin/perl", "-e", script},
                                  port);
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 1; })) << s.output();
    s.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return generation_of(ask(port)) == 2; })) << s.output();
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

TEST_F(PerlInterop, GoWorkerRunsUnderBatonStartServer)
{
    // built into the build tree by the anchor_go18http target (tests/CMakeLists.txt)
    const std::string exe = (bin_dir() / "../anchor/go18http").string();
    if (::access(exe.c_str(), X_OK) != 0)
        GTEST_SKIP() << "go or ../shared/anchors/go18http is absent: no anchor worker built";
    child_process s(child_options{
        .argv = {program("start_server"), "--port=127.0.0.1:0", "--interval=1", "--", exe},
        .env = {{"GO18HTTP_QUIET", "1"}}});
    const std::uint16_t port = listening_port(s.pid());
    ASSERT_TRUE(wait_until([&] {
        return ask_http(port).find("Hello, Go 1.8!") != std::string::npos;
    })) << s.output();
    s.signal(SIGHUP);
    ASSERT_TRUE(s.wait_for_output("old worker ")) << s.output();
    EXPECT_NE(ask_http(port).find("Hello, Go 1.8!"), std::string::npos);
    s.signal(SIGTERM);
    EXPECT_EQ(s.wait_for_exit_code(), 0) << s.output();
}

} // namespace
