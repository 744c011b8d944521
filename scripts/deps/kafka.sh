#!/usr/bin/env bash
# Apache Kafka's broker for the distributed-mode tests (tests/services/kafka.py runs it).
#
# * Neither Debian nor PyPI ships a Kafka broker; Maven Central does: the pom beside this
#   script (scripts/deps/kafka/pom.xml) names org.apache.kafka:kafka_2.13 and the log4j2
#   SLF4J binding, and `mvn dependency:copy-dependencies` lays them and every runtime
#   dependency as jars into $KAFKA_LIBS (default /var/cache/planewatch/kafka/libs; the
#   tests read PLANEWATCH_KAFKA_LIBS too). The broker runs as
#   `java -cp "$KAFKA_LIBS/*" kafka.Kafka server.properties` on Java 17+ (KRaft, no ZooKeeper).
# * Maven and a JDK 17 are expected on the machine (installed from Debian if missing).
#
# Idempotent: does nothing when the jars of this Kafka version are already there. The
# Maven download cache is a throwaway folder; the jars never go into the repository.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/deps/kafka.sh: needs root (writes /var/cache/planewatch, may apt-get install)" >&2
    exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
POM="$here/kafka/pom.xml"
KAFKA_LIBS=${PLANEWATCH_KAFKA_LIBS:-/var/cache/planewatch/kafka/libs}
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")
marker="$KAFKA_LIBS/.planewatch-kafka-$KAFKA_VERSION"

if [ -f "$marker" ] && [ -f "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then
    echo "kafka.sh: Kafka $KAFKA_VERSION present in $KAFKA_LIBS"
    exit 0
fi

missing=()
command -v mvn >/dev/null 2>&1 || missing+=(maven)
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1 || true)
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
    missing+=(openjdk-17-jre-headless)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "kafka.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "kafka.sh: fetching Kafka $KAFKA_VERSION (org.apache.kafka:kafka_2.13) and its runtime jars into $KAFKA_LIBS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Run Maven on a copy so no target/ folder appears in the repository.
cp "$POM" "$work/pom.xml"
(cd "$work" && mvn -B -q -Dmaven.repo.local="$work/m2" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$work/libs")
[ -f "$work/libs/kafka_2.13-$KAFKA_VERSION.jar" ] || { echo "kafka.sh: Maven did not deliver kafka_2.13-$KAFKA_VERSION.jar" >&2; exit 1; }
touch "$work/libs/.planewatch-kafka-$KAFKA_VERSION"
mkdir -p "$(dirname "$KAFKA_LIBS")"
rm -rf "$KAFKA_LIBS.tmp"
mv "$work/libs" "$KAFKA_LIBS.tmp"
rm -rf "$KAFKA_LIBS"
mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
echo "kafka.sh: $(ls "$KAFKA_LIBS" | wc -l) jars ($(du -sh "$KAFKA_LIBS" | cut -f1)) ready in $KAFKA_LIBS"
