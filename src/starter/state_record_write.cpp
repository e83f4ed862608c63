// SPDX-License-Identifier: MIT
// The upgrade record's writer (docs/design.md §2.4); the reader is state_record.cpp.
#include "record_token.hpp"
#include "state_record.hpp"
#include "state_record_format.hpp"

#include <initializer_list>

namespace baton::starter {

namespace {

using namespace record_format;

// What this build writes: current_record_version, but in start_server_format10, a test build
// (tests/integration/workers/CMakeLists.txt) that writes 1.0, as the builds before 1.1 did,
// so that upgrades between builds of two formats are tested both ways.
#ifdef BATON_TEST_WRITES_RECORD_1_0
constexpr record_version written_version{1, 0};
#else
constexpr record_version written_version = current_record_version;
#endif

std::string time_text(clock::time_point t)
{
    return std::to_string(std::chrono::duration_cast<nanos>(t.time_since_epoch()).count());
}

std::string time_text(const std::optional<clock::time_point>& t)
{
    return t ? time_text(*t) : "-";
}

/// Appends `key f1 f2 ...\n`; the fields are already tokens.
void put(std::string& out, std::string_view key, std::initializer_list<std::string> fields)
{
    out += key;
    for (const auto& f : fields) {
        out += ' ';
        out += f;
    }
    out += '\n';
}

template <class Enum, std::size_t N>
std::string name_of(Enum e, const std::array<std::string_view, N>& names)
{
    return std::string(names.at(static_cast<std::size_t>(e)));
}

void put_worker(std::string& out, std::string_view what, const machine_state::worker& w)
{
    put(out, "worker",
        {std::string(what), std::to_string(w.pid), std::to_string(w.generation),
         time_text(w.spawned), std::to_string(w.hups)});
}

void put_attempt(std::string& out, std::string_view what, const std::optional<restart_attempt>& a)
{
    if (a)
        put(out, "attempt",
            {std::string(what), std::to_string(a->generation), std::to_string(a->hups),
             std::to_string(a->pid), escaped(a->why)});
}

void put_machine(std::string& out, const machine_state& m)
{
    put(out, "phase", {name_of(m.phase, phase_names)});
    put(out, "restart-kind", {name_of(m.kind, kind_names)});
    put(out, "generation", {std::to_string(m.generation)});
    put(out, "failures", {std::to_string(m.failures)});
    put(out, "hup-pending", {m.is_hup_pending ? "1" : "0"});
    put(out, "next-spawn-at", {time_text(m.next_spawn_at)});
    put(out, "last-spawn-at", {time_text(m.last_spawn_at)});
    put(out, "last-restart", {time_text(m.last_restart)});
    if (m.candidate)
        put_worker(out, "starting", *m.candidate);
    if (m.current)
        put_worker(out, "ready", *m.current);
    for (const auto& [pid, r] : m.old)
        put(out, "worker",
            {"retiring", std::to_string(pid), std::to_string(r.generation), time_text(r.signal_at),
             time_text(r.signalled_at), r.is_killed ? "1" : "0"});
    for (const pid_t pid : m.doomed)
        put(out, "worker", {"doomed", std::to_string(pid)});
    put(out, "restart-hups", {std::to_string(m.record.hups)});
    put_attempt(out, "started", m.record.started);
    put_attempt(out, "ready", m.record.ready);
    put_attempt(out, "failed", m.record.failed);
    if (m.stop)
        put(out, "stop",
            {escaped(m.stop->received), std::to_string(m.stop->sent.number),
             escaped(m.stop->sent.name), time_text(m.stop->until)});
}

void put_fd(std::string& out, std::string_view key, const std::optional<kept_fd>& k)
{
    if (k)
        put(out, key, {std::to_string(k->fd), escaped(k->what)});
}

} // namespace

std::string write_record(const upgrade_state& s)
{
    std::string out;
    std::string version = std::to_string(written_version.major);
    if (written_version.minor != 0)
        version += "." + std::to_string(written_version.minor);
    put(out, header_key, {version});
    put(out, "writer", {escaped(s.writer)});
    for (const auto& a : s.argv)
        put(out, "argv", {escaped(a)});
    for (const auto& e : s.env)
        put(out, "env", {escaped(e)});
    put_machine(out, s.machine);
    for (const auto& l : s.listeners)
        put(out, "listener",
            {std::to_string(l.fd), escaped(l.key), l.socket_path ? escaped(*l.socket_path) : "-"});
    put(out, "port-env", {escaped(s.port_env)});
    put_fd(out, "notify-socket", s.notify_socket);
    put_fd(out, "pid-file", s.pid_file);
    put_fd(out, "health", s.health);
    put_fd(out, "log", s.log);
    if (s.status_file)
        put(out, "status-file", {escaped(*s.status_file)});
    if constexpr (written_version.minor >= 1) {
        if (!s.exe.empty())
            put(out, "exe", {escaped(s.exe)});
        put(out, "upgrades", {std::to_string(s.upgrades_done), std::to_string(s.upgrades_failed)});
        if (s.started_at)
            put(out, "started-at", {std::to_string(*s.started_at)});
        if (s.upgrade_began)
            put(out, "upgrade-began", {time_text(s.upgrade_began)});
        for (const auto& i : s.images)
            put(out, "image", {escaped(i)});
    }
    out += end_line;
    out += '\n';
    return out;
}

} // namespace baton::starter
