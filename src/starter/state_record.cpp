// SPDX-License-Identifier: MIT
// The upgrade record's reader (docs/design.md §2.4); the writer is state_record_write.cpp.
#include "state_record.hpp"

#include "record_token.hpp"
#include "state_record_format.hpp"

#include <array>
#include <charconv>
#include <climits>
#include <csignal>
#include <cstdint>
#include <limits>
#include <set>

namespace baton::starter {

namespace {

using namespace record_format;

/// Reads one record into an upgrade_state, line by line; the first error stops it.
class reader {
public:
    explicit reader(upgrade_state& s)
        : s_(s)
    {}

    bool parse(std::string_view text);

    std::string error;

private:
    using handler = bool (reader::*)();

    bool fail(const std::string& why)
    {
        error = "upgrade record line " + std::to_string(line_no_) + ": " + why;
        return false;
    }

    bool need(std::size_t fields)
    {
        return tok_.size() > fields || fail(std::string(tok_[0]) + ": too few fields");
    }

    template <class Number>
    bool number(std::size_t i, Number& out, Number min = std::numeric_limits<Number>::min(),
                Number max = std::numeric_limits<Number>::max())
    {
        const std::string_view t = tok_[i];
        Number value{};
        const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
        if (ec != std::errc{} || ptr != t.data() + t.size() || value < min || value > max)
            return fail(std::string(tok_[0]) + ": bad number");
        out = value;
        return true;
    }

    bool text(std::size_t i, std::string& out)
    {
        auto bytes = unescaped(tok_[i]);
        if (!bytes)
            return fail(std::string(tok_[0]) + ": bad escape");
        out = std::move(*bytes);
        return true;
    }

    bool time(std::size_t i, clock::time_point& out)
    {
        std::int64_t ns = 0;
        if (!number<std::int64_t>(i, ns, 0, max_time_ns))
            return false;
        out = clock::time_point(std::chrono::duration_cast<clock::duration>(nanos(ns)));
        return true;
    }

    bool time(std::size_t i, std::optional<clock::time_point>& out)
    {
        if (tok_[i] == "-") {
            out.reset();
            return true;
        }
        clock::time_point t;
        if (!time(i, t))
            return false;
        out = t;
        return true;
    }

    bool flag(std::size_t i, bool& out)
    {
        if (tok_[i] != "0" && tok_[i] != "1")
            return fail(std::string(tok_[0]) + ": 0 or 1 expected");
        out = tok_[i] == "1";
        return true;
    }

    bool item(std::size_t& count, std::string_view what)
    {
        return ++count <= max_record_items || fail(std::string("too many ") + std::string(what));
    }

    /// A descriptor, listed once in the whole record.
    bool fd(std::size_t i, int& out)
    {
        return number<int>(i, out, 0, INT_MAX) &&
               (fds_.insert(out).second ||
                fail("descriptor " + std::to_string(out) + " listed twice"));
    }

    /// A worker's pid, listed once in the whole record.
    bool pid(std::size_t i, pid_t& out)
    {
        return number<pid_t>(i, out, 1, std::numeric_limits<pid_t>::max()) &&
               (pids_.insert(out).second ||
                fail("worker " + std::to_string(out) + " listed twice"));
    }

    bool on_writer() { return need(1) && text(1, s_.writer); }

    bool on_argv()
    {
        return need(1) && item(argv_, "argv entries") && text(1, s_.argv.emplace_back());
    }

    bool on_env()
    {
        return need(1) && item(env_, "environment entries") && text(1, s_.env.emplace_back());
    }

    bool on_phase();
    bool on_kind();

    bool on_generation() { return need(1) && number(1, s_.machine.generation); }

    bool on_failures() { return need(1) && number(1, s_.machine.failures); }

    bool on_hup_pending() { return need(1) && flag(1, s_.machine.is_hup_pending); }

    bool on_next_spawn() { return need(1) && time(1, s_.machine.next_spawn_at); }

    bool on_last_spawn() { return need(1) && time(1, s_.machine.last_spawn_at); }

    bool on_last_restart() { return need(1) && time(1, s_.machine.last_restart); }

    bool on_worker();
    bool on_live_worker(std::optional<machine_state::worker>& slot);

