// SPDX-License-Identifier: MIT
#include <baton/http/serve.hpp>
#include <baton/notify.hpp>

#include <pthread.h>
#include <signal.h>

#include <ctime>

namespace baton::http {

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
    if (opts.on_stopping)
        opts.on_stopping();
    else
        baton::notify::stopping(ignored);

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
