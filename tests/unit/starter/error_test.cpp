// SPDX-License-Identifier: MIT
#include "error.hpp"

#include <gtest/gtest.h>

namespace {

using baton::starter::errc;

TEST(StarterError, EveryCodeHasAMessageInTheStarterCategory)
{
    for (int e = static_cast<int>(errc::bad_port_spec); e <= static_cast<int>(errc::health_failed);
         ++e) {
        const std::error_code ec = static_cast<errc>(e);
        EXPECT_STREQ(ec.category().name(), "baton.starter");
        EXPECT_NE(ec.message(), "unknown start_server error") << e;
    }
    EXPECT_EQ(std::error_code(errc::bind_failed).message(), "could not bind the address");
}

TEST(StarterError, SetupErrorIsFalseUntilSet)
{
    baton::starter::setup_error err;
    EXPECT_FALSE(err);
    err = {errc::bind_failed, "failed to bind to 8080:Address already in use"};
    EXPECT_TRUE(err);
}

} // namespace
