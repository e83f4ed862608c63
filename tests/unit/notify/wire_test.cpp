// SPDX-License-Identifier: MIT
#include "notify/wire.hpp" // the header under test comes first

#include <gtest/gtest.h>

#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace notify = baton::notify;
using notify::detail::parse_address;
using notify::detail::reloading_message;
using notify::detail::unix_address;

constexpr std::size_t path_offset = offsetof(sockaddr_un, sun_path);
constexpr std::size_t sun_path_size = sizeof(sockaddr_un::sun_path);

TEST(NotifyWire, AbsolutePathLengthCountsItsNul)
{
    unix_address a;
    ASSERT_EQ(parse_address("/run/notify", a), notify::errc{});
    EXPECT_EQ(a.sa.sun_family, AF_UNIX);
    EXPECT_EQ(std::string_view(a.sa.sun_path), "/run/notify");
    EXPECT_EQ(a.length, path_offset + 11 + 1);
}

TEST(NotifyWire, AbstractNameStartsWithNulAndHasNoTrailingOne)
{
    unix_address a;
    ASSERT_EQ(parse_address("@baton/1", a), notify::errc{});
    EXPECT_EQ(a.sa.sun_path[0], '\0');
    EXPECT_EQ(std::string_view(a.sa.sun_path + 1, 7), "baton/1");
    EXPECT_EQ(a.length, path_offset + 1 + 7);
}

TEST(NotifyWire, RejectsWhatIsNeitherAPathNorAName)
{
    unix_address a;
    EXPECT_EQ(parse_address("", a), notify::errc::invalid_socket_address);
    EXPECT_EQ(parse_address("@", a), notify::errc::invalid_socket_address);
    EXPECT_EQ(parse_address("run/notify", a), notify::errc::invalid_socket_address);
    EXPECT_EQ(parse_address(std::string_view("/run\0x", 6), a),
              notify::errc::invalid_socket_address);
    EXPECT_EQ(parse_address("vsock:2:1234", a), notify::errc::unsupported_socket_address);
    EXPECT_EQ(parse_address("vsock-stream:2:1234", a), notify::errc::unsupported_socket_address);
}

TEST(NotifyWire, LongestPathAndNameFitAndOneMoreByteDoesNot)
{
    unix_address a;
    const std::string path = "/" + std::string(sun_path_size - 2, 'p'); // and its NUL
    EXPECT_EQ(parse_address(path, a), notify::errc{});
    EXPECT_EQ(a.length, sizeof(sockaddr_un));
    EXPECT_EQ(parse_address(path + "p", a), notify::errc::socket_address_too_long);

    const std::string name = "@" + std::string(sun_path_size - 1, 'n'); // after the NUL
    EXPECT_EQ(parse_address(name, a), notify::errc{});
    EXPECT_EQ(a.length, sizeof(sockaddr_un));
    EXPECT_EQ(parse_address(name + "n", a), notify::errc::socket_address_too_long);
}

TEST(NotifyWire, ReloadingCarriesMonotonicUsecInDecimal)
{
    EXPECT_EQ(reloading_message(0).text(), "RELOADING=1\nMONOTONIC_USEC=0");
    EXPECT_EQ(reloading_message(1234567).text(), "RELOADING=1\nMONOTONIC_USEC=1234567");
    EXPECT_EQ(reloading_message(UINT64_MAX).text(),
              "RELOADING=1\nMONOTONIC_USEC=18446744073709551615");
}

TEST(NotifyWire, ReloadingNowIsBetweenTwoReadingsOfTheClock)
{
    const std::uint64_t before = notify::detail::monotonic_usec();
    const reloading_message now;
    const std::uint64_t after = notify::detail::monotonic_usec();
    constexpr std::string_view prefix = "RELOADING=1\nMONOTONIC_USEC=";
    ASSERT_TRUE(now.text().starts_with(prefix)) << now.text();
    const std::uint64_t usec = std::stoull(std::string(now.text().substr(prefix.size())));
    EXPECT_LE(before, usec);
    EXPECT_LE(usec, after);
}

} // namespace
