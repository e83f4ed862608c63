#pragma once
// SPDX-License-Identifier: MIT

// One lazily armed deadline on one steady_timer: a connection's header, idle, body, write,
// drain and linger deadlines, one at a time (private).

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <utility>

namespace baton::http::detail {

/** A deadline that tells its `Owner` when it passes: `owner.on_deadline()` runs on the
    timer's executor, and only while the owner lives (`Owner` derives from
    enable_shared_from_this and holds this deadline; `owner.get_executor()` is where the
    timer runs: it is made at the first wait, on the heap, and given back by release(), so
    that a connection that is not waiting for anything holds no timer). Lazy: a later
    deadline keeps the pending wait, which waits again when it ends; only an earlier one
    starts a new wait. Re-arming on every request would change the timer queue's first entry
    almost every time (the connection that waited longest is the next to send), one
    timerfd_settime per request. Not thread-safe: used on its executor only. */
template <class Owner>
class deadline {
public:
    using clock = std::chrono::steady_clock;

    explicit deadline(Owner& owner) noexcept
        : owner_(&owner)
    {}

    deadline(const deadline&) = delete;
    deadline& operator=(const deadline&) = delete;

    /// Watch `at` (replacing what was watched); clears the expired flag.
    void arm(clock::time_point at)
    {
        is_expired_ = false;
        due_ = at;
        if (at < wait_end_)
            start_wait(at);
    }

    /// Stop watching (the pending wait, if any, stays and finds nothing when it ends).
    void disarm() noexcept { due_ = clock::time_point::max(); }

    /** Disarm and give up the pending wait (its operation, held in the timer queue until it
        ends): for a connection that parks, which waits without a timer of its own. */
    void release() noexcept
    {
        disarm();
        wait_end_ = clock::time_point::max();
        timer_.reset(); // a pending wait ends with operation_aborted and does nothing
    }

    /// Whether the armed deadline passed (the owner was told) since arm(); disarms, clears.
    bool take_expired() noexcept
    {
        disarm();
        return std::exchange(is_expired_, false);
    }

    /// The deadline watched; time_point::max() when disarmed.
    clock::time_point due() const noexcept { return due_; }

    /// The end of the pending wait; time_point::max() when none is pending.
    clock::time_point wait_end() const noexcept { return wait_end_; }

private:
    void start_wait(clock::time_point end)
    {
        if (timer_ == nullptr)
            timer_ = std::make_unique<boost::asio::steady_timer>(owner_->get_executor());
        wait_end_ = end;
        timer_->expires_at(end); // a wait still pending ends with operation_aborted
        timer_->async_wait([weak = owner_->weak_from_this(), this,
                            gen = ++wait_gen_](const boost::system::error_code& ec) {
            if (ec)
                return;
            auto self = weak.lock(); // alive: so is this deadline, its member
            if (!self || gen != wait_gen_)
                return; // the owner is gone, or a newer wait replaced this one
            on_wait_end();
        });
    }

    void on_wait_end()
    {
        wait_end_ = clock::time_point::max();
        if (due_ == clock::time_point::max())
            return; // disarmed since: the next arm() starts a wait
        if (clock::now() < due_) {
            start_wait(due_); // armed again since, for later
            return;
        }
        is_expired_ = true;
        owner_->on_deadline();
    }

    Owner* owner_;
    std::unique_ptr<boost::asio::steady_timer> timer_;      ///< made by the first wait
    clock::time_point due_ = clock::time_point::max();      ///< max: disarmed
    clock::time_point wait_end_ = clock::time_point::max(); ///< of the pending wait; max: none
    unsigned wait_gen_ = 0;
    bool is_expired_ = false;
};

} // namespace baton::http::detail
