# shellcheck shell=bash
# Shared by scripts/services.sh and scripts/deploy-tools.sh (sourced, not run): the installers
# both need. Each script defines log and die (with its own prefix) before sourcing this.

# hash_of FILE...: a short digest of the files' contents, for cache directory names.
hash_of() { cat "$@" | sha256sum | cut -c1-12; }

# java_major JAVA: the major version of that java binary, 0 if it cannot be told.
java_major() {
  local v
  v=$("$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1) || true
  echo "${v:-0}"
}

# mvn_copy_deps POM DIR: the runtime dependencies POM lists, as jars in DIR (a pom here is only
# a dependency list). sed: Debian's Maven 3.8.7 prints stray colour resets even in batch mode.
mvn_copy_deps() {
  mvn -B -q -f "$1" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$2" 2>&1 |
    sed 's/\x1b\[0m//g' >&2
  return "${PIPESTATUS[0]}"
}

# go_build SRC BIN: build the Go main package in SRC (a module of this repo) into BIN.
# CGO off: pure-Go dependencies only. -buildvcs=false: this repo's git state must not matter.
# -mod=readonly: the go.sum in the repo is the source of truth. A temporary name, then a rename:
# an interrupted build leaves no half binary.
go_build() {
  mkdir -p "$(dirname "$2")"
  (cd "$1" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" \
    go build -trimpath -ldflags='-s -w' -o "$2.tmp.$$" .) || die "go build in $1 failed"
  mv -f "$2.tmp.$$" "$2"
}
