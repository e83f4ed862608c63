// SPDX-License-Identifier: MIT
#include "options.hpp"

#include "log.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>

namespace baton::starter {

namespace {

enum class arg_kind { none, string, integer };

struct option_spec {
    std::string_view name;
    arg_kind kind;
    bool is_perl; ///< a Server::Starter 0.35 option (wins an abbreviation tie, for drop-in use)
};

// The table Server::Starter's script hands Getopt::Long, then baton's additions.
constexpr option_spec option_table[] = {
    {"port", arg_kind::string, true},
    {"path", arg_kind::string, true},
    {"interval", arg_kind::integer, true},
    {"log-file", arg_kind::string, true},
    {"pid-file", arg_kind::string, true},
    {"dir", arg_kind::string, true},
    {"signal-on-hup", arg_kind::string, true},
    {"signal-on-term", arg_kind::string, true},
    {"backlog", arg_kind::integer, true},
    {"envdir", arg_kind::string, true},
    {"enable-auto-restart", arg_kind::none, true},
    {"daemonize", arg_kind::none, true},
    {"auto-restart-interval", arg_kind::integer, true},
    {"kill-old-delay", arg_kind::integer, true},
    {"status-file", arg_kind::string, true},
    {"restart", arg_kind::none, true},
    {"stop", arg_kind::none, true},
    {"help", arg_kind::none, true},
    {"version", arg_kind::none, true},
    {"readiness", arg_kind::string, false},
    {"ready-timeout", arg_kind::string, false},
    {"shutdown-timeout", arg_kind::string, false},
};

std::string lower(std::string_view s)
{
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Getopt::Long: exact name, else a unique prefix (case-insensitive). A prefix shared by one
// Server::Starter option and only baton additions resolves to the Server::Starter one, so a
// script written for 0.35 (`--re` for `--restart`) keeps working.
const option_spec* find_option(std::string_view typed, options_error& err)
{
    const std::string name = log_line::printable(lower(typed));
    std::vector<const option_spec*> hits;
    for (const auto& spec : option_table) {
        if (spec.name == name)
            return &spec;
        if (spec.name.starts_with(name))
            hits.push_back(&spec);
    }
    if (hits.size() == 1)
        return hits.front();
    if (hits.empty()) {
        err.message = "Unknown option: " + name;
        return nullptr;
    }
    const auto perl = std::count_if(hits.begin(), hits.end(), [](auto* s) { return s->is_perl; });
    if (perl == 1)
        return *std::find_if(hits.begin(), hits.end(), [](auto* s) { return s->is_perl; });
    std::vector<std::string_view> names;
    for (auto* s : hits)
        names.push_back(s->name);
    std::sort(names.begin(), names.end());
    err.message = "Option " + name + " is ambiguous (";
    for (std::size_t i = 0; i < names.size(); ++i)
        err.message += (i ? ", " : "") + std::string(names[i]);
    err.message += ")";
    return nullptr;
}

std::optional<long> parse_integer(std::string_view text)
{
    // Getopt::Long's `=i`: /^[-+]?\d+$/
    std::string_view digits = text;
    if (!digits.empty() && (digits.front() == '+' || digits.front() == '-'))
        digits.remove_prefix(1);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(),
                                       [](unsigned char c) { return std::isdigit(c) != 0; }))
        return std::nullopt;
    long value = 0;
    const char* first = text.data() + (text.front() == '+' ? 1 : 0);
    const auto [ptr, ec] = std::from_chars(first, text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size())
        return std::nullopt;
    return value;
}

bool apply(options& o, const option_spec& spec, std::string_view value, options_error& err)
{
    const std::string_view n = spec.name;
    if (spec.kind == arg_kind::integer) {
        const auto v = parse_integer(value);
        if (!v) {
            err.message = "Value \"" + log_line::printable(value) + "\" invalid for option " +
                          std::string(n) + " (number expected)";
            return false;
        }
        if (n == "interval")
            o.interval = std::chrono::seconds(*v);
        else if (n == "backlog")
            o.backlog = *v;
        else if (n == "auto-restart-interval")
            o.auto_restart_interval = std::chrono::seconds(*v);
        else if (n == "kill-old-delay")
            o.kill_old_delay = std::chrono::seconds(*v);
        return true;
    }
    if (spec.kind == arg_kind::none) {
        if (n == "enable-auto-restart")
            o.is_auto_restart = true;
        else if (n == "daemonize")
            o.is_daemonize = true;
        else if (n == "restart")
            o.what = o.what == mode::run ? mode::restart : o.what;
        else if (n == "stop")
            o.what = o.what == mode::run ? mode::stop : o.what;
        else if (n == "help")
            o.what = mode::help;
        else if (n == "version")
            o.what = o.what == mode::help ? mode::help : mode::version;
        return true;
    }
    std::string v(value);
    if (n == "port")
        o.ports.push_back(v);
    else if (n == "path")
        o.paths.push_back(v);
    else if (n == "log-file")
        o.log_file = v;
    else if (n == "pid-file")
        o.pid_file = v;
    else if (n == "dir")
        o.dir = v;
    else if (n == "signal-on-hup")
        o.signal_on_hup = normalise_signal_name(v);
    else if (n == "signal-on-term")
        o.signal_on_term = normalise_signal_name(v);
    else if (n == "envdir")
        o.envdir = v;
    else if (n == "status-file")
        o.status_file = v;
    else if (n == "readiness") {
        if (v == "interval")
            o.ready_mode = readiness::interval;
        else if (v == "notify")
            o.ready_mode = readiness::notify;
        else {
            err.message = "Value \"" + log_line::printable(v) +
                          "\" invalid for option readiness (interval or notify expected)";
            return false;
        }
    } else if (n == "ready-timeout" || n == "shutdown-timeout") {
        const auto t = parse_seconds(v);
        if (!t) {
            err.message = "Value \"" + log_line::printable(v) + "\" invalid for option " +
                          std::string(n) + " (seconds expected)";
            return false;
        }
        (n == "ready-timeout" ? o.ready_timeout : o.shutdown_timeout) = *t;
    }
    return true;
}

} // namespace

