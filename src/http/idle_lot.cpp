// SPDX-License-Identifier: MIT
#include "idle_lot.hpp"

#include <boost/asio/post.hpp>

#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>

namespace baton::http::detail {

namespace {

/// Events taken from the lot's epoll set per epoll_wait.
constexpr int event_batch = 64;

/// epoll_wait calls per wake-up before the rest is left to a wake-up of its own (posted): the
/// loop's other work is not held up by a flood of returning clients.
constexpr int max_batches = 16;

} // namespace

std::chrono::nanoseconds busy_gauge::thread_cpu_time() noexcept
{
    timespec ts{};
    if (::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return std::chrono::nanoseconds::min(); // no reading: the window goes on
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

void busy_gauge::update() noexcept
{
    auto now = std::chrono::steady_clock::now();
    if (now - window_start_ < window)
        return;
    const auto cpu = cpu_clock_();
    if (cpu == std::chrono::nanoseconds::min())
        return;
    // The first reading (window_start_ at the epoch) finds a "window" of the whole uptime:
    // not busy, which is right for a loop that just started.
    const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(now - window_start_);
    const auto used = std::clamp(cpu - cpu_at_start_, std::chrono::nanoseconds::zero(), wall);
    share_ = static_cast<unsigned>(used.count() * window_share / std::max<long>(wall.count(), 1));
    window_start_ = now;
    cpu_at_start_ = cpu;
}

idle_lot::idle_lot(boost::asio::io_context& ioc, busy_gauge& load)
    : load_(load)
    , epoll_(ioc)
    , timer_(ioc)
    , sweep_(ioc)
{
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0)
        return; // the lot is disabled: connections wait by themselves
    boost::system::error_code ec;
    epoll_.assign(fd, ec); // registers it with the loop's reactor (edge-triggered)
    if (ec)
        ::close(fd);
}

idle_lot::~idle_lot()
{
    // The loop has stopped: what is still parked is closed and released here.
    close(wake::forced);
}

bool idle_lot::park(parkable& c, int fd, clock::time_point due) noexcept
{
    if (is_closed_ || !epoll_.is_open() || fd < 0 || c.spot_ != parkable::spot::none)
        return false;
    const auto slot = static_cast<std::size_t>(fd);
    if (slot >= by_fd_.size()) {
        try {
            by_fd_.resize(std::max(slot + 1, by_fd_.size() * 2), nullptr);
        } catch (const std::bad_alloc&) {
            return false;
        }
    }
    if (!c.is_watched_) {
        // Once per connection: edge-triggered, the descriptor stays in the set until it is
        // closed (close(2) takes it out). An event while the connection serves finds no one
        // parked under its descriptor and is dropped; one still queued when it parks again
        // wakes it for nothing (it reads, finds nothing and parks again).
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
        ev.data.fd = fd;
        if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0)
            return false;
        c.is_watched_ = true;
    }
    if (!is_watching_) {
        try {
            watch();
        } catch (const std::bad_alloc&) {
            return false;
        }
    }
    // Every connection has the same idle timeout, so the queue is in order of due times; the
    // clock's resolution (or a re-park after a wake-up for nothing) may put one a hair early.
    if (tail_ != nullptr)
        due = std::max(due, tail_->due_);
    c.due_ = due;
    c.fd_ = fd;
    c.spot_ = parkable::spot::parked;
    c.prev_ = tail_;
    c.next_ = nullptr;
    (tail_ != nullptr ? tail_->next_ : head_) = &c;
    tail_ = &c;
    by_fd_[slot] = &c;
    ++count_;
    if (due < timer_end_) {
        try {
            arm_timer(due);
        } catch (const std::bad_alloc&) {
            remove(c);
            return false;
        }
    }
    return true;
}

void idle_lot::unpark(parkable& c) noexcept
{
    if (c.spot_ == parkable::spot::parked)
        remove(c);
    else
        leave_waiting(c);
}

void idle_lot::enter_waiting(parkable& c) noexcept
{
    if (is_closed_ || c.spot_ != parkable::spot::none)
        return;
    c.spot_ = parkable::spot::waiting;
    c.prev_ = nullptr;
    c.next_ = waiting_;
    if (waiting_ != nullptr)
        waiting_->prev_ = &c;
    waiting_ = &c;
    if (!is_sweep_armed_)
        arm_sweep();
}

void idle_lot::leave_waiting(parkable& c) noexcept
{
    if (c.spot_ != parkable::spot::waiting)
        return;
    (c.prev_ != nullptr ? c.prev_->next_ : waiting_) = c.next_;
    if (c.next_ != nullptr)
        c.next_->prev_ = c.prev_;
    c.prev_ = c.next_ = nullptr;
    c.spot_ = parkable::spot::none;
}

void idle_lot::arm_sweep() noexcept
{
    try {
        sweep_.expires_after(sweep_interval);
        sweep_.async_wait([this](const boost::system::error_code& ec) {
            if (ec)
                return; // close(): the lot may be gone
            is_sweep_armed_ = false;
            on_sweep();
        });
        is_sweep_armed_ = true;
    } catch (const std::bad_alloc&) {
        // no sweep: the waiting ones wait in their coroutines until their next request
    }
}

void idle_lot::on_sweep() noexcept
{
    if (is_closed_ || waiting_ == nullptr)
        return;
    if (!wants_parking()) {
        arm_sweep(); // still busy: look again later
        return;
    }
    // Each cancels its wait: its coroutine resumes later (not here) and parks.
    while (waiting_ != nullptr) {
        parkable& c = *waiting_;
        leave_waiting(c);
        c.on_wake(wake::park);
    }
}

void idle_lot::remove(parkable& c) noexcept
{
    (c.prev_ != nullptr ? c.prev_->next_ : head_) = c.next_;
    (c.next_ != nullptr ? c.next_->prev_ : tail_) = c.prev_;
    c.prev_ = c.next_ = nullptr;
    c.spot_ = parkable::spot::none;
    by_fd_[static_cast<std::size_t>(c.fd_)] = nullptr;
    --count_;
}

void idle_lot::close(wake w) noexcept
{
    is_closed_ = true;
    give_back_all(w);
    while (waiting_ != nullptr) // their coroutines see the drain (or the close) themselves
        leave_waiting(*waiting_);
    if (is_sweep_armed_) {
        is_sweep_armed_ = false;
        sweep_.cancel();
    }
    boost::system::error_code ignored;
    if (epoll_.is_open())
        epoll_.cancel(ignored);
    if (timer_end_ != clock::time_point::max()) {
        timer_end_ = clock::time_point::max();
        timer_.cancel();
    }
}

void idle_lot::give_back_all(wake w) noexcept
{
    // Bounded by the count at the start: one woken as readable may park again.
    for (std::size_t n = count_; n > 0 && head_ != nullptr; --n) {
        parkable& c = *head_;
        remove(c);
        c.on_wake(w);
    }
}

void idle_lot::watch()
{
    epoll_.async_wait(boost::asio::posix::descriptor_base::wait_read,
                      [this](const boost::system::error_code& ec) {
                          if (ec)
                              return; // close(): the lot may be gone
                          is_watching_ = false;
                          on_readable();
                      });
    is_watching_ = true;
}

void idle_lot::on_readable() noexcept
{
    // The wait is edge-triggered on the lot's descriptor: take every event before waiting again
    // (a wait started with events still queued would not end until another one came).
    epoll_event events[event_batch];
    for (int batch = 0; batch < max_batches; ++batch) {
        const int n = ::epoll_wait(epoll_.native_handle(), events, event_batch, 0);
        if (n < 0 && errno == EINTR)
            continue;
        for (int i = 0; i < n; ++i) {
            const auto slot = static_cast<std::size_t>(events[i].data.fd);
            if (slot >= by_fd_.size() || by_fd_[slot] == nullptr)
                continue; // not parked: it is serving, or it is gone
            parkable& c = *by_fd_[slot];
            remove(c);
            c.on_wake(wake::readable); // may park it again, under the same descriptor
        }
        if (n < event_batch) {
            if (is_closed_ || is_watching_) // a connection woken above parked again: watching
                return;
            try {
                watch();
            } catch (...) {                    // out of memory
                give_back_all(wake::readable); // each parks again, or waits alone
            }
            return;
        }
    }
    // More is queued: go on after what else the loop has to do.
    try {
        boost::asio::post(epoll_.get_executor(), [this] {
            if (!is_closed_)
                on_readable();
        });
    } catch (...) { // out of memory
        give_back_all(wake::readable);
    }
}

void idle_lot::arm_timer(clock::time_point at)
{
    timer_.expires_at(at); // a pending wait ends with operation_aborted
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec)
            return; // replaced, or close(): the lot may be gone
        timer_end_ = clock::time_point::max();
        on_timer();
    });
    timer_end_ = at;
}

void idle_lot::on_timer() noexcept
{
    const auto now = clock::now();
    // Bounded by the count at the start: a connection woken here that serves a request and
    // parks again is due an idle timeout later, not now.
    for (std::size_t n = count_; n > 0 && head_ != nullptr && head_->due_ <= now; --n) {
        parkable& c = *head_;
        remove(c);
        c.on_wake(wake::expired);
    }
    if (head_ == nullptr || is_closed_ || head_->due_ >= timer_end_)
        return;
    try {
        arm_timer(head_->due_);
    } catch (const std::bad_alloc&) {
        give_back_all(wake::readable); // no timer for them: each waits alone, under its own
    }
}

} // namespace baton::http::detail
