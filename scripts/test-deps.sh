#!/usr/bin/env bash
# Run first by `npm test`, so that the README's test command passes on a new machine with nothing
# installed by hand. The tests need two programs that npm cannot provide:
#   redis-server on PATH  — the Redis tests start (and crash) their own servers;
#   a chromium            — test/html-report.test.ts opens report.html in it
#                           ($CHROMIUM_PATH, else Debian's /usr/bin/chromium).
# When both are there it does nothing (no apt, no output). When one is missing and we are root with
# apt-get, it installs Debian's package and says so on stderr. Otherwise it exits 1 with one line
# naming the command to run. SEATLAB_NO_INSTALL=1 forbids installing (report only).
# Only bash builtins are used before apt-get, so it also runs with a bare PATH.
set -euo pipefail

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

missing=() why=()
if ! command -v redis-server >/dev/null 2>&1; then
  missing+=(redis-server) why+=("redis-server is not on PATH (the Redis tests start their own)")
fi
if [ ! -x "$chromium" ]; then
  if [ -n "${CHROMIUM_PATH:-}" ]; then
    # Installing Debian's chromium would not put anything at this path: say so instead.
    echo "test-deps: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable; point it at a Chromium binary, or unset it to use Debian's /usr/bin/chromium (apt-get install chromium)" >&2
    exit 1
  fi
  missing+=(chromium) why+=("no browser at /usr/bin/chromium (test/html-report.test.ts opens report.html in it)")
fi

[ "${#missing[@]}" -eq 0 ] && exit 0

reason="${why[0]}"
for w in "${why[@]:1}"; do reason+="; $w"; done

if [ "$EUID" -eq 0 ] && [ -z "${SEATLAB_NO_INSTALL:-}" ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: installing ${missing[*]} with apt-get: ${reason}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" >&2
  hash -r
  still=()
  command -v redis-server >/dev/null 2>&1 || still+=(redis-server)
  [ -x "$chromium" ] || still+=(chromium)
  if [ "${#still[@]}" -gt 0 ]; then
    echo "test-deps: apt-get finished but ${still[*]} is still missing; install it by hand: apt-get install ${still[*]}" >&2
    exit 1
  fi
  echo "test-deps: installed ${missing[*]}" >&2
  exit 0
fi

if command -v apt-get >/dev/null 2>&1; then
  sudo=""; [ "$EUID" -eq 0 ] || sudo="sudo "
  echo "test-deps: ${reason}; run: ${sudo}apt-get update && ${sudo}apt-get install -y ${missing[*]}" >&2
else
  echo "test-deps: ${reason}; install these with your package manager: ${missing[*]} (or set CHROMIUM_PATH to a Chromium binary)" >&2
fi
exit 1
