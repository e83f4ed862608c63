// SPDX-License-Identifier: MIT
#include "restart_record.hpp"

#include <charconv>

namespace baton::starter {

namespace {

std::string attempt_line(std::string_view key, const restart_attempt& a)
{
    std::string line = std::string(key) + " " + std::to_string(a.generation) + " " +
                       std::to_string(a.hups) + " " + std::to_string(a.pid);
    if (!a.why.empty())
        line += " " + a.why;
    return line + "\n";
}

// Reads one decimal number (optionally negative) and the space after it from `text`.
template <class Number>
bool take_number(std::string_view& text, Number& out)
{
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc{})
        return false;
    text.remove_prefix(static_cast<std::size_t>(ptr - text.data()));
    if (!text.empty() && text.front() == ' ')
        text.remove_prefix(1);
    return true;
}

std::optional<restart_attempt> parse_attempt(std::string_view rest)
{
    restart_attempt a;
    if (!take_number(rest, a.generation) || !take_number(rest, a.hups) || !take_number(rest, a.pid))
        return std::nullopt;
    a.why = std::string(rest);
    return a;
}

} // namespace

std::string restart_record_path(const std::string& status_file)
{
    return status_file + ".restart";
}

std::string format_restart_record(const restart_record& r)
{
    std::string out = "hups " + std::to_string(r.hups) + "\n";
    if (r.started)
        out += attempt_line("started", *r.started);
    if (r.ready)
        out += attempt_line("ready", *r.ready);
    if (r.failed)
        out += attempt_line("failed", *r.failed);
    return out;
}

restart_record parse_restart_record(std::string_view text)
{
    restart_record r;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        const auto sp = line.find(' ');
        if (sp == std::string_view::npos)
            continue;
        const std::string_view key = line.substr(0, sp);
        const std::string_view rest = line.substr(sp + 1);
        if (key == "hups") {
            std::string_view digits = rest;
            take_number(digits, r.hups);
        } else if (key == "started") {
            r.started = parse_attempt(rest);
        } else if (key == "ready") {
            r.ready = parse_attempt(rest);
        } else if (key == "failed") {
            r.failed = parse_attempt(rest);
        }
    }
    return r;
}

} // namespace baton::starter
