// SPDX-License-Identifier: MIT
#include "status_report.hpp"

#include "log.hpp"
#include "record_token.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <limits>

#ifndef BATON_VERSION
#error "BATON_VERSION is set by src/starter/CMakeLists.txt"
#endif

namespace baton::starter {

namespace {

using nanos = std::chrono::nanoseconds;

constexpr std::string_view header_key = "baton-status";
constexpr std::array<std::string_view, 3> role_names{"starting", "ready", "retiring"};
constexpr std::array<std::string_view, 4> outcome_names{"none", "in-progress", "ready", "failed"};

std::int64_t ns_of(clock::time_point t)
{
    return std::chrono::duration_cast<nanos>(t.time_since_epoch()).count();
}

std::string phase_of(const machine_state& m)
{
    if (m.stop && m.phase != state::stopping && m.phase != state::stopped)
        return "draining";
    switch (m.phase) {
    case state::restarting:
        return m.current ? "restarting" : "starting";
    case state::running:
        return "running";
    case state::stopping:
        return "stopping";
    case state::stopped:
        break;
    }
    return "stopped";
}

// The latest of the record's attempts, by generation (a later attempt has a larger one).
last_restart restart_of(const restart_record& r)
{
    last_restart out;
    const auto take = [&](const std::optional<restart_attempt>& a, last_restart::outcome what) {
        if (a && (out.what == last_restart::outcome::none || a->generation >= out.generation)) {
            out = {what, a->generation, a->pid,
                   what == last_restart::outcome::failed ? a->why : ""};
        }
    };
    take(r.started, last_restart::outcome::in_progress);
    take(r.ready, last_restart::outcome::ready);
    take(r.failed, last_restart::outcome::failed);
    return out;
}

const status_worker* find_worker(const status_snapshot* s, pid_t pid)
{
    if (s == nullptr)
        return nullptr;
    const auto it = std::find_if(s->workers.begin(), s->workers.end(),
                                 [pid](const status_worker& w) { return w.pid == pid; });
    return it == s->workers.end() ? nullptr : &*it;
}

// ---- the file's text

std::string opt_ns(const std::optional<std::int64_t>& t)
{
    return t ? std::to_string(*t) : "-";
}

template <std::size_t N>
std::string_view name_of(std::size_t i, const std::array<std::string_view, N>& names)
{
    return names.at(i);
}

template <class Number>
bool number(std::string_view t, Number& out)
{
    const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return ec == std::errc{} && ptr == t.data() + t.size();
}

bool opt_number(std::string_view t, std::optional<std::int64_t>& out)
{
    if (t == "-") {
        out.reset();
        return true;
    }
    std::int64_t v = 0;
    if (!number(t, v))
        return false;
    out = v;
    return true;
}

bool text(std::string_view t, std::string& out)
{
    auto bytes = unescaped(t);
    if (bytes)
        out = std::move(*bytes);
    return bytes.has_value();
}

// One line into `s`; false when a known key's fields are malformed. Unknown keys (a newer
// minor version's) are skipped.
bool read_line(const std::vector<std::string_view>& f, status_snapshot& s)
{
    const std::string_view key = f[0];
    const auto has = [&](std::size_t n) { return f.size() > n; };
    auto& st = s.starter;
    if (key == "pid")
        return has(1) && number(f[1], st.pid);
    if (key == "version")
        return has(1) && text(f[1], st.version);
    if (key == "started")
        return has(2) && number(f[1], st.started_ns) && number(f[2], st.started_unix);
    if (key == "upgrades")
        return has(2) && number(f[1], st.upgrades_done) && number(f[2], st.upgrades_failed);
    if (key == "last-upgrade")
        return has(1) && text(f[1], st.last_upgrade);
    if (key == "listeners")
        return has(1) && text(f[1], st.listeners);
    if (key == "phase")
        return has(1) && text(f[1], s.phase);
    if (key == "generation")
        return has(1) && number(f[1], s.generation);
    if (key == "hups")
        return has(1) && number(f[1], s.hups);
    if (key == "hup-pending")
        return has(1) && (f[1] == "0" || f[1] == "1") && ((s.is_hup_pending = f[1] == "1"), true);
    if (key == "failures")
        return has(1) && number(f[1], s.failures);
    if (key == "next-spawn")
        return has(1) && opt_number(f[1], s.next_spawn_ns);
    if (key == "worker") {
        status_worker w;
        const auto role = has(6) ? enum_named<worker_role>(f[1], role_names) : std::nullopt;
        if (!role || !number(f[2], w.pid) || !number(f[3], w.generation) ||
            !opt_number(f[4], w.spawned_ns) || !opt_number(f[5], w.ready_ns) ||
            (f[6] != "0" && f[6] != "1"))
            return false;
        w.role = *role;
        w.is_signalled = f[6] == "1";
        s.workers.push_back(w);
        return true;
    }
    if (key == "restart") {
        const auto what =
            has(4) ? enum_named<last_restart::outcome>(f[1], outcome_names) : std::nullopt;
        s.restart.what = what.value_or(last_restart::outcome::none);
        return what && number(f[2], s.restart.generation) && number(f[3], s.restart.pid) &&
               text(f[4], s.restart.why);
    }
    return true;
}

// ---- for people and programs

/// `12.3s`, `4m05s`, `2h03m`, `3d04h`: an age at a glance.
std::string duration_text(std::int64_t ns)
{
    if (ns < 0)
        ns = 0;
    const std::int64_t ms = ns / 1'000'000;
    const std::int64_t s = ms / 1000;
    char buf[48];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%lld.%03llds", static_cast<long long>(s),
                      static_cast<long long>(ms % 1000));
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                      static_cast<long long>(s % 60));
    else if (s < 86400)
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                      static_cast<long long>(s / 60 % 60));
    else
        std::snprintf(buf, sizeof buf, "%lldd%02lldh", static_cast<long long>(s / 86400),
                      static_cast<long long>(s / 3600 % 24));
    return buf;
}

