#!/usr/bin/env bash
# make bench-peers-node: installs better-sqlite3-multiple-ciphers (the Node
# binding of SQLite3MultipleCiphers) into a temporary directory, building
# its native module from source with node-gyp (a C/C++ compiler, make and
# Python; Node's headers from the local installation), then runs bench.js:
# the peers workloads with no cipher, cipher=sqlcipher and cipher=chacha20.
# BSMC_VERSION overrides the version (default: 13.0.3 on Node 22 and newer,
# which it requires; 12.11.1, the last release for Node 20, before that).
# ROUNDS, APPEND1, APPENDN, CALLERS, SESSIONS, PER_SESSION, SESSION_READS
# and POINT_READS size the workloads (see bench.js).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "bench-peers-node: node is not installed" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
if [ -z "${BSMC_VERSION:-}" ]; then
	if [ "$major" -ge 22 ]; then BSMC_VERSION=13.0.3; else BSMC_VERSION=12.11.1; fi
fi
# node-gyp downloads Node's headers unless it is told where they are.
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$(dirname "$(dirname "$(command -v node)")")/include/node/node.h" ]; then
	export npm_config_nodedir=$(dirname "$(dirname "$(command -v node)")")
fi
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d"
echo "installing better-sqlite3-multiple-ciphers@$BSMC_VERSION (native build from source) in $d" >&2
npm init -y >/dev/null
# No prebuilt binary: they are fetched from outside the npm registry.
npm_config_build_from_source=true npm install --no-audit --no-fund --loglevel=error "better-sqlite3-multiple-ciphers@$BSMC_VERSION" >&2
cp "$here/bench.js" .
uptime >&2
node bench.js
uptime >&2
