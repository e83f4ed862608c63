// SPDX-License-Identifier: MIT
// echo_pid_worker: the fixture worker the tests run under a starter (STYLE §2.8).
//
// It takes its sockets with baton::listener::from_env() and serves every inherited listening
// stream socket (TCP or unix): it reads a request head up to the empty line and answers
//   HTTP/1.1 200 OK, Content-Length, Connection: close, body "<pid> <SERVER_STARTER_GENERATION>\n"
// then closes the connection, so a test can tell which process and generation served it.
//
// Flags (`--flag value` or `--flag=value`):
//   --notify-ready        send READY=1 with baton::notify once serving
//   --ready-delay-ms N    warm up for N ms first: neither accept nor notify before that
//   --never-ready         never accept and never notify (a worker stuck in warm-up)
//   --exit-after-ms N     exit N ms after start with --exit-code (default 1): a crash
//   --exit-code C
//   --ignore-term         ignore SIGTERM (only SIGKILL ends it)
//   --term-delay-ms N     on SIGTERM stop accepting, keep serving open connections N ms, exit 0
//   --dump-env FILE       before serving, write the environment (K=V lines) to FILE.<pid>,
//                         atomically (written to FILE.<pid>.tmp, then renamed)
//   --verbose             log what it does to stderr (otherwise it logs nothing)
// On SIGTERM by default it closes its listeners and exits 0.
// Exit codes: 0 on SIGTERM, C for --exit-after-ms, 100 usage or not under a starter,
// 111 a system error (its reason on stderr).

#include <baton/listener.hpp>
#include <baton/notify.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

extern char** environ; // NOLINT: POSIX declares it nowhere in a header

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::string_view program = "echo_pid_worker";
constexpr std::size_t max_head_bytes = 64 * 1024;
constexpr int exit_usage = 100;
constexpr int exit_system = 111;

struct options {
    bool is_notify_ready = false;
    bool is_never_ready = false;
    bool is_ignore_term = false;
    bool is_verbose = false;
    std::chrono::milliseconds ready_delay{0};
    std::optional<std::chrono::milliseconds> exit_after;
    int exit_code = 1;
    std::optional<std::chrono::milliseconds> term_delay;
    std::string dump_env;
};

bool is_verbose = false;

void log(const std::string& line)
{
    if (is_verbose)
        std::fprintf(stderr, "%s[%d]: %s\n", program.data(), static_cast<int>(::getpid()),
                     line.c_str());
}

[[noreturn]] void fatal(int code, const std::string& message)
{
    std::fprintf(stderr, "%s: fatal: %s\n", program.data(), message.c_str());
    std::exit(code);
}

long parse_number(std::string_view flag, std::string_view text)
{
    long value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || value < 0)
        fatal(exit_usage,
              std::string{flag} + " needs a non-negative number, got \"" + std::string{text} + '"');
    return value;
}

options parse_options(int argc, char** argv)
{
    options opts;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::optional<std::string_view> inline_value;
        if (const std::size_t eq = arg.find('='); eq != std::string_view::npos) {
            inline_value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
        }
        const auto value = [&]() -> std::string_view {
            if (inline_value)
                return *inline_value;
            if (i + 1 >= argc)
                fatal(exit_usage, std::string{arg} + " needs a value");
            return argv[++i];
        };
        const auto millis = [&] { return std::chrono::milliseconds{parse_number(arg, value())}; };
        if (arg == "--notify-ready")
            opts.is_notify_ready = true;
        else if (arg == "--never-ready")
            opts.is_never_ready = true;
        else if (arg == "--ignore-term")
            opts.is_ignore_term = true;
        else if (arg == "--verbose")
            opts.is_verbose = true;
        else if (arg == "--ready-delay-ms")
            opts.ready_delay = millis();
        else if (arg == "--exit-after-ms")
            opts.exit_after = millis();
        else if (arg == "--exit-code")
            opts.exit_code = static_cast<int>(parse_number(arg, value()));
        else if (arg == "--term-delay-ms")
            opts.term_delay = millis();
        else if (arg == "--dump-env")
            opts.dump_env = value();
        else
            fatal(exit_usage, "unknown option \"" + std::string{argv[i]} + '"');
    }
    return opts;
}

