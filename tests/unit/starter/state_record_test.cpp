// SPDX-License-Identifier: MIT
#include "state_record.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace {

using namespace baton::starter;
using namespace std::chrono_literals;

// Every effect as one line, in order, so two machines' effects compare as a whole.
class effect_log final : public effects {
public:
    pid_t spawn(unsigned long generation) override
    {
        lines.push_back("spawn " + std::to_string(generation));
        return next_pid++;
    }

    void send_signal(pid_t pid, int sig) override
    {
        lines.push_back("signal " + std::to_string(pid) + " " + std::to_string(sig));
    }

    void log(std::string_view line) override { lines.push_back("log " + std::string(line)); }

    void status_changed(const std::vector<std::pair<unsigned long, pid_t>>& workers) override
    {
        std::string line = "status";
        for (const auto& [gen, pid] : workers)
            line += " " + std::to_string(gen) + ":" + std::to_string(pid);
        lines.push_back(line);
    }

    void tell_systemd(std::string_view s) override { lines.push_back("systemd " + std::string(s)); }

    void restart_recorded(const restart_record& r) override
    {
        lines.push_back("record " + format_restart_record(r));
    }

    pid_t next_pid = 100;
    std::vector<std::string> lines;
};

const clock::time_point t0 = clock::time_point{} + 1000s + 123'456'789ns;

std::string every_byte()
{
    std::string s;
    for (int c = 0; c < 256; ++c)
        s.push_back(static_cast<char>(c));
    return s;
}

// Workers in every state, a pending HUP, backoff, a failed attempt, a drain-delay stop, and
// argv and environment bytes that break naive formats.
upgrade_state rich_state()
{
    upgrade_state s;
    s.writer = "baton 0.1";
    s.argv = {"/usr/bin/start_server",
              "--port=127.0.0.1:8080",
              "--",
              "/bin/my app",
              "two\nlines",
              "",
              "-",
              "%",
              "a=b",
              "\xff\xfe not utf-8",
              every_byte()};
    s.env = {"PATH=/usr/bin", "EMPTY=", "EQ==x=y", "NL=a\nb", "TAB=\t", "HIGH=\x80\xc3"};
    auto& m = s.machine;
    m.phase = state::restarting;
    m.kind = machine_state::restart_kind::hup;
    m.generation = 9;
    m.current = machine_state::worker{101, 7, t0 + 1ns, 4};
    m.candidate = machine_state::worker{109, 9, t0 + 5s + 7ns, 6};
    m.old[90] = {5, t0 + 3s + 1ns, std::nullopt, false};   // kill-old delay pending
    m.old[91] = {6, std::nullopt, t0 + 2s + 999ns, false}; // signalled, draining
    m.old[92] = {6, std::nullopt, t0 + 1s + 3ns, true};    // KILLed after the timeout
    m.doomed = {105, 107};
    m.next_spawn_at = t0 + 9s + 11ns;
    m.last_spawn_at = t0 + 5s + 7ns;
    m.last_restart = t0 + 13ns;
    m.failures = 7;
    m.record.hups = 6;
    m.record.started = restart_attempt{9, 6, 109, {}};
    m.record.ready = restart_attempt{7, 4, 101, {}};
    m.record.failed = restart_attempt{8, 5, -1, "not ready after 5000 ms"};
    m.is_hup_pending = true;
    m.stop = machine_state::stop_request{"TERM", signal_of(SIGQUIT), t0 + 30s + 5ns};
    s.listeners = {{3, "127.0.0.1:8080", std::nullopt}, {4, "/tmp/a sock", "/tmp/a sock"}};
    s.port_env = "127.0.0.1:8080=3;/tmp/a sock=4";
    s.notify_socket = kept_fd{5, "@baton-start_server/42/1"};
    s.pid_file = kept_fd{6, "/run/app.pid"};
    s.health = kept_fd{7, "127.0.0.1:9090"};
    s.log = kept_fd{2, "| logger -t app"};
    s.status_file = "/run/app status";
    s.exe = "/usr/bin/start_server";
    s.upgrades_done = 3;
    s.upgrades_failed = 1;
    s.started_at = 1'764'700'000'123'456'789;
    s.images = {"0.1.0", "0.2.0 (git 1a2b)", "0.2.1"};
    return s;
}

void expect_same(const machine_state::worker& a, const machine_state::worker& b)
{
    EXPECT_EQ(a.pid, b.pid);
    EXPECT_EQ(a.generation, b.generation);
    EXPECT_EQ(a.spawned, b.spawned);
    EXPECT_EQ(a.hups, b.hups);
}

