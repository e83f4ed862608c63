# baton_sanitize(target): apply BATON_SANITIZE to a target; every report is fatal.
if(BATON_SANITIZE AND NOT BATON_SANITIZE MATCHES "^(address,undefined|undefined,address|address|undefined|thread)$")
    message(FATAL_ERROR "BATON_SANITIZE must be empty, address,undefined or thread (got ${BATON_SANITIZE})")
endif()

function(baton_sanitize target)
    if(NOT BATON_SANITIZE)
        return()
    endif()
    set(flags -fsanitize=${BATON_SANITIZE} -fno-omit-frame-pointer)
    if(BATON_SANITIZE MATCHES "undefined")
        list(APPEND flags -fno-sanitize-recover=all)
    endif()
    target_compile_options(${target} PRIVATE ${flags})
    target_link_options(${target} PRIVATE ${flags})
endfunction()

# baton_target(target): the warnings and sanitizers every project target gets.
function(baton_target target)
    baton_warnings(${target})
    baton_sanitize(${target})
endfunction()
