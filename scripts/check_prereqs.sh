#!/usr/bin/env bash
# Fail early, with the fix, when the machine lacks what the pipeline needs.
set -euo pipefail
PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found. Install Python 3.11 or newer, or set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "error: $("$PYTHON" --version 2>&1) is too old; the pipeline needs Python 3.11 or newer (set PYTHON=...)." >&2
  exit 1
fi
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! command -v "$JAVA" >/dev/null 2>&1; then
  echo "error: Java not found. Spark needs Java 17 or newer: install OpenJDK 17 (apt-get install openjdk-17-jre-headless) or set JAVA_HOME." >&2
  exit 1
fi
java_major=$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
  echo "error: Java ${java_major:-unknown} found at $(command -v "$JAVA"); Spark 4 needs Java 17 or newer (set JAVA_HOME)." >&2
  exit 1
fi
