#!/usr/bin/env bash
# Installs an Apache Kafka broker's jars (KRaft mode, started by the tests) into the per-user cache. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if [ -f "$KAFKA_DIR/.complete" ]; then
  echo "kafka $KAFKA_VERSION: cached at $KAFKA_DIR"
  exit 0
fi
command -v mvn >/dev/null || { echo "install-kafka: Maven (mvn) is required but not on PATH" >&2; exit 1; }
command -v java >/dev/null || { echo "install-kafka: Java 17+ is required but not on PATH" >&2; exit 1; }
echo "kafka $KAFKA_VERSION: resolving jars from Maven Central (first run only)"
tmp="$KAFKA_DIR.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp/libs"
mvn -B -q -f "$(dirname "${BASH_SOURCE[0]}")/kafka-pom.xml" \
  org.apache.maven.plugins:maven-dependency-plugin:3.11.0:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$tmp/libs"
touch "$tmp/.complete"
rm -rf "$KAFKA_DIR" && mv "$tmp" "$KAFKA_DIR"
echo "kafka $KAFKA_VERSION: installed at $KAFKA_DIR ($(ls "$KAFKA_DIR/libs" | wc -l) jars)"
