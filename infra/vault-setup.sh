#!/usr/bin/env bash
# infra/vault-setup.sh ADDR HEADER_FILE
#
# The Vault (OpenBao dev server) setup every local stack gets, over Vault's HTTP API with curl:
#   1. Transit at transit/, then a KV v2 write/read/delete at secret/ and a Transit encrypt/decrypt round trip
#   2. PKI at pki/ for the services' gRPC mTLS (docs/SECURITY.md): a root CA whose key stays in Vault, one role per
#      identity that can issue only that identity (spiffe://ais-platform/<name>), leaf certificates of at most 24 h,
#      and a policy per role for per-identity Vault tokens; then one operator certificate as a check
# Called by infra/stack.sh (native servers) and by libs/testing's testcontainers provider (containers), so both
# stacks are set up by the same steps.
#
# ADDR is the server's address (http://host:port); HEADER_FILE holds the line `X-Vault-Token: <root token>` (the token
# stays out of argv). Progress and responses go to stdout/stderr (callers send them to a log file).
# Exit status: 0 done; 2 Transit / KV v2 step failed; 3 PKI step failed; 64 usage.
# Written for bash 3.2+ (macOS's bash runs it on a Docker machine).
set -uo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 ADDR HEADER_FILE" >&2; exit 64; }
ADDR="$1"
HDR="$2"
[[ -r "$HDR" ]] || { echo "vault-setup: cannot read $HDR" >&2; exit 64; }

# Identities the local PKI can issue (one role each): the five services and an operator's (grpcurl, docs/SECURITY.md).
PKI_IDENTITIES="auth-gateway token-vault data-fetcher enrichment reconciliation operator"

vapi() { # method path [json]
  if [[ $# -ge 3 ]]; then
    curl -sS -f --max-time 10 -X "$1" -H @"$HDR" -H 'Content-Type: application/json' --data "$3" "$ADDR/v1/$2"
  else
    curl -sS -f --max-time 10 -X "$1" -H @"$HDR" -H 'Content-Type: application/json' "$ADDR/v1/$2"
  fi
}

out="" ct="" pt=""
if ! {
  vapi POST sys/mounts/transit '{"type":"transit"}' >/dev/null &&
  # KV v2 write + read (dev mode mounts KV v2 at secret/)
  vapi POST secret/data/ais-stack-smoke '{"data":{"probe":"ok"}}' >/dev/null &&
  out="$(vapi GET secret/data/ais-stack-smoke)" && [[ "$out" == *'"probe":"ok"'* ]] &&
  vapi DELETE secret/metadata/ais-stack-smoke >/dev/null &&
  # Transit key + encrypt/decrypt round trip
  vapi POST transit/keys/ais-stack-smoke '{}' >/dev/null &&
  pt="$(printf 'ais-stack-smoke' | base64)" &&
  out="$(vapi POST transit/encrypt/ais-stack-smoke "{\"plaintext\":\"$pt\"}")" &&
  ct="$(sed -n 's/.*"ciphertext":"\([^"]*\)".*/\1/p' <<<"$out")" && [[ "$ct" == vault:v1:* ]] &&
  out="$(vapi POST transit/decrypt/ais-stack-smoke "{\"ciphertext\":\"$ct\"}")" &&
  [[ "$out" == *"\"plaintext\":\"$pt\""* ]] &&
  vapi POST transit/keys/ais-stack-smoke/config '{"deletion_allowed":true}' >/dev/null &&
  vapi DELETE transit/keys/ais-stack-smoke >/dev/null
}; then
  echo "vault-setup: Transit / KV v2 step failed" >&2
  exit 2
fi

svc="" role="" policy=""
if ! {
  vapi POST sys/mounts/pki '{"type":"pki","config":{"max_lease_ttl":"87600h"}}' >/dev/null &&
  vapi POST pki/root/generate/internal '{"common_name":"ais-platform local root CA","ttl":"87600h","key_type":"ec","key_bits":256}' >/dev/null &&
  for svc in $PKI_IDENTITIES; do
    role="{\"allowed_domains\":[\"$svc\",\"localhost\"],\"allow_bare_domains\":true,\"allow_subdomains\":false,\"allow_localhost\":true,\"allow_ip_sans\":true,\"allowed_uri_sans\":[\"spiffe://ais-platform/$svc\"],\"server_flag\":true,\"client_flag\":true,\"key_type\":\"ec\",\"key_bits\":256,\"ttl\":\"24h\",\"max_ttl\":\"24h\",\"no_store\":true}"
    policy="{\"policy\":\"path \\\"pki/issue/$svc\\\" { capabilities = [\\\"update\\\"] }\"}"
    vapi POST "pki/roles/$svc" "$role" >/dev/null && vapi PUT "sys/policies/acl/ais-pki-$svc" "$policy" >/dev/null || break
    svc=""
  done && [[ -z "$svc" ]] &&
  out="$(vapi POST pki/issue/operator '{"common_name":"operator","uri_sans":"spiffe://ais-platform/operator","ttl":"60s"}')" &&
  [[ "$out" == *'"certificate":"-----BEGIN CERTIFICATE-----'* ]]
}; then
  echo "vault-setup: PKI step (CA, roles, policies) failed" >&2
  exit 3
fi
echo "vault-setup: Transit, KV v2 and PKI ready at $ADDR"
