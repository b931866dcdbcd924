#!/usr/bin/env bash
# Prints where the test tools live, as KEY=value lines (values %q-quoted, so `eval` works),
# so that TypeScript code learns the paths from the one place that defines them: common.sh.
# It reports paths only; the install-*.sh scripts create what they point at.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
printf 'VERSITYGW_BIN=%q\n' "$VERSITYGW_DIR/bin/versitygw"
printf 'PY_VENV_PYTHON=%q\n' "$PY_VENV/bin/python"
printf 'KAFKA_LIBS=%q\n' "$KAFKA_DIR/libs"
printf 'APICURIO_JAR=%q\n' "$APICURIO_DIR/apicurio-registry-app-$APICURIO_VERSION-runner.jar"
