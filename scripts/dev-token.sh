#!/usr/bin/env bash
# Prints a JWT for the TLS + JWT example, signed RS256 with the key scripts/dev-certs.sh made:
#   scripts/dev-token.sh SUBJECT [SCOPES] [LIFETIME_S] [DIR]
#   SCOPES default "sagaflow:submit sagaflow:read sagaflow:operate"; LIFETIME_S default 3600;
#   issuer "https://issuer.example", audience "sagaflow" (as docker-compose.secure.yml says).
# For trying things out only: a real deployment's tokens come from its identity provider.
set -euo pipefail
sub="${1:?usage: dev-token.sh SUBJECT [SCOPES] [LIFETIME_S] [DIR]}"
scopes="${2:-sagaflow:submit sagaflow:read sagaflow:operate}"
lifetime="${3:-3600}"
dir="${4:-deploy/secrets}"
[ -f "$dir/jwt.key" ] || { echo "dev-token: no $dir/jwt.key (run scripts/dev-certs.sh first)" >&2; exit 1; }
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
header=$(printf '{"alg":"RS256","typ":"JWT","kid":"dev-1"}' | b64url)
payload=$(printf '{"sub":"%s","scope":"%s","iss":"https://issuer.example","aud":"sagaflow","iat":%d,"nbf":%d,"exp":%d}' \
  "$sub" "$scopes" "$now" "$now" "$((now + lifetime))" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$dir/jwt.key" -binary | b64url)
printf '%s.%s.%s\n' "$header" "$payload" "$signature"
