#!/usr/bin/env bash
# Installs Apicurio Registry (in-memory storage; its /apis/ccompat/v7 API is Confluent Schema Registry's REST API)
# into the per-user cache, for the schema-registry tests (test/support/apicurio.ts). Idempotent.
#
# The archive is fetched from Maven Central directly rather than with `mvn dependency:copy`: the release's parent POM
# (io.apicurio:apicurio-registry:3.0.9) is not on Maven Central, so Maven refuses the artifact's descriptor. The
# download is checked against the SHA-256 pinned in common.sh. KAFKA_S3_MAVEN_CENTRAL points it at a mirror.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
jar="$APICURIO_DIR/apicurio-registry-app-$APICURIO_VERSION-runner.jar"
if [ -f "$APICURIO_DIR/.complete" ] && [ -f "$jar" ]; then
  echo "apicurio registry $APICURIO_VERSION: cached at $APICURIO_DIR"
  exit 0
fi
command -v curl >/dev/null || { echo "install-apicurio: curl is required but not on PATH" >&2; exit 1; }
command -v java >/dev/null || echo "install-apicurio: warning: Java 17+ is needed to run the registry but 'java' is not on PATH" >&2
name="apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
url="$MAVEN_CENTRAL_URL/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/$name"
echo "apicurio registry $APICURIO_VERSION: downloading $url (first run only, ~110 MB)"
tmp="$APICURIO_DIR.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp" && mkdir -p "$tmp"
curl -fsSL --retry 3 -o "$tmp/$name" "$url"
actual="$(sha256sum "$tmp/$name" | cut -d' ' -f1)"
if [ "$actual" != "$APICURIO_SHA256" ]; then
  echo "install-apicurio: $name has SHA-256 $actual, expected $APICURIO_SHA256" >&2
  exit 1
fi
tar -xzf "$tmp/$name" -C "$tmp"
rm "$tmp/$name"
[ -f "$tmp/apicurio-registry-app-$APICURIO_VERSION-runner.jar" ] || { echo "install-apicurio: the archive holds no runner jar" >&2; exit 1; }
touch "$tmp/.complete"
rm -rf "$APICURIO_DIR" && mv "$tmp" "$APICURIO_DIR"
trap - EXIT
echo "apicurio registry $APICURIO_VERSION: installed at $APICURIO_DIR ($(ls "$APICURIO_DIR/lib" | wc -l) jars)"
