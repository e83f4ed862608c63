// SPDX-License-Identifier: MIT
#include "options.hpp"

#include "health.hpp"
#include "log.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <type_traits>
#include <utility>

namespace baton::starter {

namespace {

enum class arg_kind { none, string, integer };

/// A value as a setter gets it: the option's name, the text, and its number for an
/// `arg_kind::integer` option.
struct option_arg {
    std::string_view name;
    std::string_view text;
    long number = 0;
};

using option_setter = bool (*)(options& o, const option_arg& arg, options_error& err);

struct option_spec {
    std::string_view name;
    arg_kind kind;
    bool is_perl; ///< a Server::Starter 0.35 option (wins an abbreviation tie, for drop-in use)
    option_setter set; ///< stores the value; false with `err` filled when the value is invalid
    /// Matched only when typed in full: a new option that must not take an abbreviation
    /// scripts already use for an older one (`--sh` stays `--shutdown-timeout`).
    bool is_exact = false;
};

// Stores the value in `Field`, in the field's own type (a flag is set by its presence).
template <auto Field>
bool store(options& o, const option_arg& arg, options_error&)
{
    auto& field = o.*Field;
    using field_type = std::remove_cvref_t<decltype(field)>;
    if constexpr (std::is_same_v<field_type, bool>)
        field = true;
    else if constexpr (std::is_same_v<field_type, std::vector<std::string>>)
        field.emplace_back(arg.text);
    else if constexpr (std::is_same_v<field_type, std::optional<std::string>>)
        field = std::string(arg.text);
    else if constexpr (std::is_same_v<field_type, std::optional<long>>)
        field = arg.number;
    else if constexpr (std::is_same_v<field_type, std::chrono::seconds> ||
                       std::is_same_v<field_type, std::optional<std::chrono::seconds>>)
        field = std::chrono::seconds(arg.number);
    else
        static_assert(std::is_same_v<field_type, bool>, "store<> has no rule for this field");
    return true;
}

template <std::string options::*Field>
bool store_signal(options& o, const option_arg& arg, options_error&)
{
    o.*Field = normalise_signal_name(arg.text);
    return true;
}

// help wins over everything, version over the client modes, a client mode over running.
template <mode Asked>
bool ask(options& o, const option_arg&, options_error&)
{
    if (Asked == mode::help || o.what == mode::run ||
        (Asked == mode::version && o.what != mode::help))
        o.what = Asked;
    return true;
}

bool store_readiness(options& o, const option_arg& arg, options_error& err)
{
    if (arg.text == "interval" || arg.text == "notify") {
        o.ready_mode = arg.text == "notify" ? readiness::notify : readiness::interval;
        return true;
    }
    err.message = "Value \"" + log_line::printable(arg.text) +
                  "\" invalid for option readiness (interval or notify expected)";
    return false;
}

template <std::optional<std::chrono::milliseconds> options::*Field>
bool store_timeout(options& o, const option_arg& arg, options_error& err)
{
    const auto t = parse_seconds(arg.text);
    if (!t) {
        err.message = "Value \"" + log_line::printable(arg.text) + "\" invalid for option " +
                      std::string(arg.name) + " (seconds expected)";
        return false;
    }
    o.*Field = *t;
    return true;
}

bool store_health(options& o, const option_arg& arg, options_error& err)
{
    std::string error;
    if (!parse_health_spec(arg.text, error)) {
        err.message = std::move(error);
        return false;
    }
    o.health = std::string(arg.text);
    return true;
}

using opt = options; // the table's rows fit a line

// The table Server::Starter's script hands Getopt::Long, then baton's additions.
constexpr option_spec option_table[] = {
    {"port", arg_kind::string, true, store<&opt::ports>},
    {"path", arg_kind::string, true, store<&opt::paths>},
    {"interval", arg_kind::integer, true, store<&opt::interval>},
    {"log-file", arg_kind::string, true, store<&opt::log_file>},
    {"pid-file", arg_kind::string, true, store<&opt::pid_file>},
    {"dir", arg_kind::string, true, store<&opt::dir>},
    {"signal-on-hup", arg_kind::string, true, store_signal<&opt::signal_on_hup>},
    {"signal-on-term", arg_kind::string, true, store_signal<&opt::signal_on_term>},
    {"backlog", arg_kind::integer, true, store<&opt::backlog>},
    {"envdir", arg_kind::string, true, store<&opt::envdir>},
    {"enable-auto-restart", arg_kind::none, true, store<&opt::is_auto_restart>},
    {"daemonize", arg_kind::none, true, store<&opt::is_daemonize>},
    {"auto-restart-interval", arg_kind::integer, true, store<&opt::auto_restart_interval>},
    {"kill-old-delay", arg_kind::integer, true, store<&opt::kill_old_delay>},
    {"status-file", arg_kind::string, true, store<&opt::status_file>},
    {"restart", arg_kind::none, true, ask<mode::restart>},
    {"stop", arg_kind::none, true, ask<mode::stop>},
    {"help", arg_kind::none, true, ask<mode::help>},
    {"version", arg_kind::none, true, ask<mode::version>},
    {"readiness", arg_kind::string, false, store_readiness},
    {"ready-timeout", arg_kind::string, false, store_timeout<&opt::ready_timeout>},
    {"shutdown-timeout", arg_kind::string, false, store_timeout<&opt::shutdown_timeout>},
    {"drain-delay", arg_kind::string, false, store_timeout<&opt::drain_delay>},
    {"health", arg_kind::string, false, store_health},
    {"show-status", arg_kind::none, false, ask<mode::show_status>, true},
    {"json", arg_kind::none, false, store<&opt::is_json>},
    {"upgrade", arg_kind::none, false, ask<mode::upgrade>},
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
        if (!spec.is_exact && spec.name.starts_with(name))
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
    names.reserve(hits.size());
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
    option_arg arg{spec.name, value};
    if (spec.kind == arg_kind::integer) {
        const auto v = parse_integer(value);
        if (!v) {
            err.message = "Value \"" + log_line::printable(value) + "\" invalid for option " +
                          std::string(spec.name) + " (number expected)";
            return false;
        }
        arg.number = *v;
    }
    return spec.set(o, arg, err);
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

namespace {

// What Server::Starter's script checks once the line is read (and baton's client modes).
std::optional<options> checked(options o, options_error& err)
{
    if (o.what == mode::help || o.what == mode::version)
        return o;
    if (o.is_json && o.what != mode::show_status) {
        err.message = "--json option is only meaningful with --show-status";
        return std::nullopt;
    }
    if (o.what == mode::show_status || o.what == mode::upgrade) {
        if (!o.pid_file) {
            err.message = std::string(o.what == mode::upgrade ? "--upgrade" : "--show-status") +
                          " option requires --pid-file to be set as well";
            return std::nullopt;
        }
        return o;
    }
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

} // namespace

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
            value = args[++i];           // Getopt::Long takes the next word, whatever it looks like
            if (value.starts_with("--")) // most likely a forgotten value, so say what happened
                o.warnings.push_back("start_server: warning: --" + std::string(spec->name) +
                                     " takes \"" + log_line::printable(value) + "\" as its value");
        } else {
            err.message = "Option " + std::string(spec->name) + " requires an argument";
            return std::nullopt;
        }
        if (!apply(o, *spec, value, err))
            return std::nullopt;
    }
    return checked(std::move(o), err);
}

} // namespace baton::starter
