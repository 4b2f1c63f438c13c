#!/bin/sh
# Turns the client API-key list into the NGINX edge's key map (see
# infergate.conf.template), then runs the command given after it, if any, so
# Compose can put it in front of the nginx image's own entrypoint.
#
#   EDGE_API_KEY_CHECK  on | off (default off: no map, the edge checks nothing)
#   EDGE_API_KEYS       the key list, in the ingress's API_KEYS format: `key` or
#                       `name:key` entries separated by commas, spaces or
#                       newlines, `#` starting a comment
#   EDGE_API_KEYS_MAP   where the map goes (nginx reads infergate/edge-keys/*.map)
#
# With the check on and no usable key, it fails: an edge that was asked to
# check keys must not start open.
set -eu

map_file=${EDGE_API_KEYS_MAP:-/etc/nginx/infergate/edge-keys/keys.map}

fail() {
    echo "edge-keys: $*" >&2
    exit 1
}

case ${EDGE_API_KEY_CHECK:-off} in
off | false | 0 | no | '')
    rm -f "$map_file"
    ;;
on | true | 1 | yes)
    keys=$(printf '%s\n' "${EDGE_API_KEYS:-}" | sed 's/#.*//' | tr ', \t\r' '\n\n\n\n' |
        sed -E '/^$/d; s/^[A-Za-z0-9_.-]{1,64}://')
    [ -n "$keys" ] || fail "EDGE_API_KEY_CHECK is on but EDGE_API_KEYS holds no key"
    # Anything else could change the meaning of the map line or the pattern.
    bad=$(printf '%s\n' "$keys" | grep -v '^[A-Za-z0-9._~+/=-]*$' || true)
    [ -z "$bad" ] || fail "a key has characters outside A-Z a-z 0-9 . _ ~ + / = -"
    mkdir -p "$(dirname "$map_file")"
    umask 077
    # Patterns, not plain strings: NGINX compares map strings ignoring case.
    {
        echo 'default 1;'
        printf '%s\n' "$keys" | sed 's/[.+]/\\&/g; s/.*/"~^&$" 0;/'
    } >"$map_file.tmp"
    mv "$map_file.tmp" "$map_file"
    echo "edge-keys: API-key check on, $(printf '%s\n' "$keys" | wc -l | tr -d ' ') key(s)" >&2
    ;;
*)
    fail "EDGE_API_KEY_CHECK must be on or off, not '$EDGE_API_KEY_CHECK'"
    ;;
esac

[ $# -eq 0 ] || exec "$@"
