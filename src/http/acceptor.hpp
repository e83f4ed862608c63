#pragma once
// SPDX-License-Identifier: MIT

// The event loops of a server and its listeners: the first loop accepts on every listener
// and hands each connection to the next loop in turn (private; docs/design.md §3).

#include "common/unique_fd.hpp"
#include "server_state.hpp"

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>

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
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
    std::list<acceptor> acceptors;
    std::thread thread;

    /// Close the listeners this loop holds (close(2), never shutdown(2)).
    void close_acceptors() noexcept;
};

/// The loops of a process, taken in turn by the one that accepts.
struct loop_ring {
    std::vector<event_loop*> loops;
    std::size_t next = 0;

    event_loop& take() noexcept
    {
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