int signal_pipe_write = -1;

extern "C" void on_sigterm(int)
{
    const int saved = errno;
    const char byte = 'T';
    (void)!::write(signal_pipe_write, &byte, 1);
    errno = saved;
}

/// The self-pipe SIGTERM writes to; its read end is polled.
int install_signals(const options& opts)
{
    (void)::signal(SIGPIPE, SIG_IGN);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        fatal(exit_system, std::string{"pipe2: "} + std::strerror(errno));
    signal_pipe_write = fds[1];
    if (opts.is_ignore_term) {
        (void)::signal(SIGTERM, SIG_IGN);
        return fds[0];
    }

    struct sigaction sa {};

    sa.sa_handler = on_sigterm;
    sa.sa_flags = SA_RESTART;
    ::sigemptyset(&sa.sa_mask);
    if (::sigaction(SIGTERM, &sa, nullptr) != 0)
        fatal(exit_system, std::string{"sigaction: "} + std::strerror(errno));
    return fds[0];
}

void dump_environment(const std::string& file)
{
    const std::string target = file + '.' + std::to_string(::getpid());
    const std::string temporary = target + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        for (char** e = environ; e != nullptr && *e != nullptr; ++e)
            out << *e << '\n';
        out.flush();
        if (!out)
            fatal(exit_system, "cannot write " + temporary);
    }
    if (std::rename(temporary.c_str(), target.c_str()) != 0)
        fatal(exit_system, "rename " + temporary + ": " + std::strerror(errno));
}

