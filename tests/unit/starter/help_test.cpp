// SPDX-License-Identifier: MIT
#include "options.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace {

std::string help_in_docs()
{
    std::ifstream in(std::string(BATON_SOURCE_DIR) + "/docs/start_server.md");
    std::stringstream s;
    s << in.rdbuf();
    const std::string doc = s.str();
    const std::string begin = "<!-- help:begin -->\n```\n";
    const auto a = doc.find(begin);
    const auto b = doc.find("```\n<!-- help:end -->");
    if (a == std::string::npos || b == std::string::npos || b < a)
        return {};
    return doc.substr(a + begin.size(), b - a - begin.size());
}

TEST(StarterHelp, MatchesTheManualPage)
{
    const std::string doc = help_in_docs();
    ASSERT_FALSE(doc.empty()) << "docs/start_server.md lacks the help:begin/help:end block";
    EXPECT_EQ(std::string(baton::starter::help_text()), doc);
}

TEST(StarterHelp, DocumentsEveryOption)
{
    const std::string help(baton::starter::help_text());
    for (const char* name : {"--port",
                             "--path",
                             "--dir",
                             "--interval",
                             "--signal-on-hup",
                             "--signal-on-term",
                             "--pid-file",
                             "--status-file",
                             "--envdir",
                             "--log-file",
                             "--daemonize",
                             "--enable-auto-restart",
                             "--auto-restart-interval",
                             "--kill-old-delay",
                             "--backlog",
                             "--readiness",
                             "--ready-timeout",
                             "--shutdown-timeout",
                             "--drain-delay",
                             "--health",
                             "--restart",
                             "--stop",
                             "--show-status",
                             "--json",
                             "--help",
                             "--version"})
        EXPECT_NE(help.find(std::string("  ") + name), std::string::npos) << name;
}

} // namespace
