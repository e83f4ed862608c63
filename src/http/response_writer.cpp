// SPDX-License-Identifier: MIT
#include "server_state.hpp"

#include <baton/http/response_writer.hpp>

namespace baton::http {

void response_writer::set(boost::beast::http::field name, std::string_view value)
{
    state_->fields.set(name, value);
}

void response_writer::set(std::string_view name, std::string_view value)
{
    state_->fields.set(name, value);
}

bool response_writer::is_draining() const noexcept
{
    return state_->server != nullptr && state_->server->is_leaving();
}

namespace {

boost::asio::awaitable<void> nothing_to_flush()
{
    co_return; // a buffered (plain-function) handler: everything goes out at its end
}

} // namespace

boost::asio::awaitable<void> response_writer::flush()
{
    // Not a coroutine itself: the sink's awaitable is handed on, one coroutine frame fewer
    // per flush.
    return sink_ == nullptr ? nothing_to_flush() : sink_->flush(*state_);
}

} // namespace baton::http
