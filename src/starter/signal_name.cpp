// SPDX-License-Identifier: MIT
#include "signal_name.hpp"

#include <charconv>
#include <csignal>

namespace baton::starter {

namespace {

struct signal_entry {
    std::string_view name;
    int number;
};

constexpr signal_entry signal_table[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},   {"IOT", SIGIOT},   {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL},   {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},   {"ALRM", SIGALRM}, {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},   {"CLD", SIGCHLD},  {"CONT", SIGCONT},
    {"STOP", SIGSTOP},     {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},
    {"URG", SIGURG},       {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF},     {"WINCH", SIGWINCH}, {"IO", SIGIO},     {"POLL", SIGPOLL},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

} // namespace

std::optional<named_signal> parse_signal(std::string_view name)
{
    for (const auto& s : signal_table)
        if (s.name == name)
            return named_signal{s.number, std::string(name)};
    int n = 0;
    const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
    if (!name.empty() && ec == std::errc{} && ptr == name.data() + name.size() && n > 0 && n < NSIG)
        return named_signal{n, std::string(name)};
    return std::nullopt;
}

named_signal signal_of(int number)
{
    for (const auto& s : signal_table)
        if (s.number == number)
            return {number, std::string(s.name)};
    return {number, "SIG?"};
}

} // namespace baton::starter
