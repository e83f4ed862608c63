#pragma once
// SPDX-License-Identifier: MIT

// The supervisor's state machine, without processes, clocks or descriptors: events come in
// as method calls carrying the time, effects go out through `effects`. The supervisor loop
// (supervisor.cpp) feeds it real events; the unit tests feed it scripted ones.
//
// clang-format off
//  state      | HUP             | stop     | a worker exits    | READY=1  | a deadline passes
//  -----------+-----------------+----------+-------------------+----------+--------------------
//  restarting | coalesce (start | stopping | candidate: failed | running  | interval: running;
//             | now if between  |          | start, paced      | (notify) | ready timeout: KILL,
//             | tries)          |          | retry             |          | retry; retry is due
//  running    | restarting      | stopping | current: respawn  | -        | auto-restart
//  stopping   | ignored         | ignored  | reaped; none      | -        | -
//             |                 |          | left: stopped     |          |
//  With --drain-delay a stop first waits in its state (restarting or running) with
//  readiness off and HUPs ignored; the delay's end, or a second stop, goes to stopping.
//  A current worker that dies during the delay is respawned as in running: the host is
//  still taking connections until the delay ends, and someone must serve them.
//  In every state an old worker is reaped when it exits, signalled when its kill-old delay
//  ends and sent KILL after --shutdown-timeout; machine::deadlines() lists every timer.
// clang-format on

