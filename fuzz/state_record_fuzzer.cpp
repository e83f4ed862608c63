// SPDX-License-Identifier: MIT

// The upgrade record from any bytes: reading never crashes; a refusal always has a one-line
// message; whatever reads writes back to a record that reads again and writes the same text;
// a machine resumed from it survives a tick at its next deadline and a stop.
#include "state_record.hpp"

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

namespace bs = baton::starter;

// Effects that do nothing: only the machine's own logic runs.
class no_effects final : public bs::effects {
public:
    pid_t spawn(unsigned long) override { return next_pid++; }

    void send_signal(pid_t, int) override {}

    void log(std::string_view) override {}

    void status_changed(const std::vector<std::pair<unsigned long, pid_t>>&) override {}

    void tell_systemd(std::string_view) override {}

    pid_t next_pid = 1;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    const auto state = bs::read_record(text, error);
    if (!state) {
        if (error.empty() || error.find('\n') != std::string::npos)
            __builtin_trap();
        return 0;
    }
    const std::string written = bs::write_record(*state);
    const auto again = bs::read_record(written, error);
    if (!again || bs::write_record(*again) != written)
        __builtin_trap();

    no_effects fx;
    bs::machine m(bs::machine_settings{}, fx, state->machine);
    if (const auto next = m.next_deadline())
        m.on_tick(*next);
    m.on_stop("TERM", bs::signal_of(SIGTERM), bs::clock::time_point(std::chrono::hours(1)));
    return 0;
}
