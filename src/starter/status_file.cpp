// SPDX-License-Identifier: MIT
#include "status_file.hpp"

#include "common/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

namespace baton::starter {

std::string format_status(std::vector<std::pair<unsigned long, pid_t>> workers)
{
    std::sort(workers.begin(), workers.end());
    std::string out;
    for (const auto& [gen, pid] : workers)
        out += std::to_string(gen) + ":" + std::to_string(pid) + "\n";
    return out;
}

std::vector<unsigned long> parse_status_generations(std::string_view text)
{
    std::vector<unsigned long> gens;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        unsigned long gen = 0;
        const auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), gen);
        if (ec == std::errc{} && ptr != line.data() && ptr < line.data() + line.size() &&
            *ptr == ':')
            gens.push_back(gen);
    }
    std::sort(gens.begin(), gens.end());
    gens.erase(std::unique(gens.begin(), gens.end()), gens.end());
    return gens;
}

std::error_code write_status_file(const std::string& path, std::string_view text)
{
    const std::string tmp = path + "." + std::to_string(::getpid());
    {
        const detail::unique_fd fd(
            ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!fd)
            return {errno, std::generic_category()};
        std::size_t off = 0;
        while (off < text.size()) {
            const ssize_t w = ::write(fd.get(), text.data() + off, text.size() - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                const std::error_code ec(errno, std::generic_category());
                ::unlink(tmp.c_str());
                return ec;
            }
            off += static_cast<std::size_t>(w);
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::error_code ec(errno, std::generic_category());
        ::unlink(tmp.c_str());
        return ec;
    }
    return {};
}

} // namespace baton::starter
