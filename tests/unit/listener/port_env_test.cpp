// SPDX-License-Identifier: MIT
#include <baton/listener.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bl = baton::listener;

namespace {

std::vector<bl::port_entry> parse_ok(std::string_view value)
{
    bl::error err;
    auto entries = bl::parse_port_env(value, err);
    EXPECT_FALSE(err) << value << ": " << err.message;
    return entries;
}

bl::error parse_fail(std::string_view value)
{
    bl::error err;
    auto entries = bl::parse_port_env(value, err);
    EXPECT_TRUE(err) << value;
    EXPECT_TRUE(entries.empty()) << value;
    return err;
}

} // namespace

TEST(PortEnv, EmptyValueMeansNoSockets)
{
    EXPECT_TRUE(parse_ok("").empty());
}

TEST(PortEnv, ParsesBarePortEntry)
{
    auto e = parse_ok("8080=3");
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].key, "8080");
    EXPECT_EQ(e[0].fd, 3);
    EXPECT_EQ(e[0].kind, bl::key_kind::port);
    EXPECT_EQ(e[0].port, 8080);
    EXPECT_EQ(e[0].host, "");
}

TEST(PortEnv, ParsesHostPortEntry)
{
    auto e = parse_ok("127.0.0.1:8080=4");
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].kind, bl::key_kind::host_port);
    EXPECT_EQ(e[0].host, "127.0.0.1");
    EXPECT_EQ(e[0].port, 8080);
    EXPECT_EQ(e[0].fd, 4);
}

TEST(PortEnv, KeepsHostnameAsTyped)
{
    auto e = parse_ok("localhost:80=5");
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].kind, bl::key_kind::host_port);
    EXPECT_EQ(e[0].host, "localhost");
    EXPECT_EQ(e[0].key, "localhost:80");
}

TEST(PortEnv, ParsesBracketedIpv6Entry)
{
    auto e = parse_ok("[::1]:8080=6");
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].kind, bl::key_kind::host_port);
    EXPECT_EQ(e[0].host, "::1");
    EXPECT_EQ(e[0].port, 8080);
    EXPECT_EQ(e[0].fd, 6);
}

TEST(PortEnv, ParsesAbsoluteAndRelativePaths)
{
    auto e = parse_ok("/run/app.sock=7;app.sock=8;./dir/x.sock=9");
    ASSERT_EQ(e.size(), 3u);
    for (const auto& entry : e)
        EXPECT_EQ(entry.kind, bl::key_kind::path) << entry.key;
    EXPECT_EQ(e[0].key, "/run/app.sock");
    EXPECT_EQ(e[1].key, "app.sock");
    EXPECT_EQ(e[2].fd, 9);
}

TEST(PortEnv, PathWithColonIsAPath)
{
    auto e = parse_ok("/tmp/a:80=3;::1:80=4;:80=5");
    ASSERT_EQ(e.size(), 3u);
    EXPECT_EQ(e[0].kind, bl::key_kind::path);
    EXPECT_EQ(e[1].kind, bl::key_kind::path); // unbracketed IPv6 is not a starter's spelling
    EXPECT_EQ(e[2].kind, bl::key_kind::path);
}

TEST(PortEnv, ParsesPerlTranscriptInOrder)
{
    // Server::Starter 0.35's env for --port=18080 --port=127.0.0.1:18081 --port=[::1]:18082
    // --port=u18083 --port=18084=9 --path=DIR/s.sock (docs/design.md §1)
    auto e = parse_ok("18080=4;127.0.0.1:18081=5;[::1]:18082=6;18083=7;18084=9;DIR/s.sock=8");
    ASSERT_EQ(e.size(), 6u);
    EXPECT_EQ(e[0].port, 18080);
    EXPECT_EQ(e[1].host, "127.0.0.1");
    EXPECT_EQ(e[2].host, "::1");
    EXPECT_EQ(e[3].port, 18083);
    EXPECT_EQ(e[4].fd, 9);
    EXPECT_EQ(e[5].kind, bl::key_kind::path);
}

TEST(PortEnv, AcceptsFdZero)
{
    auto e = parse_ok("8080=0");
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(e[0].fd, 0);
}

TEST(PortEnv, FormatRoundTripsEveryValidForm)
{
    for (std::string_view value :
         {"", "8080=3", "127.0.0.1:8080=4", "[::1]:8080=5", "/run/app.sock=6",
          "8080=3;127.0.0.1:8081=4;[::1]:8082=5;18083=7;18084=9;DIR/s.sock=8", "0=0",
          "localhost:65535=2147483647", "[fe80::1%eth0]:1=10"}) {
        EXPECT_EQ(bl::format_port_env(parse_ok(value)), value);
    }
}

