# Pinned versions, shared by the scripts.
# The Apache Kafka broker for local runs and tests. 3.9.1 by default; the
# test command runs the real-broker tier again against KAFKA4_VERSION. Any
# other: KAFKA_VERSION=4.1.0 scripts/bootstrap && KAFKA_VERSION=4.1.0 scripts/kafka start
# (README "Kafka versions").
KAFKA_VERSION=${KAFKA_VERSION:-3.9.1}
KAFKA4_VERSION=4.4.0
SCALA_VERSION=2.13
_sb_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${SCHEDBRIDGE_CACHE_DIR:-$_sb_root/.cache}
KAFKA_LIBS_DIR="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
# cpp-httplib (HTTP clients): header-only, from Debian's source
# package in sid. Bookworm's 0.11.4 reads a whole header line before checking
# its length; 0.41 stops at 32 KiB. CMake reads the header from HTTPLIB_DIR.
HTTPLIB_DEBIAN_VERSION=0.41.0+ds-3
HTTPLIB_DIR="$CACHE_DIR/cpp-httplib"
# helm, for linting and rendering the chart in the tests (deploy/validate):
# built from the Go module proxy into $CACHE_DIR/bin by scripts/bootstrap.
HELM_VERSION=v3.22.0
HELM="$CACHE_DIR/bin/helm"
