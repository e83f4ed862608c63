#pragma once
// SPDX-License-Identifier: MIT

// The supervisor's effects (machine.hpp's interface) on the real world: spawning workers with
// the protocol's environment, signals, the status file and restart record, systemd, and the
// listeners a stop closes. Only run_supervisor makes one (supervisor.cpp); the unit tests
// drive the machine through a recording double instead, and the integration tests this.

#include "listeners.hpp"
#include "log.hpp"
#include "machine.hpp"
#include "notify_socket.hpp"
#include "options.hpp"
#include "restart_record.hpp"
#include "spawn.hpp"
#include "status_file.hpp"
#include "worker_env.hpp"

#include <signal.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::starter {

// The outside world for the machine.
class process_effects final : public effects {
public:
    process_effects(const options& opts, env_map base_env, std::string port_env,
                    std::string notify_address, std::string systemd_address)
        : opts_(opts)
        , base_env_(std::move(base_env))
        , port_env_(std::move(port_env))
        , notify_address_(std::move(notify_address))
        , systemd_address_(std::move(systemd_address))
    {}

    process_effects(const process_effects&) = delete;
    process_effects& operator=(const process_effects&) = delete;

    ~process_effects() override
    {
        // The files this process wrote; a --restart client reads them only while it runs.
        if (is_status_written_)
            ::unlink(opts_.status_file->c_str());
        if (is_record_written_)
            ::unlink(restart_record_path(*opts_.status_file).c_str());
    }

    env_map current_env() const
    {
        const auto it = base_env_.find("ENVDIR");
        return it == base_env_.end() ? base_env_ : merge(base_env_, read_envdir(it->second));
    }

    pid_t spawn(unsigned long generation) override
    {
        env_map env = current_env(); // the envdir as it is now, for every attempt
        env["SERVER_STARTER_PORT"] = port_env_;
        env["SERVER_STARTER_GENERATION"] = std::to_string(generation);
        if (!notify_address_.empty())
            env["NOTIFY_SOCKET"] = notify_address_;
        return spawn_worker(opts_.command, to_strings(env), opts_.dir);
    }

    void send_signal(pid_t pid, int sig) override { ::kill(pid, sig); }

    /// The sockets stop_listening() closes (set once they are bound).
    void watch_sockets(std::vector<listener_socket>& sockets) noexcept { sockets_ = &sockets; }

    void stop_listening() override
    {
        if (sockets_ == nullptr)
            return;
        close_listeners(*sockets_);
        sockets_->clear(); // closed: the set-up's destructor has nothing left to close
    }

    void log(std::string_view line) override { log_line::write(line); }

    void status_changed(const std::vector<std::pair<unsigned long, pid_t>>& workers) override
    {
        if (!opts_.status_file)
            return;
        if (const auto ec = write_status_file(*opts_.status_file, format_status(workers)))
            log_line::write("failed to write status file " + *opts_.status_file + ": " +
                            ec.message());
        else
            is_status_written_ = true;
    }

    void restart_recorded(const restart_record& record) override
    {
        if (!opts_.status_file)
            return;
        const std::string path = restart_record_path(*opts_.status_file);
        if (const auto ec = write_status_file(path, format_restart_record(record)))
            log_line::write("failed to write restart record " + path + ": " + ec.message());
        else
            is_record_written_ = true;
    }

    void tell_systemd(std::string_view state) override
    {
        if (systemd_address_.empty())
            return;
        std::string text(state);
        if (upgrades_done_ > 0 && text.find("STATUS=") != std::string::npos)
            text += "; upgraded " + std::to_string(upgrades_done_) + " times";
        starter::tell_systemd(systemd_address_, text); // RELOADING=1 gets MONOTONIC_USEC
    }

    /// For `STATUS=`: how many in-place upgrades this start_server has had.
    void count_upgrades(unsigned long done) noexcept { upgrades_done_ = done; }

    /// An upgraded image: the files the image before wrote are this one's to remove.
    void adopt_files() noexcept
    {
        is_status_written_ = opts_.status_file.has_value();
        is_record_written_ = is_status_written_;
    }

private:
    const options& opts_;
    env_map base_env_;
    std::string port_env_;
    std::string notify_address_;
    std::string systemd_address_;
    std::vector<listener_socket>* sockets_ = nullptr;
    bool is_status_written_ = false;
    bool is_record_written_ = false;
    unsigned long upgrades_done_ = 0;
};

} // namespace baton::starter
