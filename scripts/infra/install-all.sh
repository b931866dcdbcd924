#!/usr/bin/env bash
# Installs every tool the test suite needs (versitygw, the Python readers and checkers, the Kafka jars, Apicurio
# Registry), each cached per user and keyed by version outside the clone: a second run takes well under a second.
# `npm test` runs this first (test/support/global-setup.ts), so a fresh machine needs only `npm ci` and `npm test`.
set -euo pipefail
dir="$(dirname "${BASH_SOURCE[0]}")"
bash "$dir/install-versitygw.sh"
bash "$dir/install-python.sh"
bash "$dir/install-kafka.sh"
bash "$dir/install-apicurio.sh"
# DuckDB's native library for both Lambda architectures (the transformSql bundles of test/lib/direct-stack.test.ts).
node "$dir/../platform-package.mjs" @duckdb/node-bindings-linux-arm64 @duckdb/node-bindings-linux-x64
