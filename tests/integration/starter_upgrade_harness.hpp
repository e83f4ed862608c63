#pragma once
// SPDX-License-Identifier: MIT
// What start_server's upgrade tests share on top of starter_harness.hpp: a start_server
// with a pid file and a status file in a scratch directory, serving the fixture worker on
// 127.0.0.1, and the waits on what its upgrades log.

#include "starter_harness.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace starter_test {

struct upgrade_test : ::testing::Test {
    temp_dir dir;
    std::uint16_t port = 0; ///< the listener's, once a test has learnt it
    std::string status = (dir / "status").string();
    std::string pid_file = (dir / "pid").string();

    /// start_server's command line, run as `exe` (what its upgrades execute again).
    std::vector<std::string> argv(const std::string& exe) const
    {
        return {exe,
                "--port=127.0.0.1:0",
                "--interval=0",
                "--status-file=" + status,
                "--pid-file=" + pid_file,
                "--",
                worker()};
    }

    bool serves_generation(long gen)
    {
        return wait_until([&] { return generation_of(ask(port)) == gen; });
    }

    /// How many upgrades `s` has logged as done.
    static std::size_t upgrades_logged(const child_process& s)
    {
        return count_of(s.output(), "start_server upgraded in ");
    }
};

} // namespace starter_test
