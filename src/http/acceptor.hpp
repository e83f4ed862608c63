#pragma once
// SPDX-License-Identifier: MIT

// The event loops of a server and its listeners: the first loop accepts on every listener,
// serves the connections itself while it is not busy and otherwise hands each to the next loop
// in turn (private; docs/design.md §3).

#include "common/unique_fd.hpp"
#include "idle_lot.hpp"
#include "server_state.hpp"

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace baton::http::detail {

using baton::detail::unique_fd;

class tls_context;

/// A listening stream socket add_listener checked: TCP over IPv4 or IPv6, or unix.
struct listener_socket {
    unique_fd fd; ///< the server's until start() hands it to an acceptor
    int family = 0;
    std::uint16_t port = 0;           ///< 0 for unix sockets
    std::shared_ptr<tls_context> tls; ///< null: plain HTTP
    /// TCP_NODELAY is set on the listener, so accepted sockets have it (Linux copies it).
    bool is_nodelay_inherited = false;
};

/// One listener as its event loop holds it; every family has the same acceptor type.
using acceptor = boost::asio::basic_socket_acceptor<boost::asio::generic::stream_protocol>;

/// One event loop: a thread, its io_context, its connections; the first one also holds the
/// process's copy of each listener and accepts for all of them.
struct event_loop {
    registry conns; // declared first: destroyed after the io_context's handlers
    /// One thread runs it, and every socket and timer of this loop is used on that thread
    /// only (other threads post to it): the reactor's per-descriptor locks are not needed.
    boost::asio::io_context ioc{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
    busy_gauge load;         ///< of the loop's thread: used from it only
    idle_lot lot{ioc, load}; ///< where its idle plain connections wait (destroyed before ioc)
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
    std::list<acceptor> acceptors;
    std::thread thread;

    /// Close the listeners this loop holds (close(2), never shutdown(2)).
    void close_acceptors() noexcept;
};

/** The loops of a process, as the one that accepts (the first) gives them new connections.
    While the first loop is less than half busy, it serves them itself: no hand-over to
    another thread, no other loop woken, which is most of what a connection costs under a
    light load. Busier, it gives them to every loop in turn, itself included. */
struct loop_ring {
    std::vector<event_loop*> loops;
    std::size_t next = 0;

    /// The loop for the next connection; called on the first loop.
    event_loop& take() noexcept
    {
        if (loops.size() == 1 || !loops.front()->load.is_busy())
            return *loops.front();
        auto& l = *loops[next];
        next = (next + 1) % loops.size();
        return l;
    }
};

/** Accept on `l` from the loop `home` (the ring's first), connections spread over `ring`.
    `l.fd` is given to the acceptor; if the acceptor refuses it, it is closed. Called before
    `home` runs. */
void start_accepting(server_state& st, event_loop& home, loop_ring& ring, listener_socket& l);

} // namespace baton::http::detail
