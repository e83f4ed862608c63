// SPDX-License-Identifier: MIT
#include "restart_record.hpp"

#include <gtest/gtest.h>

namespace {

using namespace baton::starter;

TEST(RestartRecord, FormatsOneLinePerKnownEvent)
{
    restart_record r;
    r.hups = 3;
    r.started = restart_attempt{5, 3, 1234, {}};
    r.failed = restart_attempt{5, 3, 1234, "exit status:65280"};
    EXPECT_EQ(format_restart_record(r),
              "hups 3\nstarted 5 3 1234\nfailed 5 3 1234 exit status:65280\n");
    EXPECT_EQ(format_restart_record(restart_record{}), "hups 0\n");
}

TEST(RestartRecord, ParsesWhatItFormats)
{
    restart_record r;
    r.hups = 7;
    r.started = restart_attempt{9, 7, 4321, {}};
    r.ready = restart_attempt{8, 6, 4300, {}};
    r.failed = restart_attempt{9, 7, -1, "fork failed"};
    EXPECT_EQ(parse_restart_record(format_restart_record(r)), r);
}

TEST(RestartRecord, SkipsUnknownAndMalformedLines)
{
    const auto r = parse_restart_record("hups 2\nnews 1 2 3\nready x 1 2\nready 4 2 99");
    EXPECT_EQ(r.hups, 2U);
    EXPECT_EQ(r.ready, (restart_attempt{4, 2, 99, {}}));
    EXPECT_FALSE(r.started);
    EXPECT_EQ(parse_restart_record(""), restart_record{});
}

TEST(RestartRecord, LivesNextToTheStatusFile)
{
    EXPECT_EQ(restart_record_path("/run/app.status"), "/run/app.status.restart");
}

} // namespace
