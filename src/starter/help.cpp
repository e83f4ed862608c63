// SPDX-License-Identifier: MIT
// The --help text. docs/start_server.md carries the same text (a test diffs the two).
#include "options.hpp"

namespace baton::starter {

std::string_view help_text() noexcept
{
    return R"(Usage: start_server [options] -- server-prog server-arg1 server-arg2 ...

A superdaemon for hot-deploying server programs (a drop-in for Server::Starter 0.35).
It binds the sockets once, runs the program with them, and on SIGHUP starts a new
generation, retiring the old one only once the new one is up.

Options (Getopt::Long rules: --opt=v or --opt v, one dash is enough, unique prefixes):
  --port=[HOST:][u]PORT[=FD]  TCP (UDP with u) socket to bind; repeatable; [V6ADDR]:PORT
                              for IPv6; =FD moves the socket to descriptor FD (0 included)
  --path=PATH                 unix stream socket to listen on; repeatable
  --dir=DIR                   working directory of the workers
  --interval=SECONDS          a new worker alive this long counts as started (default 1)
  --signal-on-hup=SIGNAL      signal for old workers after a restart (default TERM)
  --signal-on-term=SIGNAL     signal for workers when start_server gets TERM (default TERM)
  --pid-file=FILE             write start_server's pid to FILE, locked while it runs
  --status-file=FILE          write GEN:PID of each live worker to FILE
  --envdir=DIR                directory of environment variables, re-read for every spawn
  --log-file=FILE|"| CMD"     append stdout and stderr to FILE, or pipe them to CMD
  --daemonize                 run in the background (needs --log-file)
  --enable-auto-restart       restart the worker every --auto-restart-interval
  --auto-restart-interval=S   seconds between automatic restarts (default 360)
  --kill-old-delay=SECONDS    wait before signalling old workers (default 0, 5 with
                              auto-restart)
  --backlog=N                 listen(2) backlog (default SOMAXCONN)
  --readiness=interval|notify how a new generation counts as started: alive after
                              --interval (default), or READY=1 on NOTIFY_SOCKET
  --ready-timeout=SECONDS     a new generation not ready by then is a failed start
  --shutdown-timeout=SECONDS  SIGKILL workers still alive this long after their signal
  --drain-delay=SECONDS       on a stop, report not ready (--health) and keep serving
                              this long before the workers get their signal (default 0)
  --health=[HOST:]PORT        answer GET/HEAD /readyz and /livez there (load balancers)
  --restart                   restart the running start_server and wait for it
                              (needs --pid-file and --status-file)
  --stop                      stop the running start_server and wait for it
                              (needs --pid-file)
  --show-status               print the running start_server's status: workers,
                              restarts, backoff (needs --pid-file; only in full)
  --json                      with --show-status: one JSON object instead of text
  --upgrade                   upgrade the running start_server in place (USR2) and
                              wait for the result (needs --pid-file)
  --help                      print this text
  --version                   print the version

Signals: HUP restarts; TERM stops (workers get --signal-on-term); INT and QUIT stop
(workers get TERM); a second stop signal ends a --drain-delay; USR2 upgrades start_server
in place (same pid, workers kept); USR1 is ignored.
)";
}

} // namespace baton::starter
