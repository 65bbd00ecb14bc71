#!/usr/bin/env bash
# Installs the built Maven package (../../dist/java) into the local Maven
# repository, then synthesizes the reference deployment from Java and asserts
# on it (mvn test).
# Usage: examples/java/check.sh   (from any directory; after the packages are built)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

version="${CDK_IOT_INGEST_VERSION:-0.0.0}"
dir="../../dist/java/io/github/cdkiotingest/cdk-iot-ingest/$version"
jar="$dir/cdk-iot-ingest-$version.jar"
pom="$dir/cdk-iot-ingest-$version.pom"
if [[ ! -f "$jar" || ! -f "$pom" ]]; then
  echo "check.sh: $jar or its .pom is missing; build the packages first (npx projen build)" >&2
  exit 1
fi

# Maven 3.8 writes stray ANSI resets even in batch mode: drop them (pipefail
# keeps Maven's exit status).
mvn() { command mvn -B --no-transfer-progress "$@" 2>&1 | sed -u 's/\x1b\[0m//g'; }
start=$SECONDS

# install-file overwrites what an earlier build of the same version left in
# ~/.m2 (a file:// repository would be cached there once and never refreshed).
mvn -q org.apache.maven.plugins:maven-install-plugin:3.1.2:install-file \
  -Dfile="$jar" -DpomFile="$pom" \
  -Dsources="$dir/cdk-iot-ingest-$version-sources.jar" -Djavadoc="$dir/cdk-iot-ingest-$version-javadoc.jar"

echo "installed cdk-iot-ingest $version into the local Maven repository ($(( SECONDS - start )) s)"

# Quiet, except for errors and Surefire's report, whose last line is the
# summary "Tests run: N, Failures: 0, Errors: 0, Skipped: 0".
mvn -q -Dcdk-iot-ingest.version="$version" \
  -Dorg.slf4j.simpleLogger.log.org.apache.maven.plugin.surefire=info \
  clean test
