# `make package`: CPack's DEB generator makes two packages, as Debian splits a tool from its
# library: `baton` (start_server, its man page, the systemd units, the hello worker) and
# `baton-dev` (static libraries, headers, the CMake package, baton.pc). The libraries are
# static, so no runtime library package is needed. Built from a tree configured with
# CMAKE_INSTALL_PREFIX=/usr (the Makefile does), so libdir is Debian's multiarch one.

# The version says which commit it is: 0.1.0+git20261202.abc1234 (the commit's date and
# hash; ".dirty" when the tree had uncommitted changes at configure time).
set(BATON_DEB_VERSION ${PROJECT_VERSION})
find_package(Git QUIET)
if(GIT_FOUND AND EXISTS ${PROJECT_SOURCE_DIR}/.git)
    execute_process(COMMAND ${GIT_EXECUTABLE} log -1 --format=%cd.%h --date=format:%Y%m%d
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                    OUTPUT_VARIABLE baton_git OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE baton_git_rc ERROR_QUIET)
    if(baton_git_rc EQUAL 0 AND baton_git)
        set(BATON_DEB_VERSION "${PROJECT_VERSION}+git${baton_git}")
        execute_process(COMMAND ${GIT_EXECUTABLE} log -1 --format=%cD
                        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                        OUTPUT_VARIABLE BATON_DEB_DATE OUTPUT_STRIP_TRAILING_WHITESPACE)
        execute_process(COMMAND ${GIT_EXECUTABLE} diff --quiet HEAD --
                        WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
                        RESULT_VARIABLE baton_dirty ERROR_QUIET)
        if(NOT baton_dirty EQUAL 0)
            string(APPEND BATON_DEB_VERSION ".dirty")
        endif()
    endif()
endif()

set(BATON_DEB_MAINTAINER "baton maintainers <maintainers@users.noreply.r-seed-680f6382.example>")
if(NOT BATON_DEB_DATE)
    string(TIMESTAMP BATON_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
endif()

# A native package's changelog.gz is a Debian changelog: one entry naming the commit. The
# project's own history is CHANGES.md, shipped beside it.
configure_file(cmake/debian/changelog.in ${PROJECT_BINARY_DIR}/debian/changelog @ONLY)
set(deb ${PROJECT_BINARY_DIR}/debian)
baton_gzip(${deb}/changelog ${deb}/changelog.gz)
baton_gzip(${PROJECT_SOURCE_DIR}/CHANGES.md ${deb}/CHANGES.md.gz)
add_custom_target(baton_changelog ALL DEPENDS ${deb}/changelog.gz ${deb}/CHANGES.md.gz)
install(FILES ${deb}/changelog.gz ${deb}/CHANGES.md.gz
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/baton COMPONENT tool)
install(FILES ${deb}/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/baton-dev COMPONENT dev)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME baton)
set(CPACK_PACKAGE_VERSION ${BATON_DEB_VERSION})
set(CPACK_PACKAGE_CONTACT ${BATON_DEB_MAINTAINER})
# Empty: each component's description carries its own synopsis line (CPack would put this
# one in front of both). CPack indents the descriptions and turns empty lines into " .".
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL tool dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_VERSION ${BATON_DEB_VERSION})
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# lintian: no error or warning. Its informational tags, kept: .comment sections (CPack's
# strip keeps them, where dh_strip removes them; they only name the compiler) and
# package-supports-alternative-init-but-no-init.d-script (the units are systemd's by design:
# Type=notify and socket activation have no sysvinit form).
# Depends: from the ELF files' shared libraries (dpkg-shlibdeps; start_server: libc only).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)

set(CPACK_DEBIAN_TOOL_PACKAGE_NAME baton)
set(CPACK_DEBIAN_TOOL_PACKAGE_SECTION net)
# Server::Starter's package ships /usr/bin/start_server too; baton's is a drop-in for it.
set(CPACK_DEBIAN_TOOL_PACKAGE_CONFLICTS libserver-starter-perl)
set(CPACK_COMPONENT_TOOL_DESCRIPTION "zero-downtime restarts for network servers
start_server is a superdaemon that binds the listening sockets once, runs a
server program with them and, on SIGHUP, starts a new generation of it,
retiring the old one only once the new one is ready. Each worker drains its
own connections before it exits, so no client sees a refused, reset or
truncated request while the service is redeployed.

It is a drop-in for Server::Starter's start_server (same options,
environment, files and log lines) and adds sd_notify readiness, paced
retries of failed deploys, a shutdown timeout, health checks for load
balancers and systemd Type=notify and socket activation. The package ships
systemd units (a socket-activated pair, a service-only unit and an instance
template) and a small HTTP worker to try them with.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME baton-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# The http headers include Boost.Asio and Boost.Beast (1.81, header-only here).
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libboost1.81-dev, libssl-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION "zero-downtime restarts for network servers - development files
baton's C++20 libraries for workers run under start_server, Server::Starter
or systemd socket activation: baton::listener (inherited sockets from
SERVER_STARTER_PORT or LISTEN_FDS), baton::notify (an sd_notify client) and
baton::http (an HTTP/1.1 server on Boost.Asio and Boost.Beast whose
shutdown loses no request).

This package contains the static libraries, the headers, the CMake package
(find_package(baton)) and the pkg-config file (baton.pc).")

include(CPack)
