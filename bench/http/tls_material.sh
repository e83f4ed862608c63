#!/usr/bin/env bash
# tls_material.sh DIR: what the TLS benchmarks give their servers, made with openssl in DIR:
# cert.pem and key.pem, a self-signed RSA 2048 certificate for 127.0.0.1 (valid 2 days), and
# ticket.key, an 80-byte session-ticket key (nginx's ssl_session_ticket_key format, which
# baton's tls_config::ticket_key_files reads too).
# RSA 2048 rather than ECDSA P-256, so that a full handshake costs the server more than the
# client (RSA: the server's sign ~260 µs, the client's verify ~17 µs; P-256: sign ~22 µs,
# verify ~63 µs, and one client core would be the limit of a handshake benchmark).
set -euo pipefail
dir=${1:?usage: tls_material.sh DIR}
mkdir -p "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 ||
    { echo "tls_material: openssl req failed" >&2; exit 1; }
head -c 80 /dev/urandom >"$dir/ticket.key"
