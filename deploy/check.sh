#!/usr/bin/env bash
# Checks the shipped Prometheus rules with the real promtool (Debian package `prometheus`):
# syntax and PromQL of every rule, then the unit tests in darklaunch.rules.test.yml.
# Exits non-zero if promtool is missing or any check or test fails.
set -euo pipefail
cd "$(dirname "$0")/prometheus"

if ! command -v promtool >/dev/null 2>&1; then
  echo "deploy/check.sh: promtool not found (apt-get install prometheus)" >&2
  exit 1
fi
promtool --version 2>&1 | head -1
promtool check rules darklaunch.rules.yml
promtool test rules darklaunch.rules.test.yml
