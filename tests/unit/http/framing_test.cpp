// SPDX-License-Identifier: MIT
// The framing rules baton enforces on top of Beast, and the response bytes it writes.
#include "http/framing.hpp"
#include "http/wire.hpp"

#include <boost/beast/http/message.hpp>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace {

namespace bhttp = boost::beast::http;
using baton::http::errc;
using baton::http::detail::validate_framing;

bhttp::request_header<> header(unsigned version,
                               std::initializer_list<std::pair<const char*, const char*>> fields)
{
    bhttp::request_header<> h;
    h.version(version);
    for (const auto& [name, value] : fields)
        h.insert(name, value);
    return h;
}

TEST(HttpFraming, AcceptsOneHostAndOneContentLength)
{
    EXPECT_FALSE(validate_framing(header(11, {{"Host", "x"}, {"Content-Length", "12"}})));
}

TEST(HttpFraming, AcceptsHttp10WithoutHost)
{
    EXPECT_FALSE(validate_framing(header(10, {})));
}

TEST(HttpFraming, AcceptsChunkedAsOnlyCodingInAnyCase)
{
    EXPECT_FALSE(validate_framing(header(11, {{"Host", "x"}, {"Transfer-Encoding", "Chunked"}})));
    EXPECT_FALSE(validate_framing(header(11, {{"Host", "x"}, {"Transfer-Encoding", " ,chunked"}})));
}

TEST(HttpFraming, RejectsUnknownCodingWith501)
{
    EXPECT_EQ(
        validate_framing(header(
            11, {{"Host", "x"}, {"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}})),
        errc::unsupported_transfer_coding);
    EXPECT_EQ(validate_framing(header(11, {{"Host", "x"}, {"Transfer-Encoding", "identity"}})),
              errc::unsupported_transfer_coding);
}

TEST(HttpFraming, RejectsAmbiguousFramingWith400)
{
    EXPECT_EQ(validate_framing(header(
                  11, {{"Host", "x"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "1"}})),
              errc::bad_framing);
    EXPECT_EQ(validate_framing(header(10, {{"Transfer-Encoding", "chunked"}})), errc::bad_framing);
    EXPECT_EQ(validate_framing(
                  header(11, {{"Host", "x"}, {"Content-Length", "1"}, {"Content-Length", "1"}})),
              errc::bad_framing);
    EXPECT_EQ(validate_framing(header(11, {{"Host", "x"}, {"Content-Length", "1 1"}})),
              errc::bad_framing);
    EXPECT_EQ(
        validate_framing(header(11, {{"Host", "x"}, {"Content-Length", "99999999999999999999"}})),
        errc::bad_framing);
    EXPECT_EQ(validate_framing(header(11, {})), errc::bad_framing);
    EXPECT_EQ(validate_framing(header(11, {{"Host", "a"}, {"Host", "b"}})), errc::bad_framing);
}

TEST(HttpFraming, FindsObsoleteFoldingAcrossPieces)
{
    baton::http::detail::fold_scanner s;
    s.feed("GET / HTTP/1.1\r\n", false);
    s.feed("Host: x\r\nX: a\r\n", false);
    EXPECT_FALSE(s.has_fold());
    s.feed(" b\r\n\r\n", false);
    EXPECT_TRUE(s.has_fold());
}

TEST(HttpFraming, FoldScannerKeepsLineStartsAcrossEveryKindOfPiece)
{
    using baton::http::detail::fold_scanner;
    auto scan = [](std::initializer_list<std::string_view> pieces) {
        fold_scanner s;
        for (auto piece : pieces)
            s.feed(piece, false);
        return s.has_fold();
    };
    // a tab fold, inside one piece, after an empty piece, and a piece of one LF
    EXPECT_TRUE(scan({"GET / HTTP/1.1\r\nHost: x\r\n\tb\r\n\r\n"}));
    EXPECT_TRUE(scan({"GET / HTTP/1.1\r\nHost: x\r", "", "\n", "\tb\r\n"}));
    // a space that is not at a line start, in a piece without any LF
    EXPECT_FALSE(scan({"GET / HTTP/1.1\r\nHost: x", " y", "\r\nA: b c\r\n\r\n"}));
    // the request line is not a field line: a leading space there is not a fold
    EXPECT_FALSE(scan({" GET / HTTP/1.1\r\nHost: x\r\n\r\n"}));
    // byte by byte
    std::string_view folded = "GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n";
    fold_scanner s;
    for (char c : folded)
        s.feed(std::string_view(&c, 1), false);
    EXPECT_TRUE(s.has_fold());
    // at_fields: the bytes begin a field line
    fold_scanner f;
    f.feed(" x: y\r\n", true);
    EXPECT_TRUE(f.has_fold());
}

TEST(HttpWire, WritesChunksInHexAndSkipsEmptyOnes)
{
    std::string out;
    baton::http::detail::append_chunk(out, std::string(26, 'x'));
    baton::http::detail::append_chunk(out, "");
    EXPECT_EQ(out, "1a\r\n" + std::string(26, 'x') + "\r\n");
}

TEST(HttpWire, MapsErrorsToStatuses)
{
    using baton::http::detail::status_for;
    EXPECT_EQ(status_for(errc::header_timeout), bhttp::status::request_timeout);
    EXPECT_EQ(status_for(errc::header_too_large), bhttp::status::request_header_fields_too_large);
    EXPECT_EQ(status_for(errc::body_too_large), bhttp::status::payload_too_large);
    EXPECT_EQ(status_for(errc::unsupported_transfer_coding), bhttp::status::not_implemented);
    EXPECT_EQ(status_for(errc::unsupported_version), bhttp::status::http_version_not_supported);
    EXPECT_EQ(status_for(errc::bad_framing), bhttp::status::bad_request);
}

TEST(HttpError, HasCategoryAndActionableMessages)
{
    boost::system::error_code ec = errc::shutdown_timeout;
    EXPECT_STREQ(ec.category().name(), "baton.http");
    EXPECT_NE(ec.message().find("close()"), std::string::npos);
}

} // namespace
