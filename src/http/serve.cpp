// SPDX-License-Identifier: MIT
#include <baton/http/serve.hpp>
#include <baton/notify.hpp>

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>

namespace baton::http {

namespace {

// Wait up to `delay` for another of `signals` (an operator who insists); true if one came.
bool wait_for_signal(const sigset_t& signals, std::chrono::milliseconds delay)
{
    using clock = std::chrono::steady_clock;
    const auto end = clock::now() + delay;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(end - clock::now());
        if (left.count() <= 0)
            return false;
        const timespec ts{static_cast<time_t>(left.count() / 1'000'000'000),
                          static_cast<long>(left.count() % 1'000'000'000)};
        if (sigtimedwait(&signals, nullptr, &ts) > 0)
            return true;
        if (errno != EINTR)
            return false; // EAGAIN: the delay is over
    }
}

} // namespace

boost::system::error_code serve_until_signal(server& s, const serve_options& opts)
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigset_t previous;
    pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);

    s.start();               // the loop and pool threads inherit the blocked signals
    std::error_code ignored; // without NOTIFY_SOCKET, notify is a no-op
    if (opts.on_ready)
        opts.on_ready();
    else
        baton::notify::ready(ignored);

    int signal_number = 0;
    while (sigwait(&stop_signals, &signal_number) != 0) {
    }
    // Under a starter the signal retires this generation: the next one serves the listener.
    const bool is_delayed =
        opts.drain_delay.count() > 0 && std::getenv("SERVER_STARTER_PORT") == nullptr;
    if (is_delayed)
        s.leave_pool();
    if (opts.on_stopping)
        opts.on_stopping();
    else
        baton::notify::stopping(ignored);
    if (is_delayed)
        (void)wait_for_signal(stop_signals, opts.drain_delay);

    auto ec = s.shutdown(opts.drain_timeout);
    if (ec)
        s.close();
    s.join();

    // A second SIGTERM during the drain is pending: take it, so that unblocking does not
    // turn it into a kill after a clean drain.
    timespec zero{0, 0};
    while (sigtimedwait(&stop_signals, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return ec;
}

} // namespace baton::http
