// SPDX-License-Identifier: MIT
#include "support/loopback.hpp"

#include "support/child_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace baton::test {
namespace {

[[noreturn]] void throw_errno(int err, const std::string& what)
{
    throw std::system_error(err, std::generic_category(), what);
}

/// `sockaddr_un` for a path or `@abstract` name; the length excludes an abstract trailing NUL.
socklen_t make_unix_address(std::string_view address, sockaddr_un& sa)
{
    sa = sockaddr_un{};
    sa.sun_family = AF_UNIX;
    const bool is_abstract = address.starts_with('@');
    // A path needs room for its NUL; an abstract name's '@' becomes the leading NUL.
    if (address.empty() || address.size() > sizeof sa.sun_path - (is_abstract ? 0 : 1))
        throw std::invalid_argument("unix socket address does not fit: \"" + std::string{address} +
                                    '"');
    std::memcpy(sa.sun_path, address.data(), address.size());
    if (is_abstract) {
        sa.sun_path[0] = '\0';
        return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
    }
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() + 1);
}

int poll_ms(std::chrono::milliseconds timeout)
{
    return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(
        timeout.count(), 0, std::numeric_limits<int>::max()));
}

/// Wait for one event on `fd`, retrying EINTR within the deadline. Returns revents, 0 on timeout.
short wait_for(int fd, short events, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, poll_ms(left));
        if (n > 0)
            return p.revents;
        if (n == 0 || errno != EINTR)
            return 0;
    }
    return 0;
}

/// Non-blocking connect bounded by `timeout`, then back to blocking.
unique_fd connect_address(int family, const sockaddr* sa, socklen_t length, std::error_code& ec,
                          std::chrono::milliseconds timeout)
{
    unique_fd fd{::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!fd) {
        ec.assign(errno, std::generic_category());
        return {};
    }
    if (::connect(fd.get(), sa, length) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            ec.assign(errno, std::generic_category());
            return {};
        }
        if (wait_for(fd.get(), POLLOUT, timeout) == 0) {
            ec = std::make_error_code(std::errc::timed_out);
            return {};
        }
        int err = 0;
        socklen_t err_length = sizeof err;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_length) != 0)
            err = errno;
        if (err != 0) {
            ec.assign(err, std::generic_category());
            return {};
        }
    }
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
        ec.assign(errno, std::generic_category());
        return {};
    }
    ec.clear();
    return fd;
}