TEST(PortEnv, FormatWritesEntriesInGivenOrder)
{
    std::vector<bl::port_entry> entries(3);
    entries[0].key = "/b.sock";
    entries[0].fd = 5;
    entries[1].key = bl::make_key("", 80);
    entries[1].fd = 3;
    entries[2].key = bl::make_key("::1", 443);
    entries[2].fd = 4;
    EXPECT_EQ(bl::format_port_env(entries), "/b.sock=5;80=3;[::1]:443=4");
}

TEST(PortEnv, MakeKeyBracketsIpv6AndKeepsHostsAsTyped)
{
    EXPECT_EQ(bl::make_key("", 8080), "8080");
    EXPECT_EQ(bl::make_key("127.0.0.1", 8080), "127.0.0.1:8080");
    EXPECT_EQ(bl::make_key("localhost", 80), "localhost:80");
    EXPECT_EQ(bl::make_key("::1", 8080), "[::1]:8080");
}

namespace {

/// What probe_socket reports, written by hand.
bl::socket_info probed(int family, std::string address, std::uint16_t port = 0)
{
    bl::socket_info info;
    info.family = family;
    info.address = std::move(address);
    info.port = port;
    return info;
}

} // namespace

TEST(PortEnv, MakeKeyOfAProbedSocketWritesTheIpv4WildcardAsABarePort)
{
    EXPECT_EQ(bl::make_key(probed(AF_INET, "0.0.0.0:8080", 8080)), "8080");
    EXPECT_EQ(bl::make_key(probed(AF_INET, "127.0.0.1:8080", 8080)), "127.0.0.1:8080");
    EXPECT_EQ(bl::make_key(probed(AF_INET6, "[::]:8080", 8080)), "[::]:8080");
    EXPECT_EQ(bl::make_key(probed(AF_INET6, "[::1]:443", 443)), "[::1]:443");
}

TEST(PortEnv, MakeKeyOfAProbedUnixSocketIsItsPathOrName)
{
    EXPECT_EQ(bl::make_key(probed(AF_UNIX, "/run/app.sock")), "/run/app.sock");
    EXPECT_EQ(bl::make_key(probed(AF_UNIX, "@app")), "@app");
    EXPECT_EQ(bl::make_key(probed(AF_UNIX, "")), ""); // unnamed: nothing to name it by
    EXPECT_EQ(bl::make_key(probed(AF_NETLINK, "")), "");
}

TEST(PortEnv, FormatRejectsKeysThatCannotBeRead)
{
    for (const char* key : {"", "a;b", "a=b", "[::1:80", "[::1]80", "[::1]:99999"}) {
        std::vector<bl::port_entry> entries(1);
        entries[0].key = key;
        entries[0].fd = 3;
        bl::error err;
        EXPECT_EQ(bl::format_port_env(entries, err), "");
        EXPECT_TRUE(err) << key;
        EXPECT_NE(err.message.find("SERVER_STARTER_PORT entry 1"), std::string::npos)
            << err.message;
    }
}

TEST(PortEnv, FormatRejectsNegativeFd)
{
    std::vector<bl::port_entry> entries(1);
    entries[0].key = "80";
    entries[0].fd = -1;
    bl::error err;
    bl::format_port_env(entries, err);
    EXPECT_EQ(err.code, bl::errc::invalid_fd);
    EXPECT_THROW(bl::format_port_env(entries), bl::listener_error);
}

TEST(PortEnv, MissingEqualsNamesTheEntry)
{
    auto err = parse_fail("8081=3;8080");
    EXPECT_EQ(err.code, bl::errc::missing_fd);
    EXPECT_EQ(err.message, "SERVER_STARTER_PORT entry 2 \"8080\": missing \"=FD\"");
}

TEST(PortEnv, MissingFdAfterEquals)
{
    auto err = parse_fail("8080=");
    EXPECT_EQ(err.code, bl::errc::missing_fd);
    EXPECT_EQ(err.message, "SERVER_STARTER_PORT entry 1 \"8080=\": missing FD after \"=\"");
}

TEST(PortEnv, EmptyKeyIsRejected)
{
    auto err = parse_fail("=3");
    EXPECT_EQ(err.code, bl::errc::empty_key);
    EXPECT_EQ(err.message, "SERVER_STARTER_PORT entry 1 \"=3\": empty key before \"=\"");
}

