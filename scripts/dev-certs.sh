#!/usr/bin/env bash
# Makes the key material of the TLS + JWT example (docker-compose.secure.yml, SECURITY.md)
# with openssl alone, into DIR (default deploy/secrets; never commit it):
#   ca.pem, ca.key            a private certificate authority (10 years)
#   server.pem, server.key    the API and the three services: DNS server, user, payment, order,
#                             localhost; IP 127.0.0.1 (one certificate for the example; use one
#                             per host in production)
#   worker.pem, worker.key    the workers' client certificate (mTLS to the services)
#   jwt.key                   an RSA key that signs the example's tokens (scripts/dev-token.sh)
#   jwks.json                 its public half as a JWKS (kid "dev-1", alg RS256): --jwt-jwks
# Files that exist are kept, so running it twice changes nothing.
set -euo pipefail
dir="${1:-deploy/secrets}"
mkdir -p "$dir"
cd "$dir"
umask 077

if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -keyout ca.key -out ca.pem -days 3650 \
    -subj "/CN=sagaflow example CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

# leaf NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
leaf() {
  local name=$1 cn=$2 usage=$3 san=${4:-}
  [ -f "$name.pem" ] && return 0
  openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "/CN=$cn" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
    -sha256 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
leaf server "sagaflow" serverAuth \
  "DNS:server,DNS:user,DNS:payment,DNS:order,DNS:localhost,IP:127.0.0.1"
leaf worker "sagaflow-worker" clientAuth

if [ ! -f jwt.key ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out jwt.key 2>/dev/null
fi
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
modulus=$(openssl rsa -in jwt.key -noout -modulus 2>/dev/null | cut -d= -f2 | xxd -r -p | b64url)
printf '{"keys":[{"kty":"RSA","kid":"dev-1","use":"sig","alg":"RS256","n":"%s","e":"AQAB"}]}\n' \
  "$modulus" > jwks.json
# The containers run as uid 10001 (the Dockerfile's user): the keys belong to it where this
# runs as root, and are readable by their owner only.
chmod 644 ./*.pem jwks.json
chmod 600 ./*.key
if [ "$(id -u)" = 0 ]; then chown 10001:10001 server.key worker.key; fi
echo "dev-certs: wrote $(pwd)"