std::string normalise_signal_name(std::string_view name)
{
    std::string s;
    for (const char c : name)
        s += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (s.starts_with("SIG"))
        s.erase(0, 3);
    return s;
}

std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text)
{
    if (text.empty() || text.size() > 32)
        return std::nullopt;
    const std::string s(text);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0 || v > 1e9 ||
        !std::isdigit(static_cast<unsigned char>(s.front())))
        return std::nullopt;
    // v >= 0: adding a half and truncating is llround (which would link libm in for one call)
    return std::chrono::milliseconds(static_cast<long long>(v * 1000.0 + 0.5));
}

std::optional<options> parse_options(const std::vector<std::string>& args, options_error& err)
{
    options o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--") {
            o.command.insert(o.command.end(), args.begin() + static_cast<long>(i) + 1, args.end());
            break;
        }
        if (a.size() < 2 || a[0] != '-') { // permute: a non-option goes to the program
            o.command.push_back(a);
            continue;
        }
        std::string_view body(a);
        body.remove_prefix(body.starts_with("--") ? 2 : 1);
        const auto eq = body.find('=');
        const std::string_view typed = body.substr(0, eq);
        const option_spec* spec = find_option(typed, err);
        if (!spec)
            return std::nullopt;
        if (spec->kind == arg_kind::none) {
            if (eq != std::string_view::npos) {
                err.message = "Option " + std::string(spec->name) + " does not take an argument";
                return std::nullopt;
            }
            apply(o, *spec, {}, err);
            continue;
        }
        std::string_view value;
        if (eq != std::string_view::npos) {
            value = body.substr(eq + 1);
        } else if (i + 1 < args.size()) {
            value = args[++i]; // Getopt::Long takes the next word, whatever it looks like
        } else {
            err.message = "Option " + std::string(spec->name) + " requires an argument";
            return std::nullopt;
        }
        if (!apply(o, *spec, value, err))
            return std::nullopt;
    }
    if (o.what == mode::help || o.what == mode::version)
        return o;
    if (o.what == mode::restart) {
        if (!o.pid_file || !o.status_file) {
            err.message =
                "--restart option requires --pid-file and --status-file to be set as well";
            return std::nullopt;
        }
        return o;
    }
    if (o.what == mode::stop) {
        if (!o.pid_file) {
            err.message = "--stop option requires --pid-file to be set as well";
            return std::nullopt;
        }
        return o;
    }
    if (o.is_daemonize && !o.log_file) {
        // Server::Starter's wording, typo included: scripts grep for it.
        err.message = "Usage: --log-file option must be specified together with --deamonize";
        return std::nullopt;
    }
    if (o.command.empty()) {
        err.message = "server program not specified";
        return std::nullopt;
    }
    if (o.interval < std::chrono::seconds(0)) {
        err.message = "Value \"" + std::to_string(o.interval.count()) +
                      "\" invalid for option interval (a non-negative number expected)";
        return std::nullopt;
    }
    return o;
}

} // namespace baton::starter
