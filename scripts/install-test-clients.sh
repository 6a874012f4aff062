#!/usr/bin/env bash
# Install the IDE clients the integration tests drive (tests/clients/package.json: tabby-agent, pinned
# with its lockfile) from the npm registry into tests/clients/node_modules. No root needed. Idempotent:
# when the pinned versions are already installed it only compares two small files and exits.
set -euo pipefail

dir="$(cd "$(dirname "$0")/../tests/clients" && pwd)"
stamp="$dir/node_modules/.package-lock.json"  # written by npm after every install
if [ -f "$stamp" ] && cmp -s <(node -e 'const l=require(process.argv[1]);console.log(JSON.stringify(l.packages["node_modules/tabby-agent"].version))' "$dir/package-lock.json") \
                             <(node -e 'const l=require(process.argv[1]);console.log(JSON.stringify(l.packages["node_modules/tabby-agent"].version))' "$stamp"); then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "npm is missing: install Node.js 18+ (with npm) to run the IDE client tests" >&2
  exit 1
fi
echo "installing test clients from tests/clients/package-lock.json"
npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error
