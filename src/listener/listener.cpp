// SPDX-License-Identifier: MIT

// The sockets this process inherited: SERVER_STARTER_PORT, else systemd's LISTEN_FDS.
#include "error.hpp"

#include <baton/listener.hpp>

#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <string>

namespace baton::listener {

namespace {

constexpr int listen_fds_start = 3; // SD_LISTEN_FDS_START

std::optional<std::string> get_env(const char* name)
{
    if (const char* value = std::getenv(name))
        return std::string(value);
    return std::nullopt;
}

/// A strictly decimal unsigned number, the whole of `text`.
template <class T>
bool parse_number(std::string_view text, T& value) noexcept
{
    if (text.empty() || text.front() < '0' || text.front() > '9')
        return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size();
}

inherited_sockets from_server_starter(const std::string& value, error& err)
{
    inherited_sockets out;
    out.from = source::server_starter;
    const auto entries = parse_port_env(value, err);
    if (err)
        return out;
    std::size_t index = 0;
    for (const auto& entry : entries) {
        ++index;
        inherited_socket sock;
        sock.name = entry.key;
        sock.fd = entry.fd;
        sock.info = probe_socket(entry.fd, err);
        if (err) {
            err.message = "SERVER_STARTER_PORT entry " + std::to_string(index) + " " +
                          detail::quote(entry.key + "=" + std::to_string(entry.fd)) + ": " +
                          err.message;
            out.sockets.clear();
            return out;
        }
        out.sockets.push_back(std::move(sock));
    }
    return out;
}

inherited_sockets from_systemd(const env_view& env, error& err)
{
    inherited_sockets out;
    pid_t pid = 0;
    // systemd's rule: the variables are for LISTEN_PID only; anyone else ignores them
    if (!env.listen_fds || !env.listen_pid || !parse_number(*env.listen_pid, pid) ||
        pid != ::getpid())
        return out;
    out.from = source::systemd;
    int count = 0;
    if (!parse_number(*env.listen_fds, count)) {
        err = detail::make_error(errc::invalid_listen_fds,
                                 "LISTEN_FDS " + detail::quote(*env.listen_fds) +
                                     " is not a non-negative decimal number");
        return out;
    }
    std::vector<std::string> names;
    if (env.listen_fdnames) {
        std::string_view rest = *env.listen_fdnames;
        for (;;) {
            const auto colon = rest.find(':');
            names.emplace_back(rest.substr(0, colon));
            if (colon == std::string_view::npos)
                break;
            rest.remove_prefix(colon + 1);
        }
        if (names.size() != static_cast<std::size_t>(count)) {
            err = detail::make_error(errc::invalid_listen_fds,
                                     "LISTEN_FDNAMES " + detail::quote(*env.listen_fdnames) +
                                         " has " + std::to_string(names.size()) +
                                         " names for LISTEN_FDS=" + std::to_string(count));
            return out;
        }
    }
    for (int i = 0; i < count; ++i) {
        inherited_socket sock;
        sock.fd = listen_fds_start + i;
        sock.name = names.empty() ? "unknown" : names[static_cast<std::size_t>(i)];
        sock.info = probe_socket(sock.fd, err);
        if (err) {
            err.message = "LISTEN_FDS descriptor " + std::to_string(sock.fd) + " (" +
                          detail::quote(sock.name) + "): " + err.message;
            out.sockets.clear();
            return out;
        }
        out.sockets.push_back(std::move(sock));
    }
    return out;
}

} // namespace

env_view env_view::from_process()
{
    env_view env;
    env.server_starter_port = get_env("SERVER_STARTER_PORT");
    env.listen_fds = get_env("LISTEN_FDS");
    env.listen_pid = get_env("LISTEN_PID");
    env.listen_fdnames = get_env("LISTEN_FDNAMES");
    return env;
}

inherited_sockets from_env(const env_view& env, error& err)
{
    err = {};
    if (env.server_starter_port)
        return from_server_starter(*env.server_starter_port, err);
    return from_systemd(env, err);
}

inherited_sockets from_env(error& err)
{
    return from_env(env_view::from_process(), err);
}

inherited_sockets from_env()
{
    error err;
    auto sockets = from_env(err);
    return detail::value_or_throw(std::move(sockets), err);
}

std::optional<unsigned long> generation()
{
    const char* value = std::getenv("SERVER_STARTER_GENERATION");
    unsigned long gen = 0;
    if (value == nullptr || !parse_number(std::string_view(value), gen))
        return std::nullopt;
    return gen;
}

inherited_sockets listen_or_inherit(std::string_view fallback, const bind_options& opts, error& err)
{
    auto inherited = from_env(err);
    if (err || inherited.is_under_starter())
        return inherited;
    auto sock = bind_address(fallback, opts, err);
    if (!err)
        inherited.sockets.push_back(std::move(sock));
    return inherited;
}

inherited_sockets listen_or_inherit(std::string_view fallback, const bind_options& opts)
{
    error err;
    auto sockets = listen_or_inherit(fallback, opts, err);
    return detail::value_or_throw(std::move(sockets), err);
}

} // namespace baton::listener
