# Shared settings for the test-infrastructure scripts. Tools are cached per user, keyed by version,
# outside the clone, so a fresh clone (CI) reuses what an earlier run installed.
set -euo pipefail
CACHE_ROOT="${KAFKA_S3_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-s3}"
VERSITYGW_VERSION="v1.8.0"
VERSITYGW_DIR="$CACHE_ROOT/versitygw-$VERSITYGW_VERSION"
PY_REQS_FILE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/requirements.txt"
PY_REQS_HASH="$(sha256sum "$PY_REQS_FILE" | cut -c1-12)"
PY_VENV="$CACHE_ROOT/venv-$PY_REQS_HASH"
mkdir -p "$CACHE_ROOT"
KAFKA_VERSION="4.1.2"
KAFKA_POM_HASH="$(sha256sum "$(dirname "${BASH_SOURCE[0]}")/kafka-pom.xml" | cut -c1-8)"
KAFKA_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION-$KAFKA_POM_HASH"
# Apicurio Registry (Confluent-compatible schema registry API) for the schema-registry tests. 3.0.9 is the newest
# release that runs on Java 17; 3.3.x needs Java 21+ (and returns Protobuf format=serialized as raw bytes in a JSON
# string, which @confluentinc/schemaregistry cannot read). The SHA-256 is Maven Central's published checksum.
APICURIO_VERSION="3.0.9"
APICURIO_SHA256="2b28181501a20cbf6efcd77f9b7153908fc01f3d3a7c32024c0bd9e1b04c8a43"
APICURIO_DIR="$CACHE_ROOT/apicurio-registry-$APICURIO_VERSION"
MAVEN_CENTRAL_URL="${KAFKA_S3_MAVEN_CENTRAL:-https://repo.maven.apache.org/maven2}"