#include "options.hpp"
#include "restart_record.hpp"
#include "signal_name.hpp"

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::starter {

using clock = std::chrono::steady_clock;

/// The supervisor's states (docs/design.md §2).
enum class state {
    restarting, ///< a new generation is being started (the first one included)
    running,    ///< the current generation is up; old ones may still be draining
    stopping,   ///< the stop signal went to every worker; waiting for them to exit
    stopped,    ///< every worker is gone: the supervisor exits
};

/// What the machine needs to know; the runtime part may change on every event (envdir).
struct machine_settings {
    readiness ready_mode = readiness::interval;
    std::chrono::milliseconds interval{1000};
    std::optional<std::chrono::milliseconds> ready_timeout;
    std::optional<std::chrono::milliseconds> shutdown_timeout;
    named_signal signal_on_hup;             ///< what old generations get
    std::chrono::seconds kill_old_delay{0}; ///< KILL_OLD_DELAY (default 5 with auto-restart)
    bool is_auto_restart = false;           ///< ENABLE_AUTO_RESTART
    std::chrono::seconds auto_restart_interval{360};
    /// `--drain-delay`: between a stop signal and the workers' signal, readiness is off and
    /// the workers serve on, so a load balancer stops sending before the listeners close.
    std::chrono::milliseconds drain_delay{0};
};

/// What the host offers a load balancer (start_server's `/readyz`).
enum class serving {
    starting,  ///< no generation has been ready yet
    ready,     ///< a generation serves and no stop was asked for
    no_worker, ///< the serving generation died and none has replaced it yet
    stopping,  ///< a stop was asked for (the drain delay included)
};

struct service_status {
    serving what = serving::starting;
    unsigned long generation = 0; ///< the serving generation, when `what` is ready
};

/// Everything the machine knows besides its settings, in one value: what a re-executed
/// start_server would carry across, and what a machine can be resumed from.
struct machine_state {
    /// A started generation.
    struct worker {
        pid_t pid = -1;
        unsigned long generation = 0;
        clock::time_point spawned;
        unsigned long hups = 0; ///< HUPs counted when it was spawned
    };

    /// An old generation, retired when a newer one came up or at a stop.
    struct retired {
        unsigned long generation = 0;
        std::optional<clock::time_point> signal_at;    ///< kill-old-delay pending
        std::optional<clock::time_point> signalled_at; ///< signal sent at
        bool is_killed = false;                        ///< SIGKILL sent
    };

    enum class restart_kind { initial, respawn, hup };

    state phase = state::restarting;
    restart_kind kind = restart_kind::initial; ///< what the restart under way is for
    unsigned long generation = 0;              ///< the last generation number attempted
    std::optional<worker> current;             ///< the generation serving
    std::optional<worker> candidate;           ///< the generation starting
    std::map<pid_t, retired> old;              ///< by pid
    std::set<pid_t> doomed;                    ///< failed candidates sent SIGKILL, not reaped yet
    clock::time_point next_spawn_at{};         ///< the next attempt, when none is under way
    clock::time_point last_spawn_at{};
    clock::time_point last_restart{}; ///< auto-restart counts from here
    unsigned failures = 0;            ///< failed starts in a row
    restart_record record;
    bool is_hup_pending = false; ///< a HUP came during a start: one more restart follows

    /// A stop signal that arrived with --drain-delay: carried out at `until` (or at once
    /// when another stop signal comes first).
    struct stop_request {
        std::string received; ///< the signal's name, for the log
        named_signal sent;    ///< what the workers get
        clock::time_point until;
    };

    std::optional<stop_request> stop;
};

/// The machine's hands. Implementations must not call back into the machine.
class effects {
public:
    virtual ~effects() = default;
    /// Fork and exec generation `generation`; the child's pid, or -1 when fork failed.
    virtual pid_t spawn(unsigned long generation) = 0;
    virtual void send_signal(pid_t pid, int sig) = 0;
    virtual void log(std::string_view line) = 0;
    /// The live workers changed: `GEN:PID` pairs, ordered by generation.
    virtual void status_changed(const std::vector<std::pair<unsigned long, pid_t>>& workers) = 0;
    /// A state for systemd (`READY=1`, `RELOADING=1`, `STOPPING=1`).
    virtual void tell_systemd(std::string_view state) = 0;

    /// The restart record changed (a HUP, a spawn, a ready or failed attempt).
    virtual void restart_recorded(const restart_record& record) { (void)record; }

    /// A stop goes to the workers: close start_server's copies of the listening sockets
    /// (each worker closes its own as it stops accepting, and the last close ends the
    /// socket: later connections are refused, not queued to be reset at start_server's exit).
    virtual void stop_listening() {}
};

/// The supervisor's state machine. One thread; every call takes the current time.
class machine {
public:
    machine(machine_settings settings, effects& fx);
    /// Resume from `from` (another machine's `snapshot()`); no effect happens until an event.
    machine(machine_settings settings, effects& fx, machine_state from);

    /// Replace the settings that the envdir may change at run time.
    void update_settings(const machine_settings& settings) { settings_ = settings; }

    void start(clock::time_point now);  ///< spawn the first generation
    void on_hup(clock::time_point now); ///< SIGHUP
    /// A stop request: `received` is the signal's name, `sent` what workers get.
    void on_stop(std::string_view received, const named_signal& sent, clock::time_point now);
    void on_child_exit(pid_t pid, int raw_status, clock::time_point now);
    void on_ready(pid_t pid, clock::time_point now); ///< READY=1 from `pid`
    void on_tick(clock::time_point now);             ///< a deadline may have passed

    /// The earliest time `on_tick` has something to do; nullopt: nothing scheduled.
    std::optional<clock::time_point> next_deadline() const;

    state current_state() const noexcept { return s_.phase; }

    /// Readiness as a load balancer should see it: never off during a restart, a failed
    /// deploy (the old generation still serves) or a HUP storm; off from a stop's first moment.
    service_status service() const noexcept;

    const machine_state& snapshot() const noexcept { return s_; }

    std::optional<pid_t> current_pid() const;
    std::optional<pid_t> candidate_pid() const;

    bool is_hup_pending() const noexcept { return s_.is_hup_pending; }

    /// What `--restart` clients read: HUPs counted, the latest started/ready/failed attempt.
    const restart_record& record() const noexcept { return s_.record; }

    unsigned consecutive_failures() const noexcept { return s_.failures; }

    /// Is `pid` one of the workers (current, candidate, old)? Used to attribute READY=1.
    bool is_worker(pid_t pid) const;

private:
    using worker = machine_state::worker;
    using retired = machine_state::retired;
    using restart_kind = machine_state::restart_kind;

    /// What a deadline ends; `on_tick` acts on the due ones, `next_deadline` reports the first.
    enum class timer {
        candidate_up,        ///< interval readiness: the candidate counts as started
        ready_timeout,       ///< notify readiness: the candidate never said READY=1
        retry,               ///< the next attempt after a failed (or paced) start
        auto_restart,        ///< ENABLE_AUTO_RESTART's interval, no old generation left
        forced_auto_restart, ///< twice the interval, old generations or not
        kill_old,            ///< an old worker's kill-old delay ended
        shutdown_timeout,    ///< an old worker outlived --shutdown-timeout after its signal
        drain_end,           ///< the drain delay of a stop ended: the workers get their signal
    };

    struct deadline {
        timer what;
        clock::time_point at;
        pid_t pid = -1; ///< the old worker, for kill_old and shutdown_timeout
    };

    /// The one source of scheduled deadlines, in the order `on_tick` handles due ones.
    std::vector<deadline> deadlines() const;
    void act(const deadline& d, clock::time_point now);

    void transition(state to);
    void begin_restart(restart_kind kind, clock::time_point now);
    void spawn_candidate(clock::time_point now);
    void succeed(clock::time_point now);
    void fail(clock::time_point now, std::string why);
    void count_hup();
    void signal_due_old_workers(clock::time_point now, bool is_announced);
    void escalate(clock::time_point now);
    void publish_status();
    void finish_if_empty();
    void stop_workers(std::string_view received, const named_signal& sent, clock::time_point now);
    std::chrono::milliseconds pace() const;

    machine_settings settings_;
    effects& fx_;
    machine_state s_;
};

} // namespace baton::starter
