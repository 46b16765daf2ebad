#!/usr/bin/env bash
# The Debian packages the tests need besides pip's: gdal-bin (its ogrinfo must read our GeoPackage exports) and
# chromium (Playwright drives it through the review page; no browser is downloaded).
# Installs what is missing with apt-get (as root, or through sudo); says so and fails when it cannot.
set -euo pipefail
needed=()
command -v ogrinfo >/dev/null 2>&1 || needed+=(gdal-bin)
command -v chromium >/dev/null 2>&1 || needed+=(chromium)
[ ${#needed[@]} -eq 0 ] && exit 0
echo "installing Debian packages the tests need: ${needed[*]}" >&2
run=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "tests need: apt-get install ${needed[*]} (not root, no sudo)" >&2; exit 1; }
    run=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${run[@]}" apt-get install -y -q --no-install-recommends "${needed[@]}" >/dev/null \
    || { "${run[@]}" apt-get update -q >/dev/null && "${run[@]}" apt-get install -y -q --no-install-recommends "${needed[@]}" >/dev/null; }