std::string restart_text(const last_restart& r)
{
    switch (r.what) {
    case last_restart::outcome::none:
        return "none";
    case last_restart::outcome::in_progress:
        return "generation " + std::to_string(r.generation) + " starting (pid " +
               std::to_string(r.pid) + ")";
    case last_restart::outcome::ready:
        return "generation " + std::to_string(r.generation) + " ready (pid " +
               std::to_string(r.pid) + ")";
    case last_restart::outcome::failed:
        break;
    }
    return "generation " + std::to_string(r.generation) + " failed: " + log_line::printable(r.why);
}

std::int64_t ms_between(std::int64_t from_ns, std::int64_t to_ns)
{
    return std::max<std::int64_t>(0, to_ns - from_ns) / 1'000'000;
}

// A JSON member list built in order; the values are already JSON.
class json_object {
public:
    json_object& add(std::string_view key, const std::string& value)
    {
        out_ += out_.empty() ? "{" : ",";
        out_ += json_string(key);
        out_ += ':';
        out_ += value;
        return *this;
    }

    json_object& add(std::string_view key, std::int64_t n) { return add(key, std::to_string(n)); }

    json_object& add(std::string_view key, const std::optional<std::int64_t>& n)
    {
        return add(key, n ? std::to_string(*n) : std::string("null"));
    }

    json_object& flag(std::string_view key, bool b)
    {
        return add(key, std::string(b ? "true" : "false"));
    }

    std::string str() const { return out_.empty() ? "{}" : out_ + "}"; }

private:
    std::string out_;
};

std::optional<std::int64_t> age_ms(const std::optional<std::int64_t>& since, std::int64_t now)
{
    return since ? std::optional<std::int64_t>(ms_between(*since, now)) : std::nullopt;
}

std::optional<std::int64_t> ready_ms(const status_worker& w)
{
    return w.spawned_ns && w.ready_ns
               ? std::optional<std::int64_t>(ms_between(*w.spawned_ns, *w.ready_ns))
               : std::nullopt;
}

} // namespace

std::string_view baton_version() noexcept
{
    return BATON_VERSION;
}

std::string status_snapshot_path(const std::string& pid_file)
{
    return pid_file + ".baton-status";
}

status_snapshot make_snapshot(const starter_facts& facts, const machine_state& m,
                              const status_snapshot* previous, clock::time_point now)
{
    status_snapshot s;
    s.starter = facts;
    s.phase = phase_of(m);
    s.generation = m.generation;
    s.hups = m.record.hups;
    s.is_hup_pending = m.is_hup_pending;
    s.restart = restart_of(m.record);
    s.failures = m.failures;
    if (m.failures > 0 && !m.candidate && m.phase == state::restarting)
        s.next_spawn_ns = ns_of(m.next_spawn_at);
    if (m.candidate)
        s.workers.push_back({worker_role::starting, m.candidate->pid, m.candidate->generation,
                             ns_of(m.candidate->spawned), std::nullopt, false});
    if (m.current) {
        const status_worker* seen = find_worker(previous, m.current->pid);
        // Ready since the last snapshot, which is taken after every batch of events.
        const auto ready = seen && seen->role == worker_role::ready ? seen->ready_ns : ns_of(now);
        s.workers.push_back({worker_role::ready, m.current->pid, m.current->generation,
                             ns_of(m.current->spawned), ready, false});
    }
    for (const auto& [pid, r] : m.old) {
        const status_worker* seen = find_worker(previous, pid);
        s.workers.push_back({worker_role::retiring, pid, r.generation,
                             seen ? seen->spawned_ns : std::nullopt,
                             seen ? seen->ready_ns : std::nullopt, r.signalled_at.has_value()});
    }
    return s;
}

