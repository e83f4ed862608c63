// SPDX-License-Identifier: MIT
#include <baton/http/readiness.hpp>

namespace baton::http {

bool answer_readiness(const request& req, response_writer& w, std::string_view path)
{
    namespace bhttp = boost::beast::http;
    const std::string_view target(req.target().data(), req.target().size());
    if (target.substr(0, target.find('?')) != path ||
        (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head))
        return false;
    const bool is_draining = w.is_draining();
    w.status(is_draining ? bhttp::status::service_unavailable : bhttp::status::ok);
    w.set(bhttp::field::content_type, "text/plain");
    w.set(bhttp::field::cache_control, "no-store");
    w.write(is_draining ? "draining\n" : "ready\n");
    return true;
}

} // namespace baton::http
