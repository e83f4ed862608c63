#pragma once
// SPDX-License-Identifier: MIT

// The environment a worker gets: start_server's own environment (with the options
// Server::Starter exports), overlaid with the envdir as it is *now* (re-read for every spawn:
// a removed file removes its variable), plus SERVER_STARTER_PORT, SERVER_STARTER_GENERATION
// and, under --readiness=notify, start_server's NOTIFY_SOCKET.

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace baton::starter {

using env_map = std::map<std::string, std::string>;

/// `environ` as a map.
env_map process_environment();

/** The envdir's variables, daemontools style as Server::Starter reads them: every entry not
    starting with `.`, its first line, the trailing newline removed. A missing dir is empty. */
env_map read_envdir(const std::string& dir);

/// `base` overlaid with `overlay`.
env_map merge(env_map base, const env_map& overlay);

/// `KEY=VALUE` strings for execve.
std::vector<std::string> to_strings(const env_map& env);

/// A numeric variable, as Perl would read it in numeric context (leading digits; else 0).
long env_number(const env_map& env, const std::string& key, long fallback);

/// True when the variable is set to something Perl calls true (not empty, not "0").
bool env_true(const env_map& env, const std::string& key);

} // namespace baton::starter
