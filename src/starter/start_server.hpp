#pragma once

// SPDX-License-Identifier: MIT

// The whole program behind tools/start_server.cpp's main().

namespace baton::starter {

/// Parse `argv`, then run, restart, stop, or print help/version. Returns the exit code.
int start_server_main(int argc, char** argv);

} // namespace baton::starter
