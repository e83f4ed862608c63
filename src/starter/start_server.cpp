// SPDX-License-Identifier: MIT
#include "start_server.hpp"

#include "clients.hpp"
#include "common/unique_fd.hpp"
#include "log.hpp"
#include "options.hpp"
#include "supervisor.hpp"
#include "upgrade.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace baton::starter {

namespace {

// An upgraded image: the record its predecessor left on `fd` (the descriptor closed).
std::optional<upgrade_state> take_record(int fd, std::string& error)
{
    const detail::unique_fd owned(fd);
    std::optional<upgrade_state> r;
    if (const auto text = read_state(fd, max_record_bytes, error))
        r = read_record(*text, error);
    return r;
}

} // namespace

int start_server_main(int argc, char** argv)
{
    auto self = current_invocation(argc, argv);
    std::string error;
    const int state_fd = take_state_fd(self, error);
    if (state_fd == -2) {
        log_line::write(error);
        return exit_usage;
    }
    std::optional<upgrade_state> resumed;
    if (state_fd >= 0) {
        resumed = take_record(state_fd, error);
        if (!resumed) {
            log_line::write("upgrade failed: state: " + error);
            return exit_setup;
        }
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
    case mode::run:
        break;
    }
    return run_supervisor(*opts, self, resumed ? &*resumed : nullptr);
}

} // namespace baton::starter
