// SPDX-License-Identifier: MIT
#include "pid_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace baton::starter {

pid_file::pid_file(pid_file&& other) noexcept
    : path_(std::move(other.path_))
    , fd_(std::move(other.fd_))
{}

pid_file& pid_file::operator=(pid_file&& other) noexcept
{
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        fd_ = std::move(other.fd_);
    }
    return *this;
}

pid_file::~pid_file()
{
    release();
}

bool pid_file::acquire(const std::string& path, setup_error& err)
{
    struct stat st {};

    const bool existed = ::stat(path.c_str(), &st) == 0;
    detail::unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) {
        err = {errc::pid_file_failed, "failed to open file:" + path + ": " + std::strerror(errno)};
        return false;
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        const int e = errno;
        char buf[32] = {};
        const ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
        std::string other = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
        if (const auto nl = other.find('\n'); nl != std::string::npos)
            other.resize(nl);
        if (e == EWOULDBLOCK)
            err = {errc::pid_file_locked, "pid file " + path +
                                              " is locked by another start_server" +
                                              (other.empty() ? "" : " (pid " + other + ")")};
        else
            err = {errc::pid_file_failed, "flock failed(" + path + "): " + std::strerror(e)};
        return false;
    }
    path_ = path;
    fd_ = std::move(fd);
    if (!rewrite(err)) {
        if (!existed)
            ::unlink(path.c_str());
        fd_.reset();
        return false;
    }
    return true;
}

bool pid_file::rewrite(setup_error& err)
{
    const std::string text = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_.get(), 0) != 0 ||
        ::pwrite(fd_.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
        err = {errc::pid_file_failed,
               "failed to write file:" + path_ + ": " + std::strerror(errno)};
        return false;
    }
    return true;
}

void pid_file::release() noexcept
{
    if (!fd_)
        return;
    ::unlink(path_.c_str()); // before the lock goes: a waiting --stop then sees no file
    fd_.reset();
}

pid_file_reading read_pid_file(const std::string& path)
{
    pid_file_reading r;
    r.fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!r.fd) {
        r.err = "failed to open file:" + path + ":" + std::strerror(errno);
        return r;
    }
    char buf[32] = {};
    const ssize_t n = ::pread(r.fd.get(), buf, sizeof buf - 1, 0);
    r.pid = n > 0 ? static_cast<pid_t>(std::atol(buf)) : 0;
    if (r.pid <= 0) {
        r.err = "no pid in file:" + path;
        return r;
    }
    r.is_locked = ::flock(r.fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (!r.is_locked)
        ::flock(r.fd.get(), LOCK_UN);
    return r;
}

} // namespace baton::starter