TEST(PortEnv, NonNumericFdIsRejected)
{
    auto err = parse_fail("8080=abc");
    EXPECT_EQ(err.code, bl::errc::invalid_fd);
    EXPECT_EQ(err.message,
              "SERVER_STARTER_PORT entry 1 \"8080=abc\": FD \"abc\" is not a non-negative decimal "
              "number");
}

TEST(PortEnv, NegativeFdIsRejected)
{
    EXPECT_EQ(parse_fail("8080=-3").code, bl::errc::invalid_fd);
    EXPECT_EQ(parse_fail("8080=+3").code, bl::errc::invalid_fd);
}

TEST(PortEnv, FdOutOfRangeOrWithLeadingZeroIsRejected)
{
    EXPECT_EQ(parse_fail("8080=2147483648").code, bl::errc::invalid_fd);
    EXPECT_EQ(parse_fail("8080=03").code, bl::errc::invalid_fd);
}

TEST(PortEnv, DoubleSemicolonIsAnEmptyEntry)
{
    auto err = parse_fail("8080=3;;8081=4");
    EXPECT_EQ(err.code, bl::errc::empty_entry);
    EXPECT_NE(err.message.find("entry 2"), std::string::npos) << err.message;
}

TEST(PortEnv, SemicolonAtEitherEndIsAnEmptyEntry)
{
    EXPECT_EQ(parse_fail(";8080=3").code, bl::errc::empty_entry);
    EXPECT_EQ(parse_fail("8080=3;").code, bl::errc::empty_entry);
    EXPECT_EQ(parse_fail(";").code, bl::errc::empty_entry);
}

TEST(PortEnv, UnbalancedBracketIsRejected)
{
    auto err = parse_fail("[::1:8080=3");
    EXPECT_EQ(err.code, bl::errc::unbalanced_bracket);
    EXPECT_EQ(err.message,
              "SERVER_STARTER_PORT entry 1 \"[::1:8080=3\": unbalanced \"[\" in key \"[::1:8080\"");
    EXPECT_EQ(parse_fail("[[::1]:80=3").code, bl::errc::unbalanced_bracket);
}

TEST(PortEnv, TrailingJunkAfterFdIsRejected)
{
    auto err = parse_fail("8080=3x");
    EXPECT_EQ(err.code, bl::errc::trailing_junk);
    EXPECT_EQ(err.message,
              "SERVER_STARTER_PORT entry 1 \"8080=3x\": trailing characters \"x\" after FD \"3\"");
    EXPECT_EQ(parse_fail("8080=3 ").code, bl::errc::trailing_junk);
    EXPECT_EQ(parse_fail("8080=3=4").code, bl::errc::trailing_junk);
}

TEST(PortEnv, TrailingJunkAfterBracketIsRejected)
{
    EXPECT_EQ(parse_fail("[::1]x:80=3").code, bl::errc::trailing_junk);
    EXPECT_EQ(parse_fail("[::1]=3").code, bl::errc::trailing_junk);
}

TEST(PortEnv, BadBracketedPortIsRejected)
{
    EXPECT_EQ(parse_fail("[::1]:65536=3").code, bl::errc::invalid_port);
    EXPECT_EQ(parse_fail("[::1]:http=3").code, bl::errc::invalid_port);
    EXPECT_EQ(parse_fail("[::1]:=3").code, bl::errc::invalid_port);
    EXPECT_EQ(parse_fail("[]:80=3").code, bl::errc::empty_key);
}

TEST(PortEnv, ControlCharactersAreEscapedInMessages)
{
    auto err = parse_fail(std::string_view("a\nb", 3));
    EXPECT_EQ(err.message, "SERVER_STARTER_PORT entry 1 \"a\\x0ab\": missing \"=FD\"");
}

TEST(PortEnv, ThrowingOverloadCarriesCodeAndMessage)
{
    try {
        bl::parse_port_env("8080=3;8080");
        FAIL() << "no exception";
    } catch (const bl::listener_error& e) {
        EXPECT_EQ(e.code(), bl::errc::missing_fd);
        EXPECT_STREQ(e.what(), "SERVER_STARTER_PORT entry 2 \"8080\": missing \"=FD\"");
    }
}

TEST(PortEnv, ErrorCategoryHasNameAndMessages)
{
    std::error_code ec = bl::errc::unbalanced_bracket;
    EXPECT_STREQ(ec.category().name(), "baton.listener");
    EXPECT_EQ(ec.message(), "unbalanced \"[\" in key");
    for (int v = 1; v <= static_cast<int>(bl::errc::invalid_address); ++v)
        EXPECT_NE(std::error_code(v, bl::category()).message(), "unknown baton.listener error");
}
