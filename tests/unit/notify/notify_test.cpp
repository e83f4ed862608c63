// SPDX-License-Identifier: MIT
#include <baton/notify.hpp>
// The header under test comes first: it compiles on its own.
#include "support/loopback.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>

namespace notify = baton::notify;
using baton::test::bind_unix_datagram;
using baton::test::receive_datagram;
using baton::test::temp_dir;
using baton::test::unique_abstract_name;

namespace {

/// Sets (or unsets) NOTIFY_SOCKET for one test and restores it afterwards.
class notify_socket_env {
public:
    explicit notify_socket_env(const std::optional<std::string>& value)
    {
        if (const char* old = ::getenv("NOTIFY_SOCKET"))
            saved_ = old;
        if (value)
            ::setenv("NOTIFY_SOCKET", value->c_str(), 1);
        else
            ::unsetenv("NOTIFY_SOCKET");
    }

    notify_socket_env(const notify_socket_env&) = delete;
    notify_socket_env& operator=(const notify_socket_env&) = delete;

    ~notify_socket_env()
    {
        if (saved_)
            ::setenv("NOTIFY_SOCKET", saved_->c_str(), 1);
        else
            ::unsetenv("NOTIFY_SOCKET");
    }

private:
    std::optional<std::string> saved_;
};

std::string receive(int fd)
{
    std::string message;
    EXPECT_TRUE(receive_datagram(fd, message)) << "no datagram arrived";
    return message;
}

std::uint64_t monotonic_usec()
{
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000U +
           static_cast<std::uint64_t>(now.tv_nsec) / 1'000U;
}

std::error_code send_to_error(std::string_view address, std::string_view state = "READY=1")
{
    std::error_code ec = std::make_error_code(std::errc::interrupted); // must be overwritten
    notify::send_to(address, state, ec);
    return ec;
}

} // namespace

TEST(Notify, DeliversReadyToPathSocket)
{
    const temp_dir dir;
    const std::string path = (dir / "notify.sock").string();
    const auto receiver = bind_unix_datagram(path);
    const notify_socket_env env{path};

    std::error_code ec;
    notify::ready(ec);

    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(receive(receiver.get()), "READY=1");
}

TEST(Notify, DeliversReadyToAbstractSocket)
{
    const std::string name = unique_abstract_name();
    const auto receiver = bind_unix_datagram(name);
    const notify_socket_env env{name};

    EXPECT_NO_THROW(notify::ready());

    EXPECT_EQ(receive(receiver.get()), "READY=1");
}

TEST(Notify, AbstractAddressLengthExcludesTrailingNul)
{
    // A receiver bound without a trailing NUL only gets datagrams addressed the same way.
    const std::string name = "@" + std::string(107, 'n');
    const auto receiver = bind_unix_datagram(name);

    EXPECT_FALSE(send_to_error(name));
    EXPECT_EQ(receive(receiver.get()), "READY=1");
}

TEST(Notify, SendToDeliversMultiLineStateVerbatim)
{
    const std::string name = unique_abstract_name();
    const auto receiver = bind_unix_datagram(name);
    const std::string state = "READY=1\nSTATUS=serving 3 listeners\nMAINPID=4242";

    notify::send_to(name, state);

    EXPECT_EQ(receive(receiver.get()), state);
}

TEST(Notify, SendUsesNotifySocketFromEnvironment)
{
    const std::string name = unique_abstract_name();
    const auto receiver = bind_unix_datagram(name);
    const notify_socket_env env{name};

    std::error_code ec;
    notify::send("WATCHDOG=1", ec);

    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(receive(receiver.get()), "WATCHDOG=1");
}

TEST(Notify, UnsetNotifySocketIsNoOpSuccess)
{
    const notify_socket_env env{std::nullopt};
    std::error_code ec = std::make_error_code(std::errc::interrupted);

    notify::ready(ec);

    EXPECT_FALSE(ec);
    EXPECT_FALSE(notify::is_enabled());
    EXPECT_NO_THROW(notify::ready());
    EXPECT_NO_THROW(notify::stopping());
    EXPECT_NO_THROW(notify::reloading());
    EXPECT_NO_THROW(notify::status("idle"));
    EXPECT_NO_THROW(notify::send("READY=1"));
}