/// `sockaddr_in` / `sockaddr_in6` for a numeric IPv4 or IPv6 literal and a port in `ss`;
/// the address length, or 0 when `host` is neither.
socklen_t make_ip_address(std::string_view host, std::uint16_t port, sockaddr_storage& ss)
{
    ss = sockaddr_storage{};
    const std::string h{host};
    sockaddr_in v4{};
    sockaddr_in6 v6{};
    if (::inet_pton(AF_INET, h.c_str(), &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        std::memcpy(&ss, &v4, sizeof v4);
        return sizeof v4;
    }
    if (::inet_pton(AF_INET6, h.c_str(), &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        std::memcpy(&ss, &v6, sizeof v6);
        return sizeof v6;
    }
    return 0;
}

/// All of `text` as a number in `base` (a /proc field).
template <class Number>
bool parse_whole(std::string_view text, Number& out, int base = 10)
{
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
    return ec == std::errc{} && end == text.data() + text.size();
}

/// The `ADDRESS:PORT` field of a /proc/net table into `s.host` and `s.port`. The kernel
/// prints the address as 32-bit words in host byte order (one for IPv4, four for IPv6) and the
/// port as a number.
bool parse_proc_address(std::string_view field, held_socket& s)
{
    const std::size_t colon = field.find(':');
    const std::size_t words = s.family == ip_family::v4 ? 1 : 4;
    if (colon != words * 8 || !parse_whole(field.substr(colon + 1), s.port, 16))
        return false;
    std::array<unsigned char, 16> bytes{};
    for (std::size_t i = 0; i < words; ++i) {
        std::uint32_t word = 0;
        if (!parse_whole(field.substr(i * 8, 8), word, 16))
            return false;
        std::memcpy(bytes.data() + i * 4, &word, sizeof word);
    }
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (::inet_ntop(s.family == ip_family::v4 ? AF_INET : AF_INET6, bytes.data(), text.data(),
                    static_cast<socklen_t>(text.size())) == nullptr)
        return false;
    s.host = text.data();
    return true;
}

/// The sockets of one /proc/PID/net table in `state` (TCP_LISTEN is 0A, an unconnected UDP
/// socket is TCP_CLOSE, 07), by inode.
void read_socket_table(const std::string& path, ip_family family, bool is_udp,
                       std::string_view state, std::map<unsigned long, held_socket>& out)
{
    std::ifstream in(path);
    std::string line;
    std::getline(in, line); // the header
    // Bounded by the table's length; the cap only guards against a file that never ends.
    for (int row = 0; row < 1'000'000 && std::getline(in, line); ++row) {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        std::istringstream fields(line);
        std::string slot, local, remote, st, queues, timer, retransmits, uid, timeout;
        unsigned long inode = 0;
        if (!(fields >> slot >> local >> remote >> st >> queues >> timer >> retransmits >> uid >>
              timeout >> inode) ||
            st != state || inode == 0)
            continue;
        held_socket s;
        s.family = family;
        s.is_udp = is_udp;
        if (parse_proc_address(local, s))
            out[inode] = std::move(s);
    }
}

} // namespace

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept
{
    if (this != &other)
        reset(other.release());
    return *this;
}

unique_fd::~unique_fd()
{
    reset();
}

int unique_fd::release() noexcept
{
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

void unique_fd::reset(int fd) noexcept
{
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = fd;
}

std::string_view loopback_host(ip_family family)
{
    return family == ip_family::v4 ? "127.0.0.1" : "::1";
}

std::string tcp_listener::key() const
{
    const std::string p = std::to_string(port);
    return family == ip_family::v4 ? "127.0.0.1:" + p : "[::1]:" + p;
}

tcp_listener listen_tcp(ip_family family, int backlog)
{
    const int af = family == ip_family::v4 ? AF_INET : AF_INET6;
    unique_fd fd{::socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!fd)
        throw_errno(errno, "socket");
    int rc = 0;
    if (family == ip_family::v4) {
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    } else {
        const int on = 1;
        (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        sa.sin6_addr = in6addr_loopback;
        rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    }
    if (rc != 0)
        throw_errno(errno, "bind " + std::string{loopback_host(family)} + " port 0");
    if (::listen(fd.get(), backlog) != 0)
        throw_errno(errno, "listen");
    tcp_listener result;
    result.port = local_port(fd.get());
    result.fd = std::move(fd);
    result.family = family;
    return result;
}

bool has_ipv6_loopback()
{
    try {
        (void)listen_tcp(ip_family::v6, 1);
        return true;
    } catch (const std::system_error&) {
        return false;
    }
}

std::uint16_t local_port(int fd)
{
    sockaddr_storage ss{};
    socklen_t length = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &length) != 0)
        throw_errno(errno, "getsockname");
    if (ss.ss_family == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
    throw std::system_error(std::make_error_code(std::errc::address_family_not_supported),
                            "local_port: not an IP socket");
}

std::ostream& operator<<(std::ostream& os, const held_socket& s)
{
    const bool is_v6 = s.family == ip_family::v6;
    return os << "fd " << s.fd << (s.is_udp ? ": udp " : ": tcp ") << (is_v6 ? "[" : "") << s.host
              << (is_v6 ? "]:" : ":") << s.port;
}

std::vector<held_socket> listening_sockets(pid_t pid)
{
    const std::string proc = "/proc/" + std::to_string(pid);
    std::map<unsigned long, held_socket> by_inode;
    read_socket_table(proc + "/net/tcp", ip_family::v4, false, "0A", by_inode);
    read_socket_table(proc + "/net/tcp6", ip_family::v6, false, "0A", by_inode);
    read_socket_table(proc + "/net/udp", ip_family::v4, true, "07", by_inode);
    read_socket_table(proc + "/net/udp6", ip_family::v6, true, "07", by_inode);

    std::vector<held_socket> result;
    std::error_code ec;
    std::filesystem::directory_iterator it{proc + "/fd", ec};
    for (int entry = 0; entry < 1'000'000 && !ec && it != std::filesystem::directory_iterator{};
         ++entry, it.increment(ec)) {
        std::error_code link_ec;
        const std::string target = std::filesystem::read_symlink(it->path(), link_ec).string();
        constexpr std::string_view prefix = "socket:[";
        if (link_ec || !target.starts_with(prefix) || !target.ends_with(']'))
            continue;
        unsigned long inode = 0;
        int fd = -1;
        const std::string_view digits =
            std::string_view{target}.substr(prefix.size(), target.size() - prefix.size() - 1);
        if (!parse_whole(digits, inode) || !parse_whole(it->path().filename().string(), fd))
            continue;
        if (const auto found = by_inode.find(inode); found != by_inode.end()) {
            held_socket s = found->second;
            s.fd = fd;
            result.push_back(std::move(s));
        }
    }
    std::sort(result.begin(), result.end(),
              [](const held_socket& a, const held_socket& b) { return a.fd < b.fd; });
    return result;
}

std::vector<held_socket> wait_for_listening_sockets(pid_t pid, std::size_t count,
                                                    std::chrono::milliseconds timeout)
{
    std::vector<held_socket> sockets;
    (void)wait_until(
        [&] {
            sockets = listening_sockets(pid);
            return sockets.size() >= count;
        },
        timeout);
    return sockets;
}

std::string read_file(const std::filesystem::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

temp_dir::temp_dir()
{
    std::string templ = (std::filesystem::temp_directory_path() / "baton-test-XXXXXX").string();
    std::vector<char> buffer(templ.begin(), templ.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr)
        throw_errno(errno, "mkdtemp " + templ);
    path_ = buffer.data();
}

temp_dir::temp_dir(temp_dir&& other) noexcept
    : path_(std::move(other.path_))
{
    other.path_.clear();
}

temp_dir::~temp_dir()
{
    if (path_.empty())
        return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

unique_fd listen_unix(const std::filesystem::path& path, int backlog)
{
    sockaddr_un sa{};
    const socklen_t length = make_unix_address(path.native(), sa);

    struct stat st {};

    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
        ::unlink(path.c_str());
    unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!fd)
        throw_errno(errno, "socket");
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), length) != 0)
        throw_errno(errno, "bind " + path.native());
    if (::listen(fd.get(), backlog) != 0)
        throw_errno(errno, "listen " + path.native());
    return fd;
}

