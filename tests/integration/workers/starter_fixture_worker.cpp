// SPDX-License-Identifier: MIT
// A worker for start_server's tests. On every inherited stream socket it answers each
// connection with "<pid> <generation>\n" and closes; on a datagram socket it replies the
// same to each datagram. Flags (generation-dependent ones let one command line make a
// deploy fail on purpose):
//   --notify-ready                 send READY=1 to NOTIFY_SOCKET once serving
//   --never-ready-on-generation G  ... except on generation G
//   --exit-on-generation G         exit 1 at once on generation G (a crash on start)
//   --exit-on-generations-from G   exit 1 at once on every generation >= G
//   --ignore-term                  ignore SIGTERM
//   --dump-env FILE                write the environment, cwd, inherited sockets, open
//                                  descriptors and SIGPIPE disposition to FILE.<generation>
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

volatile std::sig_atomic_t is_stopping = 0;

void on_term(int)
{
    is_stopping = 1;
}

void notify_ready()
{
    const char* addr = std::getenv("NOTIFY_SOCKET");
    if (!addr || std::strlen(addr) < 2)
        return;
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    const std::size_t n = std::strlen(addr);
    if (n >= sizeof sun.sun_path)
        return;
    std::memcpy(sun.sun_path, addr, n);
    if (addr[0] == '@')
        sun.sun_path[0] = '\0';
    const auto len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + (addr[0] == '@' ? 0 : 1));
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ::sendto(fd, "READY=1", 7, 0, reinterpret_cast<const sockaddr*>(&sun), len);
    ::close(fd);
}

std::vector<int> inherited_fds()
{
    std::vector<int> fds;
    const char* env = std::getenv("SERVER_STARTER_PORT");
    std::string s = env ? env : "";
    std::size_t pos = 0;
    while (pos < s.size()) {
        auto end = s.find(';', pos);
        if (end == std::string::npos)
            end = s.size();
        const std::string entry = s.substr(pos, end - pos);
        const auto eq = entry.rfind('=');
        if (eq != std::string::npos)
            fds.push_back(std::atoi(entry.c_str() + eq + 1));
        pos = end + 1;
    }
    return fds;
}

// --dump-env: what the worker inherited, written to FILE.<generation> (atomically).
void dump_environment(const std::string& dump, long gen, const std::vector<int>& fds)
{
    // before the dump file itself is opened
    std::string open_list;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        const int own = ::dirfd(d);
        std::vector<int> open_fds;
        while (const dirent* e = ::readdir(d))
            if (e->d_name[0] != '.' && std::atoi(e->d_name) != own)
                open_fds.push_back(std::atoi(e->d_name));
        ::closedir(d);
        std::sort(open_fds.begin(), open_fds.end());
        for (int fd : open_fds)
            open_list += " " + std::to_string(fd);
    }
    std::ofstream out(dump + "." + std::to_string(gen) + ".tmp");
    out << "open" << open_list << "\n";
    for (char** e = environ; *e; ++e)
        out << "env " << *e << "\n";
    char cwd[4096] = {};
    out << "cwd " << (::getcwd(cwd, sizeof cwd) ? cwd : "?") << "\n";
    for (int fd : fds) {
        int type = 0;
        socklen_t len = sizeof type;
        const bool ok = ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
        out << "fd " << fd << " "
            << (!ok                  ? "closed"
                : type == SOCK_DGRAM ? "dgram"
                                     : "stream")
            << "\n";
    }

    struct sigaction sa {};

    ::sigaction(SIGPIPE, nullptr, &sa);
    out << "sigpipe " << (sa.sa_handler == SIG_IGN ? "ignored" : "default") << "\n";
    out.close();
    std::rename((dump + "." + std::to_string(gen) + ".tmp").c_str(),
                (dump + "." + std::to_string(gen)).c_str());
}

// Answer "<pid> <gen>\n" on every inherited socket until SIGTERM.
void serve(long gen, const std::vector<int>& fds)
{
    const std::string reply = std::to_string(::getpid()) + " " + std::to_string(gen) + "\n";
    std::vector<pollfd> pfds;
    for (int fd : fds)
        pfds.push_back({fd, POLLIN, 0});
    while (!is_stopping) {
        const int rc = ::poll(pfds.data(), pfds.size(), 1000);
        if (rc <= 0)
            continue;
        for (auto& p : pfds) {
            if (!(p.revents & POLLIN))
                continue;
            int type = 0;
            socklen_t len = sizeof type;
            ::getsockopt(p.fd, SOL_SOCKET, SO_TYPE, &type, &len);
            if (type == SOCK_DGRAM) {
                char buf[512];
                sockaddr_storage from{};
                socklen_t flen = sizeof from;
                if (::recvfrom(p.fd, buf, sizeof buf, MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &flen) >= 0)
                    ::sendto(p.fd, reply.data(), reply.size(), 0,
                             reinterpret_cast<sockaddr*>(&from), flen);
                continue;
            }
            const int c = ::accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0)
                continue;
            [[maybe_unused]] auto w = ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
            ::close(c);
        }
    }
}

} // namespace

int main(int argc, char** argv)
{
    const char* gen_env = std::getenv("SERVER_STARTER_GENERATION");
    const long gen = gen_env ? std::atol(gen_env) : 0;
    bool is_notify = false;
    long never_ready_gen = -1;
    std::string dump;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const auto next = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
        if (a == "--notify-ready")
            is_notify = true;
        else if (a == "--never-ready-on-generation")
            never_ready_gen = std::atol(next().c_str());
        else if (a == "--exit-on-generation") {
            if (std::atol(next().c_str()) == gen)
                return 1;
        } else if (a == "--exit-on-generations-from") {
            if (gen >= std::atol(next().c_str()))
                return 1;
        } else if (a == "--ignore-term")
            std::signal(SIGTERM, SIG_IGN);
        else if (a == "--dump-env")
            dump = next();
    }

    // Kept ignored when it is (--ignore-term, or inherited so); read without changing it: a
    // TERM sent right after the exec (start_server stopping a worker it just started) must
    // not fall into a moment where it is ignored, as it did when this set SIG_IGN to read it.
    struct sigaction current {};

    ::sigaction(SIGTERM, nullptr, &current);
    if (current.sa_handler != SIG_IGN) {
        struct sigaction sa {};

        sa.sa_handler = on_term;
        ::sigaction(SIGTERM, &sa, nullptr);
    }
    const std::vector<int> fds = inherited_fds();
    if (!dump.empty())
        dump_environment(dump, gen, fds);
    if (is_notify && gen != never_ready_gen)
        notify_ready();
    serve(gen, fds);
    return 0;
}