std::string make_response()
{
    const char* generation = std::getenv("SERVER_STARTER_GENERATION");
    const std::string body =
        std::to_string(::getpid()) + ' ' + (generation != nullptr ? generation : "0") + '\n';
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

struct client {
    int fd = -1;
    std::string head;
    std::size_t written = 0;
    bool is_writing = false;
};

class server {
public:
    server(const options& opts, std::vector<int> listeners, int signal_fd)
        : opts_(opts)
        , listeners_(std::move(listeners))
        , signal_fd_(signal_fd)
        , response_(make_response())
        , start_(clock_type::now())
    {}

    int run()
    {
        for (;;) {
            const auto now = clock_type::now();
            if (opts_.exit_after && now >= start_ + *opts_.exit_after) {
                log("exiting with " + std::to_string(opts_.exit_code) + " (--exit-after-ms)");
                return opts_.exit_code;
            }
            if (term_deadline_ && now >= *term_deadline_) {
                log("term delay over, exiting");
                return 0;
            }
            if (!is_serving_ && !opts_.is_never_ready && !term_deadline_ &&
                now >= start_ + opts_.ready_delay)
                become_ready();

            build_pollfds();
            if (::poll(pollfds_.data(), pollfds_.size(), poll_timeout(now)) < 0) {
                if (errno == EINTR)
                    continue;
                fatal(exit_system, std::string{"poll: "} + std::strerror(errno));
            }
            if (pollfds_[0].revents != 0 && on_signal())
                return 0;
            // pollfds_ = [signal pipe, polled listeners..., clients polled...]: clients
            // accepted below are polled from the next round on.
            const std::size_t polled_clients = clients_.size();
            std::size_t index = 1;
            for (const int fd : polled_listeners_)
                if (pollfds_[index++].revents != 0 && !term_deadline_)
                    accept_all(fd);
            for (std::size_t i = 0; i < polled_clients; ++i)
                if (pollfds_[index++].revents != 0)
                    handle(clients_[i]);
            std::erase_if(clients_, [](const client& c) { return c.fd < 0; });
        }
    }

private:
    void become_ready()
    {
        is_serving_ = true;
        log("serving " + std::to_string(listeners_.size()) + " listener(s)");
        if (!opts_.is_notify_ready)
            return;
        std::error_code ec;
        baton::notify::ready(ec);
        if (ec)
            std::fprintf(stderr, "%s: unable to send READY=1: %s\n", program.data(),
                         ec.message().c_str());
        else
            log("sent READY=1");
    }

    int poll_timeout(clock_type::time_point now) const
    {
        std::optional<clock_type::time_point> wake;
        const auto consider = [&](clock_type::time_point t) {
            wake = wake ? std::min(*wake, t) : t;
        };
        if (!is_serving_ && !opts_.is_never_ready && !term_deadline_)
            consider(start_ + opts_.ready_delay);
        if (opts_.exit_after)
            consider(start_ + *opts_.exit_after);
        if (term_deadline_)
            consider(*term_deadline_);
        if (!wake)
            return -1;
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(*wake - now).count();
        return static_cast<int>(std::clamp<long long>(ms, 0, 60'000));
    }

    void build_pollfds()
    {
        pollfds_.clear();
        polled_listeners_.clear();
        pollfds_.push_back({signal_fd_, POLLIN, 0});
        if (is_serving_ && !term_deadline_)
            polled_listeners_ = listeners_;
        for (const int fd : polled_listeners_)
            pollfds_.push_back({fd, POLLIN, 0});
        for (const client& c : clients_)
            pollfds_.push_back({c.fd, static_cast<short>(c.is_writing ? POLLOUT : POLLIN), 0});
    }

    /// SIGTERM arrived; true when it is time to exit.
    bool on_signal()
    {
        char bytes[16];
        while (::read(signal_fd_, bytes, sizeof bytes) > 0) {
        }
        log("received SIGTERM");
        close_listeners();
        if (!opts_.term_delay)
            return true;
        if (!term_deadline_)
            term_deadline_ = clock_type::now() + *opts_.term_delay;
        return false;
    }

    void close_listeners()
    {
        for (const int fd : listeners_)
            ::close(fd);
        listeners_.clear();
    }

    void accept_all(int listen_fd)
    {
        // The listening socket is shared with other generations: another may win the race,
        // so the socket is non-blocking and EAGAIN is normal.
        for (int i = 0; i < 64; ++i) {
            const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0)
                return;
            clients_.push_back({fd, {}, 0, false});
            log("accepted connection (fd " + std::to_string(fd) + ")");
        }
    }

    void handle(client& c)
    {
        if (!c.is_writing) {
            char buffer[4096];
            const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            if (n <= 0)
                return drop(c);
            c.head.append(buffer, static_cast<std::size_t>(n));
            if (c.head.find("\r\n\r\n") == std::string::npos) {
                if (c.head.size() > max_head_bytes)
                    drop(c);
                return;
            }
            c.is_writing = true;
        }
        const std::string_view rest = std::string_view{response_}.substr(c.written);
        const ssize_t n = ::send(c.fd, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0)
            return drop(c);
        c.written += static_cast<std::size_t>(n);
        if (c.written == response_.size())
            drop(c);
    }

    static void drop(client& c)
    {
        ::close(c.fd);
        c.fd = -1;
    }

    const options& opts_;
    std::vector<int> listeners_;
    int signal_fd_;
    std::string response_;
    clock_type::time_point start_;
    bool is_serving_ = false;
    std::optional<clock_type::time_point> term_deadline_;
    std::vector<client> clients_;
    std::vector<pollfd> pollfds_;
    std::vector<int> polled_listeners_;
};

} // namespace

int main(int argc, char** argv)
{
    const options opts = parse_options(argc, argv);
    is_verbose = opts.is_verbose;
    const int signal_fd = install_signals(opts);

    baton::listener::error err;
    const baton::listener::inherited_sockets inherited = baton::listener::from_env(err);
    if (err)
        fatal(exit_system, err.message);
    if (!inherited.is_under_starter())
        fatal(exit_usage, "not started by a starter: SERVER_STARTER_PORT and LISTEN_FDS are unset");

    std::vector<int> listeners;
    for (const baton::listener::inherited_socket& s : inherited.sockets) {
        if (s.info.type != baton::listener::socket_type::stream || !s.info.is_listening)
            continue;
        const int flags = ::fcntl(s.fd, F_GETFL);
        if (flags < 0 || ::fcntl(s.fd, F_SETFL, flags | O_NONBLOCK) != 0)
            fatal(exit_system, "fcntl " + s.name + ": " + std::strerror(errno));
        listeners.push_back(s.fd);
        log("listening on " + s.info.address + " (" + s.name + ", fd " + std::to_string(s.fd) +
            ")");
    }
    if (!opts.dump_env.empty())
        dump_environment(opts.dump_env);

    server srv(opts, std::move(listeners), signal_fd);
    return srv.run();
}