unique_fd bind_unix_datagram(std::string_view address)
{
    sockaddr_un sa{};
    const socklen_t length = make_unix_address(address, sa);
    unique_fd fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (!fd)
        throw_errno(errno, "socket");
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), length) != 0)
        throw_errno(errno, "bind " + std::string{address});
    return fd;
}

std::string unique_abstract_name()
{
    static std::atomic<unsigned> counter{0};
    return "@baton-test-" + std::to_string(::getpid()) + '-' + std::to_string(++counter);
}

unique_fd connect_tcp(std::string_view host, std::uint16_t port, std::error_code& ec,
                      std::chrono::milliseconds timeout)
{
    sockaddr_storage ss{};
    const socklen_t length = make_ip_address(host, port, ss);
    if (length == 0) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return {};
    }
    return connect_address(ss.ss_family, reinterpret_cast<const sockaddr*>(&ss), length, ec,
                           timeout);
}

unique_fd connect_tcp(std::string_view host, std::uint16_t port, std::chrono::milliseconds timeout)
{
    std::error_code ec;
    unique_fd fd = connect_tcp(host, port, ec, timeout);
    if (ec)
        throw std::system_error(ec, "connect to " + std::string{host} + " port " +
                                        std::to_string(port));
    return fd;
}

unique_fd connect_tcp(ip_family family, std::uint16_t port, std::chrono::milliseconds timeout)
{
    return connect_tcp(loopback_host(family), port, timeout);
}

unique_fd connect_udp(std::string_view host, std::uint16_t port)
{
    const std::string what =
        "connect UDP to " + std::string{host} + " port " + std::to_string(port);
    sockaddr_storage ss{};
    const socklen_t length = make_ip_address(host, port, ss);
    if (length == 0)
        throw std::system_error(std::make_error_code(std::errc::invalid_argument), what);
    unique_fd fd{::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (!fd)
        throw_errno(errno, "socket");
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), length) != 0)
        throw_errno(errno, what);
    return fd;
}

unique_fd connect_unix(const std::filesystem::path& path, std::error_code& ec,
                       std::chrono::milliseconds timeout)
{
    sockaddr_un sa{};
    const socklen_t length = make_unix_address(path.native(), sa);
    return connect_address(AF_UNIX, reinterpret_cast<const sockaddr*>(&sa), length, ec, timeout);
}

unique_fd connect_unix(const std::filesystem::path& path, std::chrono::milliseconds timeout)
{
    std::error_code ec;
    unique_fd fd = connect_unix(path, ec, timeout);
    if (ec)
        throw std::system_error(ec, "connect to " + path.native());
    return fd;
}

unique_fd accept_connection(int listen_fd, std::chrono::milliseconds timeout)
{
    if ((wait_for(listen_fd, POLLIN, timeout) & POLLIN) == 0)
        return {};
    return unique_fd{::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC)};
}

bool receive_datagram(int fd, std::string& out, std::chrono::milliseconds timeout)
{
    if ((wait_for(fd, POLLIN, timeout) & POLLIN) == 0)
        return false;
    std::string buffer(65536, '\0');
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0)
        return false;
    buffer.resize(static_cast<std::size_t>(n));
    out = std::move(buffer);
    return true;
}

std::filesystem::path bin_dir()
{
    const char* dir = std::getenv("BATON_BIN_DIR");
    if (dir == nullptr || *dir == '\0')
        throw std::runtime_error("BATON_BIN_DIR is not set: run the tests through ctest, or set "
                                 "it to the build's bin directory");
    return dir;
}

std::filesystem::path fixture_program(std::string_view name)
{
    std::filesystem::path path = bin_dir() / name;
    if (::access(path.c_str(), X_OK) != 0)
        throw std::runtime_error("fixture program " + path.native() +
                                 " is missing or not executable: build it first");
    return path;
}

} // namespace baton::test
