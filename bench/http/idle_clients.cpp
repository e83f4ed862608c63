// SPDX-License-Identifier: MIT
// idle_clients PORT [N]: opens N (<= 5000) keep-alive connections to 127.0.0.1:PORT, sends one
// request on each and reads its response, prints "open N ok M", then holds them open, idle,
// until killed (at most 120 s).
#include "connect_loopback.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: idle_clients PORT [N]\n");
        return 111;
    }
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    const int n = argc > 2 ? std::clamp(std::atoi(argv[2]), 1, 5000) : 1000;
    alarm(120); // bounded, whatever the caller does
    static const char req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    std::vector<int> fds;
    int ok = 0;
    for (int i = 0; i < n; ++i) {
        int fd = connect_loopback(port);
        if (fd < 0)
            break;
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        fds.push_back(fd);
        char buf[1024];
        if (::write(fd, req, sizeof req - 1) == static_cast<ssize_t>(sizeof req - 1) &&
            ::read(fd, buf, sizeof buf) > 0)
            ++ok;
    }
    std::printf("open %zu ok %d\n", fds.size(), ok);
    std::fflush(stdout);
    for (;;)
        pause();
}
