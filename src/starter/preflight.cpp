// SPDX-License-Identifier: MIT
#include "preflight.hpp"

#include "log.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

namespace baton::starter {

namespace {

// The first line of `text`, printable, at most 200 bytes.
std::string first_line(const std::string& text)
{
    return log_line::printable(text.substr(0, std::min<std::size_t>(text.find('\n'), 200)));
}

// Wait for `pid`, which was just sent SIGKILL or has exited: not long.
int reap(pid_t pid) noexcept
{
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

} // namespace

std::chrono::milliseconds preflight_time_limit()
{
    // A test hook, as BATON_TEST_REFUSE_UPGRADE_STATE: the timeout path without 10 s of waiting.
    const char* hook = std::getenv("BATON_TEST_PREFLIGHT_TIMEOUT_MS");
    const std::string_view text = hook != nullptr ? hook : "";
    long ms = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || ms <= 0)
        return preflight_timeout;
    return std::chrono::milliseconds(ms);
}

std::optional<preflight> preflight::start(const invocation& inv, int state_fd,
                                          std::chrono::milliseconds timeout, std::string& error)
{
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
        error = std::string("pipe: ") + std::strerror(errno);
        return std::nullopt;
    }
    detail::unique_fd read_end(p[0]);
    detail::unique_fd write_end(p[1]);
    // Only the loop's end is non-blocking: the child writes as a program writes its stdout.
    const int flags = ::fcntl(read_end.get(), F_GETFL);
    if (flags < 0 || ::fcntl(read_end.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
        error = std::string("pipe: ") + std::strerror(errno);
        return std::nullopt;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        error = std::string("fork: ") + std::strerror(errno);
        return std::nullopt;
    }
    if (pid == 0)
        exec_check(inv, state_fd, write_end.get());
    return preflight(pid, std::move(read_end), timeout);
}

preflight::preflight(pid_t pid, detail::unique_fd out, std::chrono::milliseconds timeout)
    : pid_(pid)
    , out_(std::move(out))
    , timeout_(timeout)
    , deadline_(clock::now() + timeout)
{}

preflight::preflight(preflight&& other) noexcept
    : pid_(std::exchange(other.pid_, -1))
    , out_(std::move(other.out_))
    , output_(std::move(other.output_))
    , status_(std::exchange(other.status_, std::nullopt))
    , timeout_(other.timeout_)
    , deadline_(other.deadline_)
{}

preflight& preflight::operator=(preflight&& other) noexcept
{
    if (this != &other) {
        cancel();
        pid_ = std::exchange(other.pid_, -1);
        out_ = std::move(other.out_);
        output_ = std::move(other.output_);
        status_ = std::exchange(other.status_, std::nullopt);
        timeout_ = other.timeout_;
        deadline_ = other.deadline_;
    }
    return *this;
}

preflight::~preflight()
{
    cancel();
}

void preflight::on_readable()
{
    // Bounded: the pipe holds at most 64 kB, and a child writing faster than this reads
    // only delays its own verdict to the deadline.
    for (int i = 0; i < 256 && out_; ++i) {
        char buf[512];
        const ssize_t n = ::read(out_.get(), buf, sizeof buf);
        if (n > 0) {
            if (output_.size() < 4096)
                output_.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        out_.reset(); // end of file (or an error: nothing more will come)
    }
    int status = 0;
    if (!out_ && !status_ && pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_)
        status_ = status;
}

bool preflight::is_done(clock::time_point now) const noexcept
{
    return (status_ && !out_) || now >= deadline_;
}

std::string preflight::verdict()
{
    if (!status_ || out_) { // asked once is_done: the deadline passed
        cancel();
        return "timed out after " + std::to_string(timeout_.count()) + " ms";
    }
    const int status = *status_;
    pid_ = -1; // reaped
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return {};
    std::string why = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                        : "killed by signal " + std::to_string(WTERMSIG(status));
    const std::string said = first_line(output_);
    return said.empty() ? why : said + " (" + why + ")";
}

void preflight::cancel() noexcept
{
    if (pid_ > 0 && !status_) {
        ::kill(pid_, SIGKILL);
        status_ = reap(pid_);
    }
    pid_ = -1;
    out_.reset();
}

} // namespace baton::starter
