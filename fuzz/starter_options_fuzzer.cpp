// SPDX-License-Identifier: MIT

// start_server's command line: argv is the input split at NUL bytes. Parsing never crashes;
// a failure always has a one-line message, and so has each warning; a success names a
// program unless a client mode, help or version was asked for; every --port value it accepts
// parses as a port spec or is reported at bind time (parse_port_spec must not crash on it).
#include "options.hpp"
#include "port_spec.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    namespace bs = baton::starter;
    std::vector<std::string> args(1);
    for (std::size_t i = 0; i < size; ++i) {
        if (data[i] == 0)
            args.emplace_back();
        else
            args.back().push_back(static_cast<char>(data[i]));
    }
    bs::options_error err;
    const auto opts = bs::parse_options(args, err);
    if (!opts) {
        if (err.message.empty() || err.message.find('\n') != std::string::npos)
            __builtin_trap();
        return 0;
    }
    if (opts->what == bs::mode::run && opts->command.empty())
        __builtin_trap();
    for (const auto& w : opts->warnings)
        if (w.find('\n') != std::string::npos)
            __builtin_trap();
    for (const auto& p : opts->ports)
        (void)bs::parse_port_spec(p);
    return 0;
}
