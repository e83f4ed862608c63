// SPDX-License-Identifier: MIT
#include "port_spec.hpp"

#include <gtest/gtest.h>

namespace {

using baton::starter::parse_port_spec;
using baton::starter::port_key;

TEST(PortSpec, BarePortBindsAllIpv4Interfaces)
{
    const auto s = parse_port_spec("8080");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->host, "");
    EXPECT_EQ(s->port, 8080);
    EXPECT_FALSE(s->is_udp);
    EXPECT_FALSE(s->fd);
    EXPECT_EQ(port_key(*s), "8080");
}

TEST(PortSpec, HostPortKeepsTheHostAsTyped)
{
    const auto s = parse_port_spec("localhost:80");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->host, "localhost");
    EXPECT_EQ(port_key(*s), "localhost:80");
}

TEST(PortSpec, BracketedIpv6IsIpv6)
{
    const auto s = parse_port_spec("[::1]:8080");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->is_ipv6);
    EXPECT_EQ(s->host, "::1");
    EXPECT_EQ(port_key(*s), "[::1]:8080");
}

TEST(PortSpec, BracketedIpv4LosesItsBrackets)
{
    const auto s = parse_port_spec("[127.0.0.1]:80");
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->is_ipv6);
    EXPECT_EQ(port_key(*s), "127.0.0.1:80");
}

TEST(PortSpec, UdpPrefixIsDroppedFromTheKey)
{
    const auto a = parse_port_spec("u443");
    ASSERT_TRUE(a);
    EXPECT_TRUE(a->is_udp);
    EXPECT_EQ(port_key(*a), "443");
    const auto b = parse_port_spec("127.0.0.1:u53");
    ASSERT_TRUE(b);
    EXPECT_TRUE(b->is_udp);
    EXPECT_EQ(port_key(*b), "127.0.0.1:53");
}

TEST(PortSpec, PinnedDescriptorIncludingZero)
{
    const auto a = parse_port_spec("8080=0");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->fd, 0);
    const auto b = parse_port_spec("[::1]:u80=9");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->fd, 9);
    EXPECT_TRUE(b->is_udp);
}

TEST(PortSpec, ToleratesWhitespaceWhereServerStarterDoes)
{
    const auto a = parse_port_spec("  8080 =5 ");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->port, 8080);
    EXPECT_EQ(a->fd, 5);
    const auto b = parse_port_spec(" [ ::1 ] : 80 ");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->host, "::1");
    EXPECT_EQ(b->port, 80);
}

TEST(PortSpec, RejectsMalformedSpecs)
{
    for (const char* bad : {"", "abc", "80x", "host:", ":80", "[::1]", "70000", "1:2:3:x",
                            "80=", "80=x", "u", "[::1]:99999", "80= 5"})
        EXPECT_FALSE(parse_port_spec(bad)) << bad;
}

} // namespace
