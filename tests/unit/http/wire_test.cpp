// SPDX-License-Identifier: MIT
// Response bytes: the Date field (its format, its per-second cache, a handler's own one kept)
// and the error responses. The rest of the header is tested through the connection
// (connection_test.cpp).
#include "http/wire.hpp"

#include <gtest/gtest.h>

#include <clocale>
#include <ctime>
#include <string>

namespace {

namespace bhttp = boost::beast::http;
using namespace baton::http::detail;

std::time_t coarse_now()
{
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    return now.tv_sec;
}

std::size_t count(const std::string& text, std::string_view what)
{
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

TEST(WireDate, FormatsAnImfFixdateInEnglishWhateverTheLocale)
{
    EXPECT_EQ(imf_fixdate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT"); // RFC 9110's example
    EXPECT_EQ(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(imf_fixdate(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
    std::setlocale(LC_TIME, "de_DE.UTF-8"); // a no-op where the locale is absent
    EXPECT_EQ(imf_fixdate(4102444799), "Thu, 31 Dec 2099 23:59:59 GMT");
    std::setlocale(LC_TIME, "C");
}

TEST(WireDate, FieldIsTheCurrentSecondAndReusedWithinIt)
{
    const std::time_t before = coarse_now();
    const std::string first(date_field());
    const std::time_t after = coarse_now();
    EXPECT_TRUE(first == "Date: " + imf_fixdate(before) + "\r\n" ||
                first == "Date: " + imf_fixdate(after) + "\r\n")
        << first;
    // Within one second the same text comes back from the same storage.
    for (int i = 0; i < 100; ++i) {
        const std::time_t s = coarse_now();
        const std::string_view a = date_field();
        const std::string_view b = date_field();
        if (coarse_now() == s) {
            EXPECT_EQ(a.data(), b.data());
            EXPECT_EQ(a, "Date: " + imf_fixdate(s) + "\r\n");
            return;
        }
    }
    ADD_FAILURE() << "no two calls within one second in 100 tries";
}

TEST(WireHeader, CarriesOneDateUnlessTheHandlerSetItsOwnOrItIsOff)
{
    response_state rs;
    std::string out;
    append_header(out, rs, body_mode::content_length, true, 3, 0, true);
    EXPECT_EQ(count(out, "\r\nDate: "), 1U) << out;
    EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\nDate: ")) << out;

    out.clear();
    rs.fields.set(bhttp::field::date, "Sun, 06 Nov 1994 08:49:37 GMT");
    append_header(out, rs, body_mode::content_length, true, 3, 0, true);
    EXPECT_EQ(count(out, "Date: "), 1U) << out;
    EXPECT_NE(out.find("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), std::string::npos) << out;

    out.clear();
    response_state plain;
    append_header(out, plain, body_mode::content_length, true, 3, 0, false);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
}

TEST(WireHeader, KeepsTheHandlersContentType)
{
    response_state rs;
    rs.fields.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    std::string out;
    append_header(out, rs, body_mode::chunked, false, 0, 0, false);
    EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

TEST(WireError, ResponsesCloseSayWhyAndCarryADate)
{
    const std::string with = error_response(bhttp::status::bad_request, 11, true);
    EXPECT_TRUE(with.starts_with("HTTP/1.1 400 Bad Request\r\nDate: ")) << with;
    EXPECT_TRUE(with.ends_with("\r\nConnection: close\r\n\r\nBad Request\n")) << with;
    EXPECT_EQ(error_response(bhttp::status::request_timeout, 10, false),
              "HTTP/1.0 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: "
              "16\r\nConnection: close\r\n\r\nRequest Timeout\n");
}

} // namespace
