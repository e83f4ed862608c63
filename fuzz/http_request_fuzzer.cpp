// SPDX-License-Identifier: MIT
// Bytes from the network into baton's HTTP connection, over beast::test::stream with the
// real parser, framing checks and (small) limits. The first byte picks the read size, so
// every input is also tried split at awkward places (Beast 1.81's chunked BOOST_ASSERT).
#include "http/connection.hpp"
#include "unit/http/test_stream_traits.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace {

// A named coroutine: GCC 12 emits a lambda coroutine inside an extern "C" function twice.
boost::asio::awaitable<void> echo(const baton::http::request& req, baton::http::response_writer& w)
{
    w.write(req.body());
    if (req.target() == "/flush")
        co_await w.flush();
    w.write(req.target());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace std::chrono_literals;
    namespace asio = boost::asio;
    using conn = baton::http::detail::connection<boost::beast::test::stream>;
    if (size == 0)
        return 0;
    const std::size_t read_size = 1 + data[0] % 64;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

    baton::http::options opts;
    opts.max_header_bytes = 2048;
    opts.max_body_bytes = 8192;
    opts.header_timeout = 1s;
    opts.body_timeout = 1s;
    opts.idle_timeout = 1s;
    baton::http::detail::server_state state(opts, baton::http::detail::make_handlers(&echo));
    asio::io_context ioc;
    boost::beast::test::stream server_side(ioc);
    boost::beast::test::stream client(ioc);
    server_side.connect(client);
    server_side.read_size(read_size);
    server_side.append(input);
    server_side.close_remote();
    state.claim_connection();
    conn::start(std::make_shared<conn>(state, std::move(server_side), nullptr));
    ioc.run_for(5s);
    return 0;
}