std::string write_snapshot(const status_snapshot& s)
{
    const auto& st = s.starter;
    std::string out;
    out += std::string(header_key) + " " + std::to_string(status_format_major) + ".0\n";
    out += "pid " + std::to_string(st.pid) + "\n";
    out += "version " + escaped(st.version) + "\n";
    out +=
        "started " + std::to_string(st.started_ns) + " " + std::to_string(st.started_unix) + "\n";
    out += "upgrades " + std::to_string(st.upgrades_done) + " " +
           std::to_string(st.upgrades_failed) + "\n";
    if (!st.last_upgrade.empty())
        out += "last-upgrade " + escaped(st.last_upgrade) + "\n";
    out += "listeners " + escaped(st.listeners) + "\n";
    out += "phase " + escaped(s.phase) + "\n";
    out += "generation " + std::to_string(s.generation) + "\n";
    out += "hups " + std::to_string(s.hups) + "\n";
    out += std::string("hup-pending ") + (s.is_hup_pending ? "1" : "0") + "\n";
    out += "failures " + std::to_string(s.failures) + "\n";
    out += "next-spawn " + opt_ns(s.next_spawn_ns) + "\n";
    for (const auto& w : s.workers)
        out += "worker " + std::string(name_of(static_cast<std::size_t>(w.role), role_names)) +
               " " + std::to_string(w.pid) + " " + std::to_string(w.generation) + " " +
               opt_ns(w.spawned_ns) + " " + opt_ns(w.ready_ns) + " " +
               (w.is_signalled ? "1" : "0") + "\n";
    const auto& r = s.restart;
    out += "restart " + std::string(name_of(static_cast<std::size_t>(r.what), outcome_names)) +
           " " + std::to_string(r.generation) + " " + std::to_string(r.pid) + " " + escaped(r.why) +
           "\n";
    out += "end\n";
    return out;
}

std::optional<status_snapshot> read_snapshot(std::string_view text, std::string& error)
{
    constexpr std::size_t max_lines = 100'000;
    status_snapshot s;
    bool is_header = true;
    for (std::size_t n = 1; n <= max_lines && !text.empty(); ++n) {
        const auto nl = text.find('\n');
        if (nl == std::string_view::npos)
            break; // an unterminated last line: truncated
        const std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        const auto f = split_tokens(line);
        if (is_header) {
            unsigned major = 0;
            const std::string_view v = f.size() > 1 ? f[1].substr(0, f[1].find('.')) : "";
            if (f[0] != header_key || !number(v, major)) {
                error = "not a baton status snapshot";
                return std::nullopt;
            }
            if (major > status_format_major) {
                error = "status snapshot version " + std::string(f[1]) +
                        " is newer than this start_server reads (" +
                        std::to_string(status_format_major) + ".x)";
                return std::nullopt;
            }
            is_header = false;
            continue;
        }
        if (f[0] == "end")
            return s;
        if (!read_line(f, s)) {
            error = "status snapshot line " + std::to_string(n) + ": bad " + std::string(f[0]);
            return std::nullopt;
        }
    }
    error = is_header ? "empty status snapshot" : "status snapshot truncated (no end line)";
    return std::nullopt;
}

