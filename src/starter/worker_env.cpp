// SPDX-License-Identifier: MIT
#include "worker_env.hpp"

#include "file_text.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>

extern char** environ;

namespace baton::starter {

env_map process_environment()
{
    env_map out;
    for (char** e = environ; e && *e; ++e) {
        const std::string kv(*e);
        const auto eq = kv.find('=');
        if (eq != std::string::npos)
            out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
    }
    return out;
}

env_map read_envdir(const std::string& dir)
{
    env_map out;
    DIR* d = ::opendir(dir.c_str());
    if (!d)
        return out;
    while (const dirent* ent = ::readdir(d)) {
        const std::string name(ent->d_name);
        if (name.empty() || name[0] == '.')
            continue;
        std::string path = dir;
        path += '/';
        path += name;
        const auto text = read_text_file(path);
        if (!text)
            continue;
        out[name] = text->substr(0, text->find('\n')); // Perl's chomp: the newline only
    }
    ::closedir(d);
    return out;
}

env_map merge(env_map base, const env_map& overlay)
{
    for (const auto& [k, v] : overlay)
        base[k] = v;
    return base;
}

std::vector<std::string> to_strings(const env_map& env)
{
    std::vector<std::string> out;
    out.reserve(env.size());
    for (const auto& [k, v] : env) {
        std::string entry = k;
        entry += '=';
        entry += v;
        out.push_back(std::move(entry));
    }
    return out;
}

long env_number(const env_map& env, const std::string& key, long fallback)
{
    const auto it = env.find(key);
    if (it == env.end())
        return fallback;
    return std::strtol(it->second.c_str(), nullptr, 10);
}

bool env_true(const env_map& env, const std::string& key)
{
    const auto it = env.find(key);
    return it != env.end() && !it->second.empty() && it->second != "0";
}

} // namespace baton::starter
