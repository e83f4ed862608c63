# Install rules for everything but the targets (each CMakeLists installs its own), in the
# places Debian uses (GNUInstallDirs). Components: `tool` (start_server, its man page, the
# systemd units, the hello worker and the example configurations) and `dev` (headers,
# libraries, the CMake package, baton.pc); cmake/BatonPackage.cmake makes a .deb of each.
include(CMakePackageConfigHelpers)

# The public headers, detail/ included: the installed ones include it.
install(DIRECTORY include/baton DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)

# find_package(baton): tests/cmake_consumer.
install(EXPORT batonTargets NAMESPACE baton::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton COMPONENT dev)
configure_package_config_file(cmake/batonConfig.cmake.in
    ${PROJECT_BINARY_DIR}/batonConfig.cmake
    INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/batonConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/batonConfig.cmake
              ${PROJECT_BINARY_DIR}/batonConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton COMPONENT dev)

# pkg-config: tests/packaging/pkgconfig_consumer.sh. Boost is header-only here and Debian
# ships no boost.pc, so there is no Requires:. Static archives need the thread library on
# the consumer's link line itself; shared ones only when linked statically.
# OpenSSL (HTTPS listeners) ships libssl.pc and libcrypto.pc: Requires: for static archives,
# Requires.private: for shared ones, likewise.
if(BUILD_SHARED_LIBS)
    set(BATON_PC_LIBS "")
    set(BATON_PC_LIBS_PRIVATE " -pthread")
    set(BATON_PC_REQUIRES "")
    set(BATON_PC_REQUIRES_PRIVATE "libssl libcrypto")
else()
    set(BATON_PC_LIBS " -pthread")
    set(BATON_PC_LIBS_PRIVATE "")
    set(BATON_PC_REQUIRES "libssl libcrypto")
    set(BATON_PC_REQUIRES_PRIVATE "")
endif()
file(RELATIVE_PATH BATON_PC_PREFIX_FROM_PCDIR
     ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
configure_file(cmake/baton.pc.in ${PROJECT_BINARY_DIR}/baton.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/baton.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# baton_gzip(IN OUT): OUT is IN compressed as Debian ships documentation (-n: no name or
# time stamp in it, so the package is reproducible).
find_program(BATON_GZIP gzip REQUIRED)
function(baton_gzip in out)
    get_filename_component(dir ${out} DIRECTORY)
    add_custom_command(OUTPUT ${out}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
        COMMAND ${BATON_GZIP} -9n -c ${in} > ${out}
        DEPENDS ${in}
        COMMENT "Compressing ${in}")
endfunction()

# Man pages.
set(BATON_MAN_PAGES man/start_server.1 man/baton-http.3)
set(baton_man_outputs "")
foreach(page IN LISTS BATON_MAN_PAGES)
    get_filename_component(name ${page} NAME)
    set(out ${PROJECT_BINARY_DIR}/man/${name}.gz)
    baton_gzip(${PROJECT_SOURCE_DIR}/${page} ${out})
    list(APPEND baton_man_outputs ${out})
    string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${name})
    # Section 1 is the tool's, section 3 (the library) the developers'.
    set(component tool)
    if(section STREQUAL "3")
        set(component dev)
    endif()
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section} COMPONENT ${component})
endforeach()
add_custom_target(baton_man ALL DEPENDS ${baton_man_outputs})

# The hello worker, so that the shipped units run as installed (examples/systemd).
if(TARGET hello)
    install(TARGETS hello RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/baton COMPONENT tool)
endif()

# systemd units: examples/systemd/ names the package's paths (/usr/bin, /usr/libexec); an
# install elsewhere gets its own. Units go where Debian 12 packages put them, under the
# prefix (/usr/lib/systemd/system is /lib/systemd/system on a merged-/usr system).
set(BATON_SYSTEMD_UNITDIR lib/systemd/system CACHE STRING
    "Where the systemd units are installed, relative to the install prefix")
set(BATON_SYSTEMD_UNITS baton-hello.socket baton-hello.service baton-hello-bind.service
    start_server@.service)
foreach(unit IN LISTS BATON_SYSTEMD_UNITS)
    file(READ ${PROJECT_SOURCE_DIR}/examples/systemd/${unit} text)
    string(REPLACE "/usr/bin/" "${CMAKE_INSTALL_FULL_BINDIR}/" text "${text}")
    string(REPLACE "/usr/libexec/" "${CMAKE_INSTALL_FULL_LIBEXECDIR}/" text "${text}")
    file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/systemd/${unit} CONTENT "${text}" @ONLY)
    install(FILES ${PROJECT_BINARY_DIR}/systemd/${unit}
            DESTINATION ${BATON_SYSTEMD_UNITDIR} COMPONENT tool)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
                 ${PROJECT_SOURCE_DIR}/examples/systemd/${unit})
endforeach()

# Example configurations, and each package's copyright (its changelog: BatonPackage.cmake).
install(FILES examples/systemd/hello.env examples/systemd/README.md
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/baton/examples/systemd COMPONENT tool)
install(FILES examples/haproxy/haproxy.cfg
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/baton/examples/haproxy COMPONENT tool)
install(FILES examples/container/Containerfile examples/container/README.md
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/baton/examples/container COMPONENT tool)
install(FILES examples/kubernetes/deployment.yaml
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/baton/examples/kubernetes COMPONENT tool)
install(FILES examples/nginx/nginx.conf
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/baton/examples/nginx COMPONENT tool)
install(FILES cmake/debian/copyright DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/baton
        COMPONENT tool)
install(FILES cmake/debian/copyright DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/baton-dev
        COMPONENT dev)
