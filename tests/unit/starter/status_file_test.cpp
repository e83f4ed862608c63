// SPDX-License-Identifier: MIT
#include "status_file.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace {

using namespace baton::starter;

TEST(StatusFile, OrdersGenerationsNumericallyNotAsStrings)
{
    EXPECT_EQ(format_status({{10, 300}, {9, 200}, {2, 100}}), "2:100\n9:200\n10:300\n");
}

TEST(StatusFile, EmptyWhenNoWorkerLives)
{
    EXPECT_EQ(format_status({}), "");
}

TEST(StatusFile, ParsesGenerationsIgnoringOtherLines)
{
    EXPECT_EQ(parse_status_generations("10:300\n9:200\njunk\n:5\n9:201\n"),
              (std::vector<unsigned long>{9, 10}));
}

TEST(StatusFile, WritesAtomicallyThroughARename)
{
    char dir[] = "/tmp/baton-status-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string path = std::string(dir) + "/status";
    ASSERT_FALSE(write_status_file(path, "1:42\n"));
    ASSERT_FALSE(write_status_file(path, "2:43\n"));
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    EXPECT_EQ(s.str(), "2:43\n");
    // no temporary file left next to it
    EXPECT_NE(::access((path + "." + std::to_string(::getpid())).c_str(), F_OK), 0);
    ::unlink(path.c_str());
    ::rmdir(dir);
}

TEST(StatusFile, ReportsAnUnwritableDirectory)
{
    EXPECT_TRUE(write_status_file("/nonexistent-dir/status", "1:1\n"));
}

} // namespace
