#pragma once
// SPDX-License-Identifier: MIT

// The running start_server's side of `--show-status`: keeps the status snapshot
// (status_report.hpp) beside the pid file current, and removes it at exit.

#include "machine.hpp"
#include "status_report.hpp"

#include <optional>
#include <string>

namespace baton::starter {

class status_publisher {
public:
    /// Publishes nothing when `pid_file` is unset (there is no place for a snapshot).
    /// `is_resumed`: an upgraded image, which first takes its predecessor's snapshot (resume).
    status_publisher(const std::optional<std::string>& pid_file, starter_facts facts,
                     bool is_resumed = false);
    status_publisher(const status_publisher&) = delete;
    status_publisher& operator=(const status_publisher&) = delete;
    ~status_publisher(); ///< removes the snapshot this process wrote

    /// Called once per turn of the loop: writes a new snapshot (temp file + rename) when
    /// anything in it changed since the last one written.
    void update(const machine_state& m, clock::time_point now);

    /// An upgraded image: take the snapshot its predecessor (this pid) left as the last one
    /// written, so what it alone knew (when each worker became ready) carries over.
    void resume();

    /// What start_server knows about itself (the upgrade code keeps the counters here).
    starter_facts& facts() noexcept { return facts_; }

private:
    std::string path_;
    starter_facts facts_;
    std::optional<status_snapshot> last_;
    bool is_written_ = false;
    bool is_failing_ = false; ///< the last write failed (logged once until one succeeds)
};

} // namespace baton::starter
