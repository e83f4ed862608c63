// SPDX-License-Identifier: MIT
#include "worker_env.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace {

using namespace baton::starter;

struct WorkerEnv : ::testing::Test {
    std::string dir;

    void SetUp() override
    {
        char t[] = "/tmp/baton-envdir-XXXXXX";
        ASSERT_NE(::mkdtemp(t), nullptr);
        dir = t;
    }

    void TearDown() override { [[maybe_unused]] int rc = std::system(("rm -rf " + dir).c_str()); }

    void put(const std::string& name, const std::string& text)
    {
        std::ofstream(dir + "/" + name) << text;
    }
};

TEST_F(WorkerEnv, EnvdirTakesTheFirstLineOfEachVisibleFile)
{
    put("A", "one\ntwo\n");
    put("B", "trailing  \n");
    put("C", "");
    put(".hidden", "x\n");
    const auto env = read_envdir(dir);
    EXPECT_EQ(env, (env_map{{"A", "one"}, {"B", "trailing  "}, {"C", ""}}));
}

TEST_F(WorkerEnv, MissingEnvdirIsEmpty)
{
    EXPECT_TRUE(read_envdir(dir + "/nope").empty());
}

TEST_F(WorkerEnv, OverlayReplacesAndARemovedFileFallsBackToTheBase)
{
    const env_map base{{"A", "base"}, {"KEEP", "1"}};
    put("A", "dir\n");
    EXPECT_EQ(merge(base, read_envdir(dir)), (env_map{{"A", "dir"}, {"KEEP", "1"}}));
    ASSERT_EQ(::unlink((dir + "/A").c_str()), 0);
    EXPECT_EQ(merge(base, read_envdir(dir)), base);
}

TEST_F(WorkerEnv, NumbersAndTruthAsPerlReadsThem)
{
    const env_map env{{"N", "12abc"}, {"Z", "0"}, {"E", ""}, {"T", "yes"}};
    EXPECT_EQ(env_number(env, "N", 5), 12);
    EXPECT_EQ(env_number(env, "MISSING", 5), 5);
    EXPECT_FALSE(env_true(env, "Z"));
    EXPECT_FALSE(env_true(env, "E"));
    EXPECT_FALSE(env_true(env, "MISSING"));
    EXPECT_TRUE(env_true(env, "T"));
}

TEST_F(WorkerEnv, FormatsKeyValueStrings)
{
    EXPECT_EQ(to_strings(env_map{{"A", "1"}, {"B", "x=y"}}),
              (std::vector<std::string>{"A=1", "B=x=y"}));
}

} // namespace
