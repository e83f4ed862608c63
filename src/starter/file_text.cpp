// SPDX-License-Identifier: MIT
#include "file_text.hpp"

#include "common/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace baton::starter {

std::optional<std::string> read_text_file(const std::string& path, std::size_t limit)
{
    const detail::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return std::nullopt;
    std::string out;
    char buf[4096];
    while (out.size() < limit) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return std::nullopt; // closing keeps errno for the caller
        if (n == 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    if (out.size() > limit)
        out.resize(limit);
    return out;
}

} // namespace baton::starter
