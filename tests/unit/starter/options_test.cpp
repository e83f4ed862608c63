// SPDX-License-Identifier: MIT
#include "options.hpp"

#include <gtest/gtest.h>

namespace {

using baton::starter::mode;
using baton::starter::options;
using baton::starter::options_error;
using baton::starter::parse_options;
using baton::starter::readiness;
using namespace std::chrono_literals;

options parse_ok(const std::vector<std::string>& args)
{
    options_error err;
    auto o = parse_options(args, err);
    EXPECT_TRUE(o.has_value()) << err.message;
    return o.value_or(options{});
}

std::string parse_error(const std::vector<std::string>& args)
{
    options_error err;
    EXPECT_FALSE(parse_options(args, err).has_value());
    return err.message;
}

TEST(StarterOptions, AcceptsEqualsAndSeparateValues)
{
    const auto o = parse_ok({"--port=80", "--port", "127.0.0.1:81", "--interval", "3", "x"});
    EXPECT_EQ(o.ports, (std::vector<std::string>{"80", "127.0.0.1:81"}));
    EXPECT_EQ(o.interval, 3s);
    EXPECT_EQ(o.command, std::vector<std::string>{"x"});
}

TEST(StarterOptions, AcceptsSingleDash)
{
    const auto o = parse_ok({"-port=80", "-interval", "2", "x"});
    EXPECT_EQ(o.ports, std::vector<std::string>{"80"});
    EXPECT_EQ(o.interval, 2s);
}

TEST(StarterOptions, AcceptsUniquePrefixCaseInsensitively)
{
    const auto o = parse_ok({"--int=2", "--po", "8080", "--PID-F=/p", "--env", "/e", "x"});
    EXPECT_EQ(o.interval, 2s);
    EXPECT_EQ(o.ports, std::vector<std::string>{"8080"});
    EXPECT_EQ(o.pid_file, "/p");
    EXPECT_EQ(o.envdir, "/e");
}

TEST(StarterOptions, RejectsAmbiguousPrefixNamingTheCandidates)
{
    EXPECT_EQ(parse_error({"--p", "80", "x"}), "Option p is ambiguous (path, pid-file, port)");
}

TEST(StarterOptions, ServerStarterOptionWinsAPrefixSharedOnlyWithBatonOptions)
{
    const auto o = parse_ok({"--re", "--pid-file=p", "--status-file=s"});
    EXPECT_EQ(o.what, mode::restart);
}

TEST(StarterOptions, PermutesOptionsAfterTheProgramUntilDoubleDash)
{
    const auto o = parse_ok({"prog", "--port=80", "arg", "--", "--not-an-option", "-x"});
    EXPECT_EQ(o.ports, std::vector<std::string>{"80"});
    EXPECT_EQ(o.command, (std::vector<std::string>{"prog", "arg", "--not-an-option", "-x"}));
}

TEST(StarterOptions, OptionLikeWordAfterProgramWithoutDoubleDashIsUnknown)
{
    EXPECT_EQ(parse_error({"--port=80", "prog", "--foo"}), "Unknown option: foo");
}

TEST(StarterOptions, MandatoryValueTakesTheNextWordWhateverItLooksLike)
{
    const auto o = parse_ok({"--port", "--interval=3", "x"});
    EXPECT_EQ(o.ports, std::vector<std::string>{"--interval=3"});
    EXPECT_EQ(o.interval, 1s);
}

TEST(StarterOptions, IntegerOptionRejectsNonNumbersWithGetoptWording)
{
    EXPECT_EQ(parse_error({"--interval=1.5", "x"}),
              "Value \"1.5\" invalid for option interval (number expected)");
    EXPECT_EQ(parse_error({"--backlog", "abc", "x"}),
              "Value \"abc\" invalid for option backlog (number expected)");
}

TEST(StarterOptions, FlagRejectsAValue)
{
    EXPECT_EQ(parse_error({"--daemonize=1", "x"}), "Option daemonize does not take an argument");
}

TEST(StarterOptions, MissingValueIsAnError)
{
    EXPECT_EQ(parse_error({"--port"}), "Option port requires an argument");
}

TEST(StarterOptions, MissingProgramIsAnError)
{
    EXPECT_EQ(parse_error({"--port=80"}), "server program not specified");
}

TEST(StarterOptions, DaemonizeNeedsLogFileWithServerStarterWording)
{
    EXPECT_EQ(parse_error({"--daemonize", "x"}),
              "Usage: --log-file option must be specified together with --deamonize");
}

TEST(StarterOptions, ClientModesNeedTheirFiles)
{
    EXPECT_EQ(parse_error({"--restart", "--pid-file=p"}),
              "--restart option requires --pid-file and --status-file to be set as well");
    EXPECT_EQ(parse_error({"--stop"}), "--stop option requires --pid-file to be set as well");
    EXPECT_EQ(parse_ok({"--stop", "--pid-file=p"}).what, mode::stop);
}

TEST(StarterOptions, HelpAndVersionNeedNoProgram)
{
    EXPECT_EQ(parse_ok({"--help"}).what, mode::help);
    EXPECT_EQ(parse_ok({"--vers"}).what, mode::version);
}

TEST(StarterOptions, NormalisesSignalNames)
{
    const auto o = parse_ok({"--signal-on-hup=sigusr1", "--signal-on-term=int", "x"});
    EXPECT_EQ(o.signal_on_hup, "USR1");
    EXPECT_EQ(o.signal_on_term, "INT");
}

TEST(StarterOptions, ParsesBatonReadinessOptions)
{
    const auto o =
        parse_ok({"--readiness=notify", "--ready-timeout=2.5", "--shutdown-timeout", "3", "x"});
    EXPECT_EQ(o.ready_mode, readiness::notify);
    EXPECT_EQ(o.ready_timeout, std::chrono::milliseconds(2500));
    EXPECT_EQ(o.shutdown_timeout, std::chrono::milliseconds(3000));
    EXPECT_NE(parse_error({"--readiness=soon", "x"}).find("\"soon\""), std::string::npos);
    EXPECT_NE(parse_error({"--ready-timeout=-1", "x"}).find("ready-timeout"), std::string::npos);
}

TEST(StarterOptions, LastValueOfAScalarOptionWins)
{
    EXPECT_EQ(parse_ok({"--dir=/a", "--dir=/b", "x"}).dir, "/b");
}

TEST(StarterOptions, ErrorsStayOnOneLineWhateverTheInput)
{
    // regress: fuzz/corpus/starter_options/newline_in_option_name.bin
    EXPECT_EQ(parse_error({"--interv\nal", "x"}), "Unknown option: interv\\nal");
    EXPECT_EQ(parse_error({"--interval=1\t\x01", "x"}),
              "Value \"1\\t\\x01\" invalid for option interval (number expected)");
}

TEST(StarterOptions, SingleDashAloneIsAProgramArgument)
{
    EXPECT_EQ(parse_ok({"x", "-"}).command, (std::vector<std::string>{"x", "-"}));
}

TEST(StarterOptions, ShowStatusNeedsThePidFileAndTakesJson)
{
    const auto o = parse_ok({"--show-status", "--pid-file=/run/a.pid", "--json"});
    EXPECT_EQ(o.what, mode::show_status);
    EXPECT_EQ(o.pid_file, "/run/a.pid");
    EXPECT_TRUE(o.is_json);
    EXPECT_FALSE(parse_ok({"--show-status", "--pid-file=/p", "--status-file=/s"}).is_json);
    EXPECT_EQ(parse_error({"--show-status"}),
              "--show-status option requires --pid-file to be set as well");
    EXPECT_EQ(parse_error({"--json", "--pid-file=/p", "x"}),
              "--json option is only meaningful with --show-status");
}

TEST(StarterOptions, ShowStatusIsMatchedOnlyInFull)
{
    // Getopt::Long abbreviations scripts may use keep their meaning.
    EXPECT_EQ(parse_ok({"--status=/s", "x"}).status_file, "/s");
    EXPECT_EQ(parse_ok({"--sh=2", "x"}).shutdown_timeout, 2000ms);
    EXPECT_EQ(parse_error({"--show", "--pid-file=/p"}), "Unknown option: show");
    EXPECT_EQ(parse_ok({"--SHOW-STATUS", "--pid-file=/p"}).what, mode::show_status);
}

} // namespace

TEST(StarterOptions, WarnsWhenTheNextWordTakenAsAValueStartsWithTwoDashes)
{
    const auto o = parse_ok({"--status-file", "--pid-file", "x", "prog"});
    EXPECT_EQ(o.status_file, "--pid-file"); // Getopt::Long's meaning is kept
    EXPECT_FALSE(o.pid_file);
    EXPECT_EQ(o.command, (std::vector<std::string>{"x", "prog"}));
    EXPECT_EQ(o.warnings,
              std::vector<std::string>{
                  "start_server: warning: --status-file takes \"--pid-file\" as its value"});
}

TEST(StarterOptions, DoesNotWarnAboutAValueWrittenAfterAnEqualsSign)
{
    EXPECT_TRUE(parse_ok({"--status-file=--odd", "--port", "80", "prog"}).warnings.empty());
}

TEST(StarterOptions, KeepsDurationsAsChronoTypes)
{
    const auto o = parse_ok({"--kill-old-delay=3", "--auto-restart-interval=20", "prog"});
    EXPECT_EQ(o.kill_old_delay, 3s);
    EXPECT_EQ(o.auto_restart_interval, 20s);
}