void expect_same(const machine_state& a, const machine_state& b)
{
    EXPECT_EQ(a.phase, b.phase);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.generation, b.generation);
    ASSERT_EQ(a.current.has_value(), b.current.has_value());
    if (a.current)
        expect_same(*a.current, *b.current);
    ASSERT_EQ(a.candidate.has_value(), b.candidate.has_value());
    if (a.candidate)
        expect_same(*a.candidate, *b.candidate);
    ASSERT_EQ(a.old.size(), b.old.size());
    for (const auto& [pid, r] : a.old) {
        ASSERT_TRUE(b.old.contains(pid)) << pid;
        const auto& o = b.old.at(pid);
        EXPECT_EQ(r.generation, o.generation) << pid;
        EXPECT_EQ(r.signal_at, o.signal_at) << pid;
        EXPECT_EQ(r.signalled_at, o.signalled_at) << pid;
        EXPECT_EQ(r.is_killed, o.is_killed) << pid;
    }
    EXPECT_EQ(a.doomed, b.doomed);
    EXPECT_EQ(a.next_spawn_at, b.next_spawn_at);
    EXPECT_EQ(a.last_spawn_at, b.last_spawn_at);
    EXPECT_EQ(a.last_restart, b.last_restart);
    EXPECT_EQ(a.failures, b.failures);
    EXPECT_EQ(a.record, b.record);
    EXPECT_EQ(a.is_hup_pending, b.is_hup_pending);
    ASSERT_EQ(a.stop.has_value(), b.stop.has_value());
    if (a.stop) {
        EXPECT_EQ(a.stop->received, b.stop->received);
        EXPECT_EQ(a.stop->sent, b.stop->sent);
        EXPECT_EQ(a.stop->until, b.stop->until);
    }
}

void expect_same(const upgrade_state& a, const upgrade_state& b)
{
    EXPECT_EQ(a.version, b.version);
    EXPECT_EQ(a.writer, b.writer);
    EXPECT_EQ(a.argv, b.argv);
    EXPECT_EQ(a.env, b.env);
    expect_same(a.machine, b.machine);
    ASSERT_EQ(a.listeners.size(), b.listeners.size());
    for (std::size_t i = 0; i < a.listeners.size(); ++i) {
        EXPECT_EQ(a.listeners[i].fd, b.listeners[i].fd);
        EXPECT_EQ(a.listeners[i].key, b.listeners[i].key);
        EXPECT_EQ(a.listeners[i].socket_path, b.listeners[i].socket_path);
    }
    EXPECT_EQ(a.port_env, b.port_env);
    EXPECT_EQ(a.notify_socket, b.notify_socket);
    EXPECT_EQ(a.pid_file, b.pid_file);
    EXPECT_EQ(a.health, b.health);
    EXPECT_EQ(a.log, b.log);
    EXPECT_EQ(a.status_file, b.status_file);
    EXPECT_EQ(a.exe, b.exe);
    EXPECT_EQ(a.upgrades_done, b.upgrades_done);
    EXPECT_EQ(a.upgrades_failed, b.upgrades_failed);
    EXPECT_EQ(a.started_at, b.started_at);
    EXPECT_EQ(a.images, b.images);
}

std::optional<upgrade_state> read_ok(std::string_view text)
{
    std::string error;
    auto s = read_record(text, error);
    EXPECT_TRUE(s) << error << "\n" << text;
    return s;
}

std::string refusal(std::string_view text)
{
    std::string error;
    const auto s = read_record(text, error);
    EXPECT_FALSE(s) << text;
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    return error;
}

// `text` with `line` inserted before its end line.
std::string with_line(const std::string& text, std::string_view line)
{
    const auto end = text.rfind("end\n");
    return text.substr(0, end) + std::string(line) + "\n" + text.substr(end);
}

TEST(UpgradeRecord, RichStateRoundTripsFieldByField)
{
    const auto original = rich_state();
    const std::string text = write_record(original);
    EXPECT_TRUE(text.starts_with("baton-upgrade 1.1\n")) << text;
    EXPECT_TRUE(text.ends_with("\nend\n"));
    const auto back = read_ok(text);
    ASSERT_TRUE(back);
    expect_same(original, *back);
    EXPECT_EQ(write_record(*back), text);
}

TEST(UpgradeRecord, EveryTextFieldIsOneLineOfPrintableAscii)
{
    const std::string text = write_record(rich_state());
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << int(c);
    }
    EXPECT_NE(text.find("argv /bin/my%20app\n"), std::string::npos) << text;
    EXPECT_NE(text.find("argv %\n"), std::string::npos); // the empty argument
    EXPECT_NE(text.find("argv %2D\n"), std::string::npos);
    EXPECT_NE(text.find("env EQ==x=y\n"), std::string::npos);
}

