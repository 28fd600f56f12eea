#!/usr/bin/env bash
# Install what make test-site needs from Debian: chromium and chromium-driver (the browser test), and
# fonts-lohit-deva (Devanagari for JupyterLab; the site and the slides ship their own font). Root only:
# as another user it says what is missing and how to install it, and exits 0 so the caller can go on.
set -euo pipefail
packages=(chromium chromium-driver fonts-lohit-deva)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" = 0 ]; then
  echo "browser: ${packages[*]} installed"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "browser: missing ${missing[*]}; install them as root (apt-get update && apt-get install -y ${missing[*]})," \
       "or make test-site will say it cannot run" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  echo "browser: installed ${missing[*]}"
else
  echo "browser: apt-get could not install ${missing[*]} (its message is above); make test-site will say what" \
       "is missing" >&2
fi
