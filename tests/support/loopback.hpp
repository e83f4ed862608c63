#pragma once
// SPDX-License-Identifier: MIT

// Loopback sockets for tests: listeners on 127.0.0.1 / ::1 port 0 (never a fixed port),
// the ports a child process bound (it is told port 0; the test reads back what the kernel
// chose), unix sockets under a temporary directory, bounded connects, and where the fixture
// programs live. Every descriptor made here is close-on-exec; hand one to a child with
// `child_options::inherit_fds`.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace baton::test {

/// Owns a file descriptor; closes it on destruction. Movable, not copyable.
class unique_fd {
public:
    unique_fd() noexcept = default;

    explicit unique_fd(int fd) noexcept
        : fd_(fd)
    {}

    unique_fd(unique_fd&& other) noexcept
        : fd_(other.release())
    {}

    unique_fd& operator=(unique_fd&& other) noexcept;
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd();

    int get() const noexcept { return fd_; }

    bool is_valid() const noexcept { return fd_ >= 0; }

    explicit operator bool() const noexcept { return is_valid(); }

    /// Give up ownership; returns the descriptor.
    int release() noexcept;

    /// Close the current descriptor (if any) and own `fd`.
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

/// A loopback address family.
enum class ip_family { v4, v6 };

/// "127.0.0.1" or "::1".
std::string_view loopback_host(ip_family family);

/// A listening TCP socket on loopback, bound to port 0, and the port the kernel chose.
struct tcp_listener {
    unique_fd fd;
    ip_family family = ip_family::v4;
    std::uint16_t port = 0;

    /// The SERVER_STARTER_PORT key: `127.0.0.1:PORT` or `[::1]:PORT`.
    std::string key() const;
};

/// Listen on 127.0.0.1 or ::1, port 0, close-on-exec, blocking. @throws std::system_error
tcp_listener listen_tcp(ip_family family = ip_family::v4, int backlog = 128);

/// True when ::1 can be bound here (containers may run without IPv6); tests GTEST_SKIP otherwise.
bool has_ipv6_loopback();

/// The local port of a bound AF_INET/AF_INET6 socket. @throws std::system_error
std::uint16_t local_port(int fd);

/// An IP socket that a process holds, as /proc shows it.
struct held_socket {
    int fd = -1; ///< its descriptor number in that process
    ip_family family = ip_family::v4;
    bool is_udp = false;
    std::string host; ///< the local address: "127.0.0.1", "::1", "0.0.0.0", ...
    std::uint16_t port = 0;
};

/// "fd 3: tcp 127.0.0.1:8080", "fd 4: udp [::1]:53" (also how GoogleTest prints one).
std::ostream& operator<<(std::ostream& os, const held_socket& s);

/** The listening TCP sockets and the bound, unconnected UDP sockets that process `pid`
    holds, in descriptor order (a socket held under two numbers is listed twice): its
    /proc/PID/fd links (`socket:[INODE]`) matched against /proc/PID/net/{tcp,tcp6,udp,udp6}.
    This is how a test learns the port a child bound when it was told port 0. Reading another
    process's descriptors needs its user or root; an unreadable or gone process has none. */
std::vector<held_socket> listening_sockets(pid_t pid);

/// `listening_sockets(pid)` once it lists at least `count` sockets, or what it lists at the
/// timeout.
std::vector<held_socket> wait_for_listening_sockets(pid_t pid, std::size_t count,
                                                    std::chrono::milliseconds timeout);

/// A directory under the system temp dir, removed with its contents on destruction.
class temp_dir {
public:
    /// Create `<tmp>/baton-test-XXXXXX` (short, so unix socket paths fit). @throws
    /// std::system_error
    temp_dir();
    temp_dir(temp_dir&& other) noexcept;
    temp_dir& operator=(temp_dir&&) = delete;
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir();

    const std::filesystem::path& path() const noexcept { return path_; }

    /// `path() / name`.
    std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

/// The whole content of the file at `path`; empty when it is missing or unreadable.
std::string read_file(const std::filesystem::path& path);

/// A listening unix stream socket bound at `path` (replaced if a socket file is there).
/// @throws std::system_error
unique_fd listen_unix(const std::filesystem::path& path, int backlog = 128);

/// A unix datagram socket bound at `address`: an absolute path, or `@name` for the abstract
/// namespace (as in NOTIFY_SOCKET). Tests receive sd_notify messages on it. @throws
/// std::system_error
unique_fd bind_unix_datagram(std::string_view address);

/// A fresh `@baton-test-<pid>-<n>` abstract name, unique within this process.
std::string unique_abstract_name();

/// The default bound on a connect or accept.
inline constexpr std::chrono::milliseconds default_io_timeout{5000};

/// Connect a TCP socket to `host` (a numeric IPv4/IPv6 literal) and `port`, waiting at most
/// `timeout`. Refused, unreachable and timed out are reported in `ec` (`std::errc::...`);
/// the returned socket is blocking and close-on-exec.
unique_fd connect_tcp(std::string_view host, std::uint16_t port, std::error_code& ec,
                      std::chrono::milliseconds timeout = default_io_timeout);

/// @throws std::system_error naming the address.
unique_fd connect_tcp(std::string_view host, std::uint16_t port,
                      std::chrono::milliseconds timeout = default_io_timeout);

/// Connect to the loopback address of `family`. @throws std::system_error
unique_fd connect_tcp(ip_family family, std::uint16_t port,
                      std::chrono::milliseconds timeout = default_io_timeout);

/// A UDP socket connected to `host` (a numeric IPv4/IPv6 literal) and `port`, so `send` and
/// `receive_datagram` talk to that peer alone. @throws std::system_error naming the address.
unique_fd connect_udp(std::string_view host, std::uint16_t port);

/// Connect a unix stream socket to `path`; the error cases as for `connect_tcp`.
unique_fd connect_unix(const std::filesystem::path& path, std::error_code& ec,
                       std::chrono::milliseconds timeout = default_io_timeout);

/// @throws std::system_error naming the path.
unique_fd connect_unix(const std::filesystem::path& path,
                       std::chrono::milliseconds timeout = default_io_timeout);

/// Accept one connection on `listen_fd` within `timeout`; an invalid fd on timeout or error.
unique_fd accept_connection(int listen_fd, std::chrono::milliseconds timeout = default_io_timeout);

/// Receive one datagram (up to 64 KiB) within `timeout` into `out`, byte for byte.
/// Returns false on timeout or error.
bool receive_datagram(int fd, std::string& out,
                      std::chrono::milliseconds timeout = default_io_timeout);

/// The directory holding the test fixture programs: `$BATON_BIN_DIR`, which
/// tests/CMakeLists.txt sets for every test. @throws std::runtime_error when unset.
std::filesystem::path bin_dir();

/// `bin_dir() / name`, checked to exist and be executable. @throws std::runtime_error
std::filesystem::path fixture_program(std::string_view name);

} // namespace baton::test
