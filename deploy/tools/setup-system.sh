#!/usr/bin/env bash
# One system set-up for development and CI on Debian: installs what is missing, nothing else.
#   chromium            Debian's package: the console's browser tests drive it headless (tests/test_console_browser.py);
#   promtool            from Debian's prometheus package: checks and unit-tests the alert rules;
#   node and npm        Debian's packages, for the tools below;
#   npm tools           the Strimzi CRD schemas and the TypeScript compiler (deploy/tools) and axe-core (tests/browser),
#                       versions locked in each package-lock.json.
# apt-get needs root: run it as root (CI does) or with sudo. The Python tools come with `make install`.
set -euo pipefail
cd "$(dirname "$0")/../.."
missing=()
command -v chromium > /dev/null || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v promtool > /dev/null || missing+=(prometheus)
command -v node > /dev/null || missing+=(nodejs)
command -v npm > /dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]}; run this script as root (apt-get installs them)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
for tools in deploy/tools tests/browser; do
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
done