std::string format_status_text(const status_snapshot& s, std::int64_t now_ns)
{
    const auto& st = s.starter;
    std::string out;
    const auto row = [&out](std::string_view label, const std::string& value) {
        out += label;
        out.append(label.size() < 18 ? 18 - label.size() : 1, ' ');
        out += value;
        out += '\n';
    };
    row("start_server:", "pid " + std::to_string(st.pid) + ", baton " + st.version);
    row("uptime:", duration_text(now_ns - st.started_ns));
    row("state:", s.phase + ", generation " + std::to_string(s.generation));
    row("upgrades:",
        std::to_string(st.upgrades_done) + " done, " + std::to_string(st.upgrades_failed) +
            " failed" +
            (st.last_upgrade.empty() ? "" : "; last: " + log_line::printable(st.last_upgrade)));
    row("listeners:", st.listeners.empty() ? "(none)" : log_line::printable(st.listeners));
    row("last restart:", restart_text(s.restart));
    row("hups:", std::to_string(s.hups) + (s.is_hup_pending ? ", one pending" : ", none pending"));
    if (s.next_spawn_ns)
        row("backoff:", std::to_string(s.failures) + " failed starts, next spawn in " +
                            duration_text(*s.next_spawn_ns - now_ns));
    else
        row("backoff:", s.failures == 0 ? "none" : std::to_string(s.failures) + " failed starts");
    if (s.workers.empty()) {
        row("workers:", "none");
        return out;
    }
    out += "workers:\n";
    char line[160];
    std::snprintf(line, sizeof line, "  %-10s %-9s %-10s %-10s %s\n", "GENERATION", "PID", "STATE",
                  "AGE", "READY AFTER");
    out += line;
    for (const auto& w : s.workers) {
        const auto age = age_ms(w.spawned_ns, now_ns);
        const auto ready = ready_ms(w);
        std::string state(name_of(static_cast<std::size_t>(w.role), role_names));
        if (w.is_signalled)
            state += "*";
        std::snprintf(line, sizeof line, "  %-10lu %-9d %-10s %-10s %s\n", w.generation,
                      static_cast<int>(w.pid), state.c_str(),
                      age ? duration_text(*age * 1'000'000).c_str() : "?",
                      ready ? duration_text(*ready * 1'000'000).c_str() : "-");
        out += line;
    }
    return out;
}

std::string format_status_json(const status_snapshot& s, std::int64_t now_ns)
{
    const auto& st = s.starter;
    std::string workers = "[";
    for (const auto& w : s.workers) {
        if (workers.size() > 1)
            workers += ',';
        workers +=
            json_object{}
                .add("generation", static_cast<std::int64_t>(w.generation))
                .add("pid", std::int64_t{w.pid})
                .add("state", json_string(name_of(static_cast<std::size_t>(w.role), role_names)))
                .add("age_ms", age_ms(w.spawned_ns, now_ns))
                .add("ready_after_ms", ready_ms(w))
                .flag("signalled", w.is_signalled)
                .str();
    }
    workers += ']';
    const auto& r = s.restart;
    const std::string restart =
        json_object{}
            .add("result", json_string(name_of(static_cast<std::size_t>(r.what), outcome_names)))
            .add("generation", static_cast<std::int64_t>(r.generation))
            .add("pid", std::int64_t{r.pid})
            .add("reason", r.what == last_restart::outcome::failed ? json_string(r.why) : "null")
            .str();
    const std::optional<std::int64_t> next_spawn =
        s.next_spawn_ns ? std::optional<std::int64_t>(
                              std::max<std::int64_t>(0, *s.next_spawn_ns - now_ns) / 1'000'000)
                        : std::nullopt;
    const std::string backoff = json_object{}
                                    .add("failures", std::int64_t{s.failures})
                                    .add("next_spawn_in_ms", next_spawn)
                                    .str();
    return json_object{}
               .add("schema", std::int64_t{status_format_major})
               .add("pid", std::int64_t{st.pid})
               .add("version", json_string(st.version))
               .add("started_at_unix", st.started_unix)
               .add("uptime_ms", ms_between(st.started_ns, now_ns))
               .add("upgrades",
                    json_object{}
                        .add("done", static_cast<std::int64_t>(st.upgrades_done))
                        .add("failed", static_cast<std::int64_t>(st.upgrades_failed))
                        .add("last", st.last_upgrade.empty() ? std::string("null")
                                                             : json_string(st.last_upgrade))
                        .str())
               .add("listeners", json_string(st.listeners))
               .add("state", json_string(s.phase))
               .add("generation", static_cast<std::int64_t>(s.generation))
               .add("hups", static_cast<std::int64_t>(s.hups))
               .flag("hup_pending", s.is_hup_pending)
               .add("last_restart", restart)
               .add("backoff", backoff)
               .add("workers", workers)
               .str() +
           "\n";
}

std::string json_string(std::string_view s)
{
    constexpr std::string_view hex = "0123456789abcdef";
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c < 0x20 || c >= 0x7f) {
            // Every byte outside printable ASCII as its own code point: always valid JSON,
            // whatever the encoding of a path in the listeners.
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += ch;
        }
    }
    out += '"';
    return out;
}

} // namespace baton::starter
