#!/usr/bin/env bash
# Installs versitygw (S3 API server, posix backend) into the per-user cache. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ -x "$VERSITYGW_DIR/bin/versitygw" ]; then
  echo "versitygw $VERSITYGW_VERSION: cached at $VERSITYGW_DIR/bin/versitygw"
  exit 0
fi
command -v go >/dev/null || { echo "install-versitygw: Go is required (go install) but 'go' is not on PATH" >&2; exit 1; }
echo "versitygw $VERSITYGW_VERSION: installing with go install (first run only, a few minutes)"
tmp="$VERSITYGW_DIR.tmp.$$"
mkdir -p "$tmp/bin"
GOBIN="$tmp/bin" GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
rm -rf "$VERSITYGW_DIR" && mv "$tmp" "$VERSITYGW_DIR"
echo "versitygw $VERSITYGW_VERSION: installed at $VERSITYGW_DIR/bin/versitygw"
