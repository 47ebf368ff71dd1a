#!/usr/bin/env bash
# Install the tools the deployment checks run (tests/test_deploy_k8s.py, tests/test_observability_files.py):
#   promtool, from Debian's prometheus package: checks and unit-tests the alert rules (needs root for apt-get);
#   the Strimzi CRD schemas and the TypeScript compiler, from npm (versions locked in package-lock.json).
# The Python tools (kubernetes-validate, check-jsonschema) come with `make install`.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v promtool > /dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus > /dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
