# Shared settings for the test-infrastructure scripts. Tools are cached per user, keyed by version,
# outside the clone, so a fresh clone (CI) reuses what an earlier run installed.
set -euo pipefail
CACHE_ROOT="${KAFKA_S3_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-s3}"
VERSITYGW_VERSION="v1.7.0"
VERSITYGW_DIR="$CACHE_ROOT/versitygw-$VERSITYGW_VERSION"
PY_REQS_FILE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/requirements.txt"
PY_REQS_HASH="$(sha256sum "$PY_REQS_FILE" | cut -c1-12)"
PY_VENV="$CACHE_ROOT/venv-$PY_REQS_HASH"
mkdir -p "$CACHE_ROOT"
KAFKA_VERSION="4.1.2"
KAFKA_POM_HASH="$(sha256sum "$(dirname "${BASH_SOURCE[0]}")/kafka-pom.xml" | cut -c1-8)"
KAFKA_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION-$KAFKA_POM_HASH"
