#pragma once
// SPDX-License-Identifier: MIT

// Where the idle keep-alive connections of one event loop wait for their next request: no
// coroutine, no buffer, no timer and no reactor operation of their own (private;
// docs/design.md §3.2).

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace baton::http::detail {

/// Why a parked connection is given back to its coroutine.
enum class wake : std::uint8_t {
    none,     ///< it was not parked: serving from its accept
    readable, ///< its descriptor became readable (a request, its end, or nothing: look)
    expired,  ///< its idle timeout passed
    park,     ///< it waits in its coroutine, and the loop has time again: park
    drain,    ///< the server began to drain: wait for the drain grace instead
    forced,   ///< close(): it is closed
};

/** How busy the calling thread is: the CPU time it used over the wall time, in windows of at
    least `window` (CLOCK_THREAD_CPUTIME_ID is a system call: one per window at most). */
class busy_gauge {
public:
    static constexpr std::chrono::milliseconds window{10};

    /// Where the CPU time comes from: the calling thread's clock (tests give their own).
    using cpu_clock = std::chrono::nanoseconds (*)() noexcept;
    static std::chrono::nanoseconds thread_cpu_time() noexcept;

    explicit busy_gauge(cpu_clock clock = &thread_cpu_time) noexcept
        : cpu_clock_(clock)
    {}

    /// Did the calling thread run more than half of the last whole window?
    bool is_busy() noexcept
    {
        update();
        return 2 * share_ > window_share;
    }

    /// More than seven eighths of it?
    bool is_saturated() noexcept
    {
        update();
        return 8 * share_ > 7 * window_share;
    }

private:
    /// CPU time over wall time, in 1/window_share units.
    static constexpr unsigned window_share = 1024;

    void update() noexcept;

    cpu_clock cpu_clock_;
    std::chrono::steady_clock::time_point window_start_{};
    std::chrono::nanoseconds cpu_at_start_{};
    unsigned share_ = 0;
};

class idle_lot;

/** What a connection holds to wait in an idle_lot: its place in one of the lot's two lists,
    the parked and the waiting (the lot allocates nothing per connection). */
class parkable {
public:
    parkable() = default;
    parkable(const parkable&) = delete;
    parkable& operator=(const parkable&) = delete;

    /// The lot gives the connection back (it is unparked already); on the loop's thread.
    virtual void on_wake(wake w) noexcept = 0;

protected:
    virtual ~parkable() = default; // virtual: idle_lot, a friend, could reach it

private:
    friend class idle_lot;
    enum class spot : std::uint8_t { none, parked, waiting };
    parkable* prev_ = nullptr;
    parkable* next_ = nullptr;
    std::chrono::steady_clock::time_point due_{}; ///< parked: its idle timeout
    int fd_ = -1;
    spot spot_ = spot::none;
    bool is_watched_ = false; ///< in the lot's epoll set: it stays there until it is closed
};

/** The idle keep-alive connections of one event loop. A connection that has written its
    response and finds nothing more to read gives up everything it only needs while it serves
    (its coroutine frames, its buffers) and parks here: its descriptor joins the lot's own
    epoll set (once, edge-triggered), and its idle timeout joins one queue whose order is the
    order they parked in (every connection of a server has the same idle timeout), watched by
    one timer. The lot's epoll descriptor is the only one the loop's reactor waits on for
    them: a wake-up reads the events of every connection that became readable.

    nginx does the same with its keep-alive connections (it frees their buffers and keeps
    its connection structure); an idle connection here costs its connection object only.
    Used on the loop's thread only. */
class idle_lot {
public:
    using clock = std::chrono::steady_clock;

    /// `load`: the loop's (connections park only while it is less than half busy).
    idle_lot(boost::asio::io_context& ioc, busy_gauge& load);
    ~idle_lot();

    idle_lot(const idle_lot&) = delete;
    idle_lot& operator=(const idle_lot&) = delete;

    /** Park `c`, whose descriptor is `fd`, until the descriptor is readable or until `due`
        (not earlier than any connection parked before it: the queue is in that order). The
        caller read the descriptor until it would block. False: the lot is closed or failed
        (no epoll set, out of memory); nothing changed, the caller waits by itself. */
    bool park(parkable& c, int fd, clock::time_point due) noexcept;

    /** Whether a connection that goes idle now should park: while the loop is less than half
        busy. Busier, it waits in its coroutine as it is (parking and waking cost allocations
        and a coroutine per request, ~20 % of a keep-alive request): under load a keep-alive
        connection is idle for a round trip only, and CPU is what is short. */
    bool wants_parking() noexcept { return !is_closed_ && !load_.is_saturated(); }

    /// Take `c` out without waking it (drain(), force_close(): the caller resumes it).
    void unpark(parkable& c) noexcept;

    static bool is_parked(const parkable& c) noexcept { return c.spot_ == parkable::spot::parked; }

    /// Parked or waiting: only then may `c` reach its lot (which empties itself as it closes,
    /// so that a connection that outlives it never does).
    static bool is_in_lot(const parkable& c) noexcept { return c.spot_ != parkable::spot::none; }

    /** `c` went idle while the loop was busy and waits in its coroutine: once the loop has
        time again (a check every sweep_interval), it is woken with wake::park (and cancels its
        wait, and parks). leave_waiting() when its wait ends. */
    void enter_waiting(parkable& c) noexcept;
    void leave_waiting(parkable& c) noexcept;

    static constexpr std::chrono::milliseconds sweep_interval{100};

    /** No connection parks any more and the lot stops waiting (a pending wait would keep the
        loop running): every parked connection is woken with `w` (`drain`: the server drains;
        `forced`: close(), or the loop is gone). Not from inside a registry walk: a woken
        connection may end at once. */
    void close(wake w) noexcept;

    std::size_t size() const noexcept { return count_; }

private:
    void watch();
    void on_readable() noexcept;
    /// Out of memory for a wait: every parked connection is woken with `w` (and waits alone).
    void give_back_all(wake w) noexcept;
    void arm_timer(clock::time_point at);
    void on_timer() noexcept;
    void remove(parkable& c) noexcept;
    void arm_sweep() noexcept;
    void on_sweep() noexcept;

    busy_gauge& load_;
    boost::asio::posix::stream_descriptor epoll_; ///< the lot's epoll descriptor (owned)
    boost::asio::steady_timer timer_;
    boost::asio::steady_timer sweep_;
    std::vector<parkable*> by_fd_; ///< the parked connection of each descriptor, or null
    parkable* head_ = nullptr;     ///< parked first: the first to time out
    parkable* tail_ = nullptr;
    std::size_t count_ = 0;
    parkable* waiting_ = nullptr; ///< the waiting ones (unordered)
    bool is_sweep_armed_ = false;
    clock::time_point timer_end_ = clock::time_point::max(); ///< the pending timer wait's
    bool is_watching_ = false;
    bool is_closed_ = false;
};

} // namespace baton::http::detail