TEST(Notify, EmptyNotifySocketIsNoOpSuccess)
{
    const notify_socket_env env{std::string{}};
    std::error_code ec = std::make_error_code(std::errc::interrupted);

    notify::stopping(ec);

    EXPECT_FALSE(ec);
    EXPECT_FALSE(notify::is_enabled());
}

TEST(Notify, IsEnabledWhenNotifySocketIsSet)
{
    const notify_socket_env env{std::string{"@anything"}};

    EXPECT_TRUE(notify::is_enabled());
}

TEST(Notify, RelativePathIsInvalidSocketAddress)
{
    EXPECT_EQ(send_to_error("run/notify.sock"), notify::errc::invalid_socket_address);
}

TEST(Notify, RelativePathInEnvironmentIsInvalidSocketAddress)
{
    const notify_socket_env env{std::string{"notify.sock"}};
    std::error_code ec;

    notify::ready(ec);

    EXPECT_EQ(ec, notify::errc::invalid_socket_address);
}

TEST(Notify, EmptyAbstractNameIsInvalidSocketAddress)
{
    EXPECT_EQ(send_to_error("@"), notify::errc::invalid_socket_address);
}

TEST(Notify, EmptyExplicitAddressIsInvalidSocketAddress)
{
    EXPECT_EQ(send_to_error(""), notify::errc::invalid_socket_address);
}

TEST(Notify, AddressWithNulIsInvalidSocketAddress)
{
    using namespace std::string_view_literals;
    EXPECT_EQ(send_to_error("/tmp/a\0b"sv), notify::errc::invalid_socket_address);
}

TEST(Notify, PathLongerThanSunPathIsTooLong)
{
    const std::string path = "/" + std::string(107, 'p'); // 108 bytes: no room for the NUL
    EXPECT_EQ(send_to_error(path), notify::errc::socket_address_too_long);
}

TEST(Notify, PathOfMaximumLengthIsAccepted)
{
    const std::string path = "/" + std::string(106, 'p');      // 107 bytes + NUL fit
    EXPECT_EQ(send_to_error(path), notify::errc::send_failed); // valid, but nobody is there
}

TEST(Notify, AbstractNameLongerThanSunPathIsTooLong)
{
    const std::string name = "@" + std::string(108, 'n');
    EXPECT_EQ(send_to_error(name), notify::errc::socket_address_too_long);
}

TEST(Notify, VsockAddressIsUnsupported)
{
    EXPECT_EQ(send_to_error("vsock:2:1234"), notify::errc::unsupported_socket_address);
    EXPECT_EQ(send_to_error("vsock-dgram:2:1234"), notify::errc::unsupported_socket_address);
}

TEST(Notify, PathWithNoSocketFileIsSendFailed)
{
    const temp_dir dir;
    EXPECT_EQ(send_to_error((dir / "absent.sock").string()), notify::errc::send_failed);
}

TEST(Notify, StaleSocketFileWithNoReceiverIsSendFailed)
{
    const temp_dir dir;
    const std::string path = (dir / "stale.sock").string();
    {
        const auto receiver = bind_unix_datagram(path); // closed at once: the file remains
    }
    ASSERT_EQ(::access(path.c_str(), F_OK), 0);

    EXPECT_EQ(send_to_error(path), notify::errc::send_failed);
}

TEST(Notify, ThrowingSendNamesAddressAndReason)
{
    const temp_dir dir;
    const std::string path = (dir / "absent.sock").string();
    try {
        notify::send_to(path, "READY=1");
        FAIL() << "send_to did not throw";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), notify::errc::send_failed);
        const std::string what = e.what();
        EXPECT_NE(what.find(path), std::string::npos) << what;
        EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
    }
}