    bool on_restart_hups() { return need(1) && number(1, s_.machine.record.hups); }

    bool on_attempt();
    bool on_stop();
    bool on_listener();

    bool on_port_env() { return need(1) && text(1, s_.port_env); }

    bool on_kept(std::optional<kept_fd>& slot);

    bool on_notify() { return on_kept(s_.notify_socket); }

    bool on_pid_file() { return on_kept(s_.pid_file); }

    bool on_health() { return on_kept(s_.health); }

    bool on_log() { return on_kept(s_.log); }

    bool on_status_file() { return need(1) && text(1, s_.status_file.emplace()); }

    bool on_exe() { return need(1) && text(1, s_.exe); }

    bool on_upgrades()
    {
        return need(2) && number(1, s_.upgrades_done) && number(2, s_.upgrades_failed);
    }

    bool on_started_at()
    {
        return need(1) && number<std::int64_t>(1, s_.started_at.emplace(), 0, max_time_ns);
    }

    bool on_image()
    {
        return need(1) && item(images_, "images") && text(1, s_.images.emplace_back());
    }

    bool on_upgrade_began() { return need(1) && time(1, s_.upgrade_began); }

    bool header(std::string_view line);

    static constexpr std::array<std::pair<std::string_view, handler>, 27> handlers{{
        {"writer", &reader::on_writer},
        {"argv", &reader::on_argv},
        {"env", &reader::on_env},
        {"phase", &reader::on_phase},
        {"restart-kind", &reader::on_kind},
        {"generation", &reader::on_generation},
        {"failures", &reader::on_failures},
        {"hup-pending", &reader::on_hup_pending},
        {"next-spawn-at", &reader::on_next_spawn},
        {"last-spawn-at", &reader::on_last_spawn},
        {"last-restart", &reader::on_last_restart},
        {"worker", &reader::on_worker},
        {"restart-hups", &reader::on_restart_hups},
        {"attempt", &reader::on_attempt},
        {"stop", &reader::on_stop},
        {"listener", &reader::on_listener},
        {"port-env", &reader::on_port_env},
        {"notify-socket", &reader::on_notify},
        {"pid-file", &reader::on_pid_file},
        {"health", &reader::on_health},
        {"log", &reader::on_log},
        {"status-file", &reader::on_status_file},
        {"exe", &reader::on_exe},
        {"upgrades", &reader::on_upgrades},
        {"started-at", &reader::on_started_at},
        {"image", &reader::on_image},
        {"upgrade-began", &reader::on_upgrade_began},
    }};

