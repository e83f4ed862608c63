// SPDX-License-Identifier: MIT
#include "status_publisher.hpp"

#include "file_text.hpp"
#include "log.hpp"
#include "status_file.hpp"

#include <unistd.h>

#include <utility>

namespace baton::starter {

status_publisher::status_publisher(const std::optional<std::string>& pid_file, starter_facts facts,
                                   bool is_resumed)
    : path_(pid_file ? status_snapshot_path(*pid_file) : std::string())
    , facts_(std::move(facts))
{
    if (is_resumed)
        resume();
}

status_publisher::~status_publisher()
{
    if (is_written_)
        ::unlink(path_.c_str());
}

void status_publisher::resume()
{
    if (path_.empty())
        return;
    const auto text = read_text_file(path_);
    std::string error;
    auto before = text ? read_snapshot(*text, error) : std::nullopt;
    if (before && before->starter.pid == ::getpid()) { // another format or a stale file: none
        last_ = std::move(before);
        is_written_ = true;
    }
}

void status_publisher::update(const machine_state& m, clock::time_point now)
{
    if (path_.empty())
        return;
    status_snapshot next = make_snapshot(facts_, m, last_ ? &*last_ : nullptr, now);
    if (last_ && next == *last_)
        return;
    if (const auto ec = write_status_file(path_, write_snapshot(next))) {
        if (!is_failing_)
            log_line::write("failed to write status snapshot " + path_ + ": " + ec.message());
        is_failing_ = true;
        return; // tried again on the next turn
    }
    is_failing_ = false;
    is_written_ = true;
    last_ = std::move(next);
}

} // namespace baton::starter
