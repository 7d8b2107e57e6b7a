# shellcheck shell=bash
# Shared helpers for the ci/ scripts. Sourced, never executed: every script
# resolves its own location first so that it works from any working directory.

# The directory holding the ci/ scripts and the repository root, resolved
# through symlinks so `sudo /path/to/ci/test` and `cd ci && ./test` agree.
CI_DIR=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
REPO_ROOT=$(cd "$CI_DIR/.." && pwd)
CACHE_DIR="$CI_DIR/cache"
# The sandbox always serves its registry here; only loopback inside a private
# network namespace, so it can never collide with anything on the host.
REGISTRY_ADDR=127.0.0.1:5000
export CI_DIR REPO_ROOT CACHE_DIR REGISTRY_ADDR

# `sudo` resets PATH to secure_path, which lacks rustup's cargo; add it back
# so `sudo ci/test` finds the toolchain of the user root.
if [[ -d "${HOME:-/root}/.cargo/bin" && ":$PATH:" != *":${HOME:-/root}/.cargo/bin:"* ]]; then
    PATH="${HOME:-/root}/.cargo/bin:$PATH"
    export PATH
fi

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# Runs a command with its output captured, printing the output only when it
# fails: the scripts must be quiet on success but never hide a failure's cause.
quiet() {
    local out rc=0
    out=$(mktemp)
    "$@" >"$out" 2>&1 || rc=$?
    if ((rc != 0)); then
        cat "$out" >&2
        log "failed (exit $rc): $*"
    fi
    rm -f "$out"
    return "$rc"
}

# Writes the docker-registry config for STORAGE into FILE. Plain http, no
# auth, deletes enabled (tests exercise `rmi` against the registry too), and
# the upload purger off so it never touches the storage in the background.
registry_write_config() {
    local file=$1 storage=$2
    cat >"$file" <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $REGISTRY_ADDR
  # A fixed secret silences the registry's warning about generating one.
  secret: pocky-sandbox-not-a-secret
YAML
}

# Starts docker-registry on STORAGE in the background (the caller must already
# be inside a private network namespace) and waits until /v2/ answers.
# Sets REGISTRY_PID. WORKDIR receives the config and the registry's log.
registry_start() {
    local storage=$1 workdir=$2 i
    registry_write_config "$workdir/registry.yml" "$storage"
    # --pdeathsig: if the script that owns the registry dies, even by
    # SIGKILL where no trap runs, the kernel kills the registry as well.
    setpriv --pdeathsig KILL /usr/bin/docker-registry serve "$workdir/registry.yml" \
        >"$workdir/registry.log" 2>&1 &
    REGISTRY_PID=$!
    for ((i = 0; i < 200; i++)); do
        if curl -fsS -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$REGISTRY_PID" 2>/dev/null; then
            cat "$workdir/registry.log" >&2
            die "docker-registry exited before answering /v2/"
        fi
        sleep 0.05
    done
    cat "$workdir/registry.log" >&2
    die "docker-registry did not answer http://$REGISTRY_ADDR/v2/ within 10s"
}

registry_stop() {
    if [[ -n "${REGISTRY_PID:-}" ]] && kill -0 "$REGISTRY_PID" 2>/dev/null; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
    fi
    REGISTRY_PID=
}

# Removes DIR without ever following a mount out of it: tests may leave
# overlay or bind mounts behind, and deleting through them could destroy
# files elsewhere. Mounts are detached first (they live in our private mount
# namespace), deepest first, then the tree is removed on its own filesystem.
remove_tree() {
    local dir=$1 target
    [[ -e "$dir" ]] || return 0
    while read -r target; do
        umount -l "$target" 2>/dev/null || true
    done < <(findmnt -rn -o TARGET | awk -v d="$dir" 'index($0, d "/") == 1 || $0 == d' | sort -r)
    rm -rf --one-file-system "$dir"
}
