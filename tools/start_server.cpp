// SPDX-License-Identifier: MIT
// start_server: see docs/start_server.md. All logic is in src/starter (baton_starter).
#include "start_server.hpp"

int main(int argc, char** argv)
{
    return baton::starter::start_server_main(argc, argv);
}
