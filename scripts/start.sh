#!/bin/sh
# npm start: run a node from this checkout, with the arguments given after
# `npm start --` (for example -E http.port=19201). securenode never runs as
# root, so as root (a container, a fresh VM) the node runs as nobody with its
# home in /tmp/securenode-home; otherwise in ./securenode-home. SECURENODE_HOME
# names another home.
set -eu
if [ "$(id -u)" = 0 ]; then
  home=${SECURENODE_HOME:-/tmp/securenode-home}
  echo "npm start: running the node as nobody, home $home (securenode never runs as root)" >&2
  mkdir -p "$home"
  chown nobody "$home"
  exec setpriv --reuid=nobody --regid=nogroup --clear-groups node bin/securenode start --home "$home" "$@"
fi
exec node bin/securenode start --home "${SECURENODE_HOME:-./securenode-home}" "$@"
