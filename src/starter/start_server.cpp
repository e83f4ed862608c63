// SPDX-License-Identifier: MIT
#include "start_server.hpp"

#include "clients.hpp"
#include "log.hpp"
#include "options.hpp"
#include "show_status.hpp"
#include "supervisor.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace baton::starter {

int start_server_main(int argc, char** argv)
{
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i)
        args.emplace_back(argv[i]);
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
    case mode::run:
        break;
    }
    return run_supervisor(*opts);
}

} // namespace baton::starter