    upgrade_state& s_;
    std::vector<std::string_view> tok_;
    std::size_t line_no_ = 0;
    std::size_t argv_ = 0;
    std::size_t env_ = 0;
    std::size_t workers_ = 0;
    std::size_t listeners_ = 0;
    std::size_t images_ = 0;
    std::set<pid_t> pids_;
    std::set<int> fds_;
};

bool reader::header(std::string_view line)
{
    line_no_ = 1;
    tok_ = split_tokens(line);
    if (tok_.size() < 2 || tok_[0] != header_key)
        return fail("not an upgrade record (no `baton-upgrade VERSION` line)");
    const std::string_view v = tok_[1];
    const auto dot = v.find('.');
    const std::string_view major = v.substr(0, dot);
    const std::string_view minor = dot == std::string_view::npos ? "0" : v.substr(dot + 1);
    unsigned maj = 0;
    unsigned min = 0;
    const auto m1 = std::from_chars(major.data(), major.data() + major.size(), maj);
    const auto m2 = std::from_chars(minor.data(), minor.data() + minor.size(), min);
    if (m1.ec != std::errc{} || m1.ptr != major.data() + major.size() || m2.ec != std::errc{} ||
        m2.ptr != minor.data() + minor.size() || maj == 0)
        return fail("bad format version");
    if (maj > current_record_version.major)
        return fail("format " + std::to_string(maj) + "." + std::to_string(min) +
                    " is newer than this build reads (" +
                    std::to_string(current_record_version.major) + ".x)");
    s_.version = {maj, min};
    return true;
}

bool reader::parse(std::string_view text)
{
    if (text.size() > max_record_bytes)
        return fail("longer than " + std::to_string(max_record_bytes) + " bytes");
    const auto first = text.find('\n');
    if (first == std::string_view::npos)
        return fail("truncated (no end line)");
    if (!header(text.substr(0, first)))
        return false;
    text.remove_prefix(first + 1);
    while (!text.empty()) {
        ++line_no_;
        const auto nl = text.find('\n');
        if (nl == std::string_view::npos)
            return fail("truncated (no end line)");
        const std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        if (line == end_line)
            return text.empty() || fail("bytes after the end line");
        tok_ = split_tokens(line);
        // A key this build does not know is a newer build's addition: skipped.
        for (const auto& [key, fn] : handlers) {
            if (key == tok_[0]) {
                if (!(this->*fn)())
                    return false;
                break;
            }
        }
    }
    return fail("truncated (no end line)");
}

bool reader::on_phase()
{
    if (!need(1))
        return false;
    const auto p = enum_named<state>(tok_[1], phase_names);
    if (!p)
        return fail("unknown phase");
    s_.machine.phase = *p;
    return true;
}

bool reader::on_kind()
{
    if (!need(1))
        return false;
    const auto k = enum_named<machine_state::restart_kind>(tok_[1], kind_names);
    if (!k)
        return fail("unknown restart kind");
    s_.machine.kind = *k;
    return true;
}

bool reader::on_live_worker(std::optional<machine_state::worker>& slot)
{
    if (slot)
        return fail("two " + std::string(tok_[1]) + " workers");
    machine_state::worker w;
    if (!need(5) || !pid(2, w.pid) || !number(3, w.generation) || !time(4, w.spawned) ||
        !number(5, w.hups))
        return false;
    slot = w;
    return true;
}

bool reader::on_worker()
{
    if (!need(2) || !item(workers_, "workers"))
        return false;
    const std::string_view what = tok_[1];
    if (what == "starting")
        return on_live_worker(s_.machine.candidate);
    if (what == "ready")
        return on_live_worker(s_.machine.current);
    pid_t p = 0;
    if (what == "doomed")
        return pid(2, p) && (s_.machine.doomed.insert(p), true);
    if (what != "retiring")
        return fail("unknown worker state");
    machine_state::retired r;
    if (!need(6) || !pid(2, p) || !number(3, r.generation) || !time(4, r.signal_at) ||
        !time(5, r.signalled_at) || !flag(6, r.is_killed))
        return false;
    s_.machine.old[p] = r;
    return true;
}

bool reader::on_attempt()
{
    if (!need(5))
        return false;
    restart_attempt a;
    if (!number(2, a.generation) || !number(3, a.hups) || !number(4, a.pid) || !text(5, a.why))
        return false;
    auto& record = s_.machine.record;
    const std::string_view what = tok_[1];
    if (what == "started")
        record.started = a;
    else if (what == "ready")
        record.ready = a;
    else if (what == "failed")
        record.failed = a;
    else
        return fail("unknown attempt");
    return true;
}

bool reader::on_stop()
{
    machine_state::stop_request stop;
    if (!need(4) || !text(1, stop.received) || !number(2, stop.sent.number, 1, NSIG - 1) ||
        !text(3, stop.sent.name) || !time(4, stop.until))
        return false;
    s_.machine.stop = std::move(stop);
    return true;
}

bool reader::on_listener()
{
    listener_socket l;
    if (!need(3) || !item(listeners_, "listeners") || !fd(1, l.fd) || !text(2, l.key))
        return false;
    if (tok_[3] != "-" && !text(3, l.socket_path.emplace()))
        return false;
    s_.listeners.push_back(std::move(l));
    return true;
}

bool reader::on_kept(std::optional<kept_fd>& slot)
{
    if (slot)
        return fail(std::string(tok_[0]) + " listed twice");
    kept_fd k;
    if (!need(2) || !fd(1, k.fd) || !text(2, k.what))
        return false;
    slot = std::move(k);
    return true;
}

} // namespace

std::optional<upgrade_state> read_record(std::string_view text, std::string& error)
{
    upgrade_state s;
    s.version = {0, 0};
    reader r(s);
    if (!r.parse(text)) {
        error = std::move(r.error);
        return std::nullopt;
    }
    return s;
}

} // namespace baton::starter
