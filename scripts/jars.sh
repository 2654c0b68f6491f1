#!/usr/bin/env bash
# Resolve a set of Java jars from Maven Central into a cache and print the directory.
#
#   scripts/jars.sh NAME      resolve deploy/maven/NAME-pom.xml's runtime dependencies
#                             (idempotent: a complete cache is reused, offline)
#
# Cache: ${WATTLAKE_JARS_DIR:-$HOME/.cache/wattlake/jars}/NAME-<hash of the pom>, so a changed
# pom resolves into a new directory and concurrent runs never see a half-written one (the
# jars are copied to a temporary directory and renamed into place). Extra arguments are
# passed to `mvn dependency:copy-dependencies` (e.g. -DincludeArtifactIds=...).
# deploy/maven/settings.xml blocks a repository that Spark's parent pom declares and that is
# unreachable here, so every artifact comes from Maven Central.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: scripts/jars.sh NAME [mvn args]}"
shift
pom="deploy/maven/${name}-pom.xml"
[ -f "$pom" ] || { echo "jars.sh: no $pom" >&2; exit 2; }
hash="$( (cat "$pom"; echo "$*") | sha256sum | cut -c1-12)"
root="${WATTLAKE_JARS_DIR:-$HOME/.cache/wattlake/jars}"
dest="$root/${name}-${hash}"
if [ ! -f "$dest/.complete" ]; then
    command -v mvn >/dev/null 2>&1 || { echo "jars.sh: Maven (mvn) is needed to resolve $name" >&2; exit 2; }
    mkdir -p "$root"
    tmp="$(mktemp -d "$root/.${name}.XXXXXX")"
    echo "jars.sh: resolving $name jars from Maven Central" >&2
    mvn -q -B -s deploy/maven/settings.xml -Dmaven.repo.local="${M2_REPO:-$HOME/.m2/repository}" \
        -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" "$@" >&2
    touch "$tmp/.complete"
    if ! mv -T "$tmp" "$dest" 2>/dev/null; then rm -rf "$tmp"; fi  # another run won the race
fi
echo "$dest"