TEST(UpgradeRecord, DeadlinesArePreservedToTheNanosecond)
{
    machine_settings settings;
    settings.shutdown_timeout = 10s;
    auto original = rich_state();
    original.machine.stop.reset(); // so that the candidate's and old workers' timers count
    const auto back = read_ok(write_record(original));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->machine.candidate->spawned.time_since_epoch(), 1005s + 123'456'796ns);
    EXPECT_EQ(*back->machine.old.at(91).signalled_at, t0 + 2s + 999ns);
    effect_log a;
    effect_log b;
    const machine m1(settings, a, original.machine);
    const machine m2(settings, b, back->machine);
    ASSERT_TRUE(m1.next_deadline());
    EXPECT_EQ(m1.next_deadline(), m2.next_deadline());
}

TEST(UpgradeRecord, UnknownKeysAndExtraFieldsAreIgnored)
{
    const auto original = rich_state();
    std::string text = write_record(original);
    text = with_line(text, "quantum-flux 42 %20");
    text = with_line(text, "future-key");
    text = with_line(text, "");
    const auto pos = text.find("\nfailures 7\n");
    ASSERT_NE(pos, std::string::npos);
    text.replace(pos, 12, "\nfailures 7 and a newer field\n");
    const auto back = read_ok(text);
    ASSERT_TRUE(back);
    expect_same(original, *back);
}

TEST(UpgradeRecord, MissingKeysTakeTheirDefaults)
{
    const auto back = read_ok("baton-upgrade 1\n"
                              "argv /usr/bin/start_server\n"
                              "generation 3\n"
                              "worker ready 77 3 5000 0\n"
                              "end\n");
    ASSERT_TRUE(back);
    EXPECT_EQ(back->argv, std::vector<std::string>{"/usr/bin/start_server"});
    EXPECT_TRUE(back->env.empty());
    EXPECT_EQ(back->machine.phase, state::restarting); // machine_state's default
    EXPECT_EQ(back->machine.generation, 3u);
    EXPECT_EQ(back->machine.current->pid, 77);
    EXPECT_FALSE(back->machine.candidate);
    EXPECT_EQ(back->machine.failures, 0u);
    EXPECT_FALSE(back->machine.is_hup_pending);
    EXPECT_EQ(back->machine.record, restart_record{});
    EXPECT_TRUE(back->listeners.empty());
    EXPECT_FALSE(back->pid_file);
    EXPECT_FALSE(back->status_file);
    EXPECT_TRUE(back->exe.empty()); // a 1.0 writer's record: no upgrade counters yet
    EXPECT_EQ(back->upgrades_done, 0u);
    EXPECT_EQ(back->upgrades_failed, 0u);
    EXPECT_FALSE(back->started_at);
    EXPECT_TRUE(back->images.empty());
    const auto bare = read_ok("baton-upgrade 1\nend\n");
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->version, (record_version{1, 0}));
}

TEST(UpgradeRecord, NewerMinorVersionIsReadAndNewerMajorIsRefused)
{
    const auto minor = read_ok("baton-upgrade 1.7\ngeneration 2\nend\n");
    ASSERT_TRUE(minor);
    EXPECT_EQ(minor->version, (record_version{1, 7}));
    EXPECT_EQ(minor->machine.generation, 2u);
    const std::string error = refusal("baton-upgrade 2\ngeneration 2\nend\n");
    EXPECT_NE(error.find("format 2.0 is newer than this build reads (1.x)"), std::string::npos)
        << error;
    refusal("baton-upgrade 0\nend\n");
}

TEST(UpgradeRecord, OneOneRecordWithANewerMinorsKeyIsRead)
{
    // What a 1.2 build might write: a key this build does not know, beside the 1.1 keys.
    const auto back = read_ok("baton-upgrade 1.2\n"
                              "upgrades 4 2 99\n"
                              "started-at 1764700000000000000\n"
                              "image 0.1\n"
                              "image 0.2\n"
                              "upgrade-window-ms 17\n"
                              "end\n");
    ASSERT_TRUE(back);
    EXPECT_EQ(back->version, (record_version{1, 2}));
    EXPECT_EQ(back->upgrades_done, 4u);
    EXPECT_EQ(back->upgrades_failed, 2u);
    EXPECT_EQ(back->started_at, 1'764'700'000'000'000'000);
    EXPECT_EQ(back->images, (std::vector<std::string>{"0.1", "0.2"}));
    EXPECT_NE(refusal("baton-upgrade 1.1\nupgrades 4\nend\n").find("upgrades: too few fields"),
              std::string::npos);
    refusal("baton-upgrade 1.1\nstarted-at -5\nend\n");
}

TEST(UpgradeRecord, EveryTruncationIsRefused)
{
    const std::string text = write_record(rich_state());
    for (std::size_t n = 0; n < text.size(); ++n)
        refusal(std::string_view(text).substr(0, n));
}

