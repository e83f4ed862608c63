// SPDX-License-Identifier: MIT
#include "start_server.hpp"

#include "clients.hpp"
#include "common/unique_fd.hpp"
#include "log.hpp"
#include "options.hpp"
#include "show_status.hpp"
#include "status_report.hpp"
#include "supervisor.hpp"
#include "upgrade.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace baton::starter {

namespace {

// An upgraded image (or its preflight, `is_check`): the record its predecessor left on `fd`.
// A test hook makes a new image refuse it, as one that cannot read the state would: at the
// preflight and the take-over, or with `after-check` at the take-over alone (the
// rolled-back image, started with --baton-upgrade-failed, reads it).
std::optional<upgrade_state> take_record(int fd, const invocation& self, bool is_check,
                                         std::string& error)
{
    std::optional<upgrade_state> r;
    if (const auto text = read_state(fd, max_record_bytes, error))
        r = read_record(*text, error);
    const char* hook = std::getenv("BATON_TEST_REFUSE_UPGRADE_STATE");
    if (r && !self.failed_upgrade && hook != nullptr &&
        !(is_check && std::string_view(hook) == "after-check")) {
        error = "refused (BATON_TEST_REFUSE_UPGRADE_STATE)";
        r.reset();
    }
    return r;
}

// The record cannot be taken over: back to the image before, which resumes from it. Returns
// only when that is impossible too.
int roll_back(const invocation& self, int rollback_fd, int state_fd, const std::string& why)
{
    if (rollback_fd >= 0 && !self.failed_upgrade) {
        log_line::write("upgrade failed: state: " + why + "; rolling back");
        set_cloexec(rollback_fd, true); // the image it runs opens its own
        const std::string reason = exec_rollback(self, rollback_fd, state_fd, "state: " + why);
        log_line::write("upgrade failed: rollback: " + reason);
    } else {
        log_line::write("upgrade failed: state: " + why);
    }
    return exit_setup;
}

} // namespace

int start_server_main(int argc, char** argv)
{
    auto self = current_invocation(argc, argv);
    std::string error;
    const bool is_check = self.argv.size() >= 2 && self.argv[1] == check_option;
    if (is_check)
        self.argv.erase(self.argv.begin() + 1);
    const int state_fd = take_state_fd(self, error);
    if (state_fd == -2) {
        log_line::write(error);
        return exit_usage;
    }
    const int rollback_fd = take_fd_option(self, rollback_fd_option, error);
    self.failed_upgrade = take_failed_option(self);
    if (rollback_fd == -2) {
        log_line::write(error);
        return exit_usage;
    }
    std::optional<upgrade_state> resumed;
    if (is_check) { // the preflight of an upgrade to this image: read the state, nothing else
        if (state_fd < 0) {
            log_line::write("start_server: " + std::string(check_option) + " needs " +
                            std::string(state_fd_option) + "N");
            return exit_usage;
        }
        const auto r = take_record(state_fd, self, true, error);
        if (!r) {
            log_line::write("state: " + error);
            return exit_setup;
        }
        std::printf("start_server %.*s reads the state of %s (format %u.%u)\n",
                    static_cast<int>(baton_version().size()), baton_version().data(),
                    log_line::printable(r->writer).c_str(), r->version.major, r->version.minor);
        return exit_ok;
    }
    if (state_fd >= 0) {
        resumed = take_record(state_fd, self, false, error);
        if (!resumed)
            return roll_back(self, rollback_fd, state_fd, error);
        ::close(state_fd);
        if (rollback_fd >= 0)
            ::close(rollback_fd); // this image keeps a descriptor of its own

        if (!resumed->exe.empty())
            self.exe = resumed->exe; // the first image's resolution, for every later upgrade
    }
    std::vector<std::string> args(self.argv.begin() + (self.argv.empty() ? 0 : 1), self.argv.end());
    options_error err;
    const auto opts = parse_options(args, err);
    if (!opts) {
        log_line::write(err.message);
        return exit_usage;
    }
    for (const auto& line : opts->warnings)
        log_line::write(line);
    switch (opts->what) {
    case mode::help:
        std::fwrite(help_text().data(), 1, help_text().size(), stdout);
        return exit_ok;
    case mode::version:
        std::printf("%.*s\n", static_cast<int>(version_text.size()), version_text.data());
        return exit_ok;
    case mode::restart:
        return run_restart(*opts);
    case mode::stop:
        return run_stop(*opts);
    case mode::show_status:
        return run_show_status(*opts);
    case mode::upgrade:
        return run_upgrade(*opts);
    case mode::run:
        break;
    }
    return run_supervisor(*opts, self, resumed ? &*resumed : nullptr);
}

} // namespace baton::starter
