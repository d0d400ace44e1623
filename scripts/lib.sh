# shellcheck shell=bash
# Shared by scripts/services.sh and scripts/deploy-tools.sh (sourced, not run): the installers
# both need. Each script defines log and die (with its own prefix) before sourcing this.

# Debian's prometheus package: prometheus (the alerting tests start one) and promtool (rule and
# config checks). Installed as root when missing.
ensure_prometheus() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null && return 0
  [[ $(id -u) -eq 0 ]] || die "prometheus/promtool not found: install Debian's 'prometheus' package (needs root)"
  log "installing Debian's prometheus package (prometheus + promtool)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends prometheus >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends prometheus >&2; } ||
    die "apt-get install prometheus failed"
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
