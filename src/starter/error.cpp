// SPDX-License-Identifier: MIT
#include "error.hpp"

namespace baton::starter {

namespace {

class starter_category final : public std::error_category {
public:
    const char* name() const noexcept override { return "baton.starter"; }

    std::string message(int ev) const override
    {
        switch (static_cast<errc>(ev)) {
        case errc::bad_port_spec:
            return "invalid --port value";
        case errc::resolve_failed:
            return "host name did not resolve";
        case errc::socket_failed:
            return "could not create a socket";
        case errc::bind_failed:
            return "could not bind the address";
        case errc::listen_failed:
            return "could not listen";
        case errc::pin_failed:
            return "could not move the socket to its =FD number";
        case errc::path_not_a_socket:
            return "--path names a file that is not a socket (it is not removed)";
        case errc::stale_socket:
            return "could not remove the old socket file";
        case errc::listen_fds_invalid:
            return "LISTEN_FDS is malformed or names a non-socket";
        case errc::port_env_invalid:
            return "a socket's key cannot be written into SERVER_STARTER_PORT";
        case errc::pid_file_failed:
            return "could not open or write the pid file";
        case errc::pid_file_locked:
            return "another start_server holds the pid file";
        case errc::log_file_failed:
            return "could not open the log file or command";
        case errc::daemonize_failed:
            return "could not daemonize";
        case errc::notify_socket_failed:
            return "could not create the readiness socket";
        case errc::signalfd_failed:
            return "could not create the signal descriptor";
        case errc::health_failed:
            return "could not listen on the health address";
        }
        return "unknown start_server error";
    }
};

} // namespace

const std::error_category& category() noexcept
{
    static const starter_category instance;
    return instance;
}

std::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), category()};
}

} // namespace baton::starter