TEST(Notify, ThrowingReadyReportsBadEnvironmentAddress)
{
    const notify_socket_env env{std::string{"vsock:2:99"}};
    try {
        notify::ready();
        FAIL() << "ready did not throw";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), notify::errc::unsupported_socket_address);
        EXPECT_NE(std::string{e.what()}.find("vsock:2:99"), std::string::npos) << e.what();
    }
}

TEST(Notify, StoppingPayloadIsExact)
{
    const std::string name = unique_abstract_name();
    const auto receiver = bind_unix_datagram(name);
    const notify_socket_env env{name};

    notify::stopping();

    EXPECT_EQ(receive(receiver.get()), "STOPPING=1");
}

TEST(Notify, StatusPayloadIsExact)
{
    const std::string name = unique_abstract_name();
    const auto receiver = bind_unix_datagram(name);
    const notify_socket_env env{name};

    std::error_code ec;
    notify::status("generation 3: 2 workers, draining 1", ec);

    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(receive(receiver.get()), "STATUS=generation 3: 2 workers, draining 1");
}

TEST(Notify, ReloadingCarriesCurrentMonotonicMicroseconds)
{
    const std::string name = unique_abstract_name();
    const auto receiver = bind_unix_datagram(name);
    const notify_socket_env env{name};

    const std::uint64_t before = monotonic_usec();
    notify::reloading();
    const std::uint64_t after = monotonic_usec();

    const std::string message = receive(receiver.get());
    const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
    ASSERT_EQ(message.substr(0, prefix.size()), prefix) << message;
    const std::string digits = message.substr(prefix.size());
    ASSERT_FALSE(digits.empty());
    ASSERT_EQ(digits.find_first_not_of("0123456789"), std::string::npos) << message;
    const std::uint64_t usec = std::stoull(digits);
    EXPECT_LE(before, usec);
    EXPECT_LE(usec, after);
}

TEST(Notify, StatusWithNewlineIsInvalidStateEvenWithoutReceiver)
{
    const notify_socket_env env{std::nullopt};
    std::error_code ec;

    notify::status("two\nlines", ec);

    EXPECT_EQ(ec, notify::errc::invalid_state);
    EXPECT_THROW(notify::status("READY=1\nSTATUS=x"), std::system_error);
}

TEST(Notify, EmptyOrNulStateIsInvalidState)
{
    using namespace std::string_view_literals;
    const notify_socket_env env{std::nullopt};
    std::error_code ec;

    notify::send("", ec);
    EXPECT_EQ(ec, notify::errc::invalid_state);

    notify::send("READY=1\0"sv, ec);
    EXPECT_EQ(ec, notify::errc::invalid_state);

    EXPECT_EQ(send_to_error(unique_abstract_name(), ""), notify::errc::invalid_state);
}

TEST(Notify, SuccessClearsPreviousError)
{
    const std::string name = unique_abstract_name();
    const auto receiver = bind_unix_datagram(name);
    std::error_code ec = notify::errc::send_failed;

    notify::send_to(name, "READY=1", ec);

    EXPECT_FALSE(ec);
}

TEST(NotifyError, CategoryIsNamedAndEveryCodeHasAnActionableMessage)
{
    EXPECT_STREQ(notify::category().name(), "baton.notify");
    for (const notify::errc e :
         {notify::errc::invalid_socket_address, notify::errc::send_failed,
          notify::errc::socket_address_too_long, notify::errc::unsupported_socket_address,
          notify::errc::socket_failed, notify::errc::invalid_state}) {
        const std::error_code ec = e; // implicit: errc is an error-code enum
        EXPECT_EQ(&ec.category(), &notify::category());
        EXPECT_GT(ec.message().size(), 20U);
        EXPECT_EQ(ec.message().find("unknown"), std::string::npos);
    }
    EXPECT_EQ(notify::make_error_code(notify::errc::send_failed).value(), 2);
}
