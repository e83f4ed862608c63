// SPDX-License-Identifier: MIT
#include "daemon.hpp"
#include "support/loopback.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <string_view>

namespace {

using baton::starter::errc;
using baton::starter::open_log_target;
using baton::starter::setup_error;

TEST(LogFile, FileIsCreatedAndAppendedTo)
{
    const baton::test::temp_dir dir;
    const std::string path = dir / "log";
    std::ofstream(path) << "earlier\n";
    setup_error err;
    const auto fd = open_log_target(path, err);
    ASSERT_TRUE(fd.is_open()) << err.message;
    EXPECT_FALSE(err);
    const std::string_view line = "starting now\n";
    ASSERT_EQ(::write(fd.get(), line.data(), line.size()), static_cast<ssize_t>(line.size()));
    EXPECT_EQ(baton::test::read_file(path), "earlier\nstarting now\n");
}

TEST(LogFile, DescriptorIsCloseOnExec)
{
    const baton::test::temp_dir dir;
    setup_error err;
    const auto fd = open_log_target(dir / "log", err);
    ASSERT_TRUE(fd.is_open()) << err.message;
    EXPECT_NE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0); // workers get stderr, not this
}

TEST(LogFile, UnopenableFileIsReportedWithThePath)
{
    const baton::test::temp_dir dir;
    const std::string path = dir / "no/such/dir/log";
    setup_error err;
    EXPECT_FALSE(open_log_target(path, err).is_open());
    EXPECT_EQ(err.code, make_error_code(errc::log_file_failed));
    EXPECT_EQ(err.message, "failed to open log file:" + path + ": No such file or directory");
}

} // namespace
