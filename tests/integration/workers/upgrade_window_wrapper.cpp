// SPDX-License-Identifier: MIT
// start_server with a long upgrade window, for tests/integration/starter_upgrade_window_test.cpp.
//
// A test starts start_server through this program: it executes BATON_WRAPPED_START_SERVER
// with its own argv (argv[0], this program's absolute path, included) and environment, so
// start_server resolves its executable to this program and every upgrade runs it again. When
// it runs as an upgrade's take-over (`--baton-state-fd=N` first), it sleeps
// BATON_UPGRADE_WINDOW_MS (700 by default) before that execve: the window in which the old
// image is gone and the new one not yet reading its signals, made long enough for a test to
// aim at. It keeps the signal mask it inherited (a shell would reset it, and a pending TERM
// would kill it), so what start_server blocks stays pending, as across a plain execve. The
// preflight (`--baton-upgrade-check`) and a first start run without the delay.
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

constexpr long default_window_ms = 700;
constexpr long max_window_ms = 5000; // below the tests' waits: a typo cannot hang them

long window_ms()
{
    const char* text = std::getenv("BATON_UPGRADE_WINDOW_MS");
    if (text == nullptr)
        return default_window_ms;
    char* end = nullptr;
    const long ms = std::strtol(text, &end, 10);
    return end != text && *end == '\0' && ms >= 0 && ms <= max_window_ms ? ms : default_window_ms;
}

} // namespace

int main(int argc, char** argv)
{
    const char* target = std::getenv("BATON_WRAPPED_START_SERVER");
    if (target == nullptr || target[0] != '/') {
        std::fputs("upgrade_window_wrapper: BATON_WRAPPED_START_SERVER is not an absolute path\n",
                   stderr);
        return 2;
    }
    if (argc >= 2 && std::string_view(argv[1]).starts_with("--baton-state-fd=")) {
        const long ms = window_ms();
        timespec left{ms / 1000, (ms % 1000) * 1'000'000};
        // Blocked signals do not interrupt it; an unblocked one that is caught would.
        while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
        }
    }
    ::execv(target, argv);
    std::fprintf(stderr, "upgrade_window_wrapper: %s: %s\n", target, std::strerror(errno));
    return 127;
}
