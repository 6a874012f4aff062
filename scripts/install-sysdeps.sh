#!/usr/bin/env bash
# Install the system packages the test-suite needs, from Debian's packages, when they are missing:
# bubblewrap (and prlimit from util-linux) for the evaluation sandbox, and the toolchains that
# MultiPL-E's languages compile and run with (experiments/bench/toolchains.py), and Chromium for the
# console's browser tests (Playwright drives it; no browser is downloaded), and strace for the proof
# that semgrep makes no network request. Idempotent: when
# everything is present it only runs `command -v`/`test` checks and exits in well under a second.
# Everything is a Debian package (TypeScript is Debian's node-typescript, not npm's), so CI needs no
# registry other than the distribution mirror.
set -euo pipefail

need=()
have_cmd() { [ -x "/usr/bin/$1" ] || [ -x "/bin/$1" ]; }  # the sandbox sees /usr only
want_cmd() { have_cmd "$1" || need+=("$2"); }

want_cmd bwrap bubblewrap
want_cmd prlimit util-linux
want_cmd g++ g++                         # humaneval-cpp
want_cmd javac openjdk-17-jdk-headless   # humaneval-java
[ -f /usr/share/java/javatuples.jar ] || need+=(libjavatuples-java)  # org.javatuples.Pair in Java tests
want_cmd node nodejs                     # humaneval-js, and tsc's runtime
want_cmd tsc node-typescript             # humaneval-ts
want_cmd rustc rustc                     # humaneval-rs
want_cmd go golang-go                    # humaneval-go
want_cmd perl perl                       # humaneval-pl
perl -MTest::Deep -e 1 >/dev/null 2>&1 || need+=(libtest-deep-perl)  # eq_deeply in Perl tests
want_cmd bash bash                       # humaneval-sh
want_cmd python3 python3                 # the Python judge's guest interpreter (/usr/bin/python3)
want_cmd chromium chromium               # the console's browser tests (Playwright drives Debian's build)
want_cmd strace strace                   # the proof that semgrep makes no network request

if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${need[*]} (install them with: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
