#!/usr/bin/env bash
# Compile the Lucene bridge (src/lilsr/*.java) with the system javac, --release 17, against Anserini's fatjar
# from the installed pyserini. Output: build/classes (put on the JVM classpath by lilsr_tools.engines.lucene.jvm).
# Usage: java_bridge/build.sh [PYTHON]   (PYTHON: the venv interpreter that has pyserini; default .venv/bin/python)
# Re-running is cheap: nothing is compiled when build/STAMP matches the sources and the fatjar.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${1:-$HERE/../.venv/bin/python}
BUILD=$HERE/build
JAVAC=${JAVAC:-javac}

if [ ! -x "$PYTHON" ] && ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "java_bridge/build.sh: python '$PYTHON' not found; pass the venv interpreter as the first argument" >&2
  exit 2
fi

# find_spec locates pyserini without importing it (importing it would start a JVM).
FATJAR=$("$PYTHON" - <<'PY'
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("pyserini")
if spec is None or not spec.submodule_search_locations:
    sys.exit("pyserini is not installed in this interpreter (pip install --no-deps pyserini==1.6.0)")
jars = sorted(pathlib.Path(list(spec.submodule_search_locations)[0], "resources", "jars").glob("anserini-*-fatjar.jar"))
if not jars:
    sys.exit("no anserini-*-fatjar.jar under pyserini/resources/jars")
print(jars[-1])
PY
)

if ! command -v "$JAVAC" >/dev/null 2>&1; then
  echo "java_bridge/build.sh: javac not found (a JDK 17 or newer is needed: apt-get install openjdk-17-jdk-headless);" \
       "lilsr falls back to Anserini's SimpleImpactSearcher without the bridge" >&2
  exit 2
fi
JAVAC_MAJOR=$("$JAVAC" -version 2>&1 | sed -E 's/^javac ([0-9]+).*/\1/')
if [ "${JAVAC_MAJOR:-0}" -lt 17 ] 2>/dev/null; then
  echo "java_bridge/build.sh: $("$JAVAC" -version 2>&1) is too old; javac 17 or newer is needed" >&2
  exit 2
fi

SOURCES=$(find "$HERE/src" -name '*.java' | sort)
STAMP_NOW=$( (echo "$FATJAR"; stat -c '%s %Y' "$FATJAR"; "$JAVAC" -version 2>&1; cat $SOURCES) | sha256sum | cut -c1-64)
if [ -f "$BUILD/STAMP" ] && [ "$(cat "$BUILD/STAMP")" = "$STAMP_NOW" ] && [ -d "$BUILD/classes" ]; then
  echo "java_bridge: up to date ($BUILD/classes)"
  exit 0
fi

mkdir -p "$BUILD"
TMP=$(mktemp -d "$BUILD/.classes.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# -Xlint:-options: javac 17 reading a jar built by JDK 21 is expected; only Lucene's (Java 11) classes are
# referenced directly, Anserini's (Java 21) through reflection.
"$JAVAC" --release 17 -Xlint:-options -encoding UTF-8 -cp "$FATJAR" -d "$TMP" $SOURCES
rm -rf "$BUILD/classes"
mv "$TMP" "$BUILD/classes"
trap - EXIT
echo "$FATJAR" > "$BUILD/FATJAR"
echo "$STAMP_NOW" > "$BUILD/STAMP"
echo "java_bridge: built $BUILD/classes against $(basename "$FATJAR")"