TEST(UpgradeRecord, GarbageIsRefusedWithALineNumber)
{
    const std::string head = "baton-upgrade 1\n";
    for (const std::string& bad : {
             head + "argv %G0\nend\n",             // not hex
             head + "argv abc%4\nend\n",           // cut escape
             head + "generation -1\nend\n",        // negative
             head + "generation 1x\nend\n",        // trailing junk
             head + "generation\nend\n",           // missing field
             head + "phase dancing\nend\n",        // unknown value of a known key
             head + "hup-pending 2\nend\n",        // not a flag
             head + "worker ready 0 1 0 0\nend\n", // pid 0
             head + "worker ready 5 1 0 0\nworker retiring 5 1 - - 0\nend\n", // pid twice
             head + "worker starting 5 1 0 0\nworker starting 6 1 0 0\nend\n",
             head + "worker resting 5\nend\n",
             head + "next-spawn-at -5\nend\n",
             head + "next-spawn-at 9223372036854775807\nend\n", // would overflow deadlines
             head + "listener -1 k -\nend\n",
             head + "listener 3 a -\nlistener 3 b -\nend\n", // one fd, two listeners
             head + "pid-file 3 p\nlistener 3 b -\nend\n",
             head + "stop TERM 0 TERM 5\nend\n", // no signal 0
             head + "end\nextra\n",
             head + "argv a\tb\nend\n", // a raw control byte
         }) {
        const std::string error = refusal(bad);
        EXPECT_TRUE(error.starts_with("upgrade record line ")) << error;
    }
    refusal("");
    refusal("hello world\n");
    refusal("baton-upgrade\nend\n");
    refusal("baton-upgrade x.1\nend\n");
    refusal(std::string("baton-upgrade 1\0\nend\n", 20));
}

TEST(UpgradeRecord, OversizedRecordsAndAbsurdCountsAreRefused)
{
    std::string big = "baton-upgrade 1\nargv ";
    big.append(max_record_bytes, 'x');
    big += "\nend\n";
    EXPECT_NE(refusal(big).find("longer than"), std::string::npos);

    std::string many = "baton-upgrade 1\n";
    for (std::size_t i = 0; i <= max_record_items; ++i)
        many += "env A=1\n";
    many += "end\n";
    EXPECT_NE(refusal(many).find("too many environment entries"), std::string::npos);
}

TEST(UpgradeRecord, LineWithAMillionTrailingFieldsReadsItsOwnFields)
{
    std::string text = "baton-upgrade 1\ngeneration 5";
    for (int i = 0; i < 1'000'000; ++i)
        text += " x";
    text += "\nend\n";
    const auto back = read_ok(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->machine.generation, 5u);
}

TEST(UpgradeRecord, MachineResumedFromARecordBehavesLikeTheOriginal)
{
    machine_settings settings;
    settings.ready_mode = readiness::notify;
    settings.ready_timeout = 5s;
    settings.shutdown_timeout = 3s;
    settings.kill_old_delay = 1s;
    effect_log before;
    machine original(settings, before);
    original.start(t0);
    original.on_ready(100, t0 + 10ms);
    original.on_hup(t0 + 1s); // 101 starting
    original.on_ready(101, t0 + 1s + 5ms);
    original.on_hup(t0 + 2s);       // 102 starting; 100 retiring after the kill-old delay
    original.on_hup(t0 + 2s + 1ms); // coalesced
    ASSERT_TRUE(original.is_hup_pending());

    upgrade_state s;
    s.machine = original.snapshot();
    const auto back = read_ok(write_record(s));
    ASSERT_TRUE(back);
    effect_log after;
    after.next_pid = before.next_pid;
    machine resumed(settings, after, back->machine);
    before.lines.clear();

    // The same events for both: a ready candidate, the coalesced restart, a crash, KILLs.
    const auto drive = [](machine& m) {
        m.on_tick(t0 + 2s + 500ms);
        m.on_ready(102, t0 + 2s + 600ms);
        m.on_child_exit(100, 0, t0 + 2s + 700ms);
        m.on_tick(t0 + 4s);
        m.on_child_exit(103, 256, t0 + 4s + 1ms);
        m.on_tick(t0 + 8s);
        m.on_tick(t0 + 12s);
        m.on_stop("TERM", signal_of(SIGTERM), t0 + 13s);
    };
    drive(original);
    drive(resumed);
    EXPECT_GT(before.lines.size(), 8u);
    EXPECT_EQ(before.lines, after.lines);
    EXPECT_EQ(original.current_state(), resumed.current_state());
    EXPECT_EQ(original.next_deadline(), resumed.next_deadline());
}

} // namespace
