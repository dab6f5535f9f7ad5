# Shared set-up for scripts/run and scripts/test: a virtualenv and a Redis when needed.
# Sourced, not run. Works on a fresh Debian machine: installs what is missing, says so loudly.

die() { echo "error: $*" >&2; exit 1; }

# The lock files (requirements.lock: runtime; requirements-dev.lock: runtime + tests and lint)
# are made by `uv pip compile --generate-hashes` from pyproject.toml (scripts/lock remakes
# them): pip installs exactly those versions, every file checked against its hash.
lock_covers() {  # $1 = lock file, then the extras it includes: dies naming what it lacks
    python3 - "$@" <<'PY' || exit 1
import re, sys, tomllib
lock, extras = sys.argv[1], sys.argv[2:]
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = list(project["dependencies"])
for extra in extras:
    wanted += project.get("optional-dependencies", {}).get(extra, [])
def norm(name): return re.sub(r"[-_.]+", "-", name).lower()
names = {norm(re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]) for r in wanted}
pinned = {norm(n) for n in re.findall(r"^([A-Za-z0-9_.-]+)==", open(lock).read(), re.M)}
if names - pinned:
    sys.exit(f"error: {lock} does not pin {', '.join(sorted(names - pinned))} (named in "
             "pyproject.toml): run scripts/lock and commit the lock files")
PY
}

install_locked() {  # $1 = venv directory, $2 = lock file: pip's own progress on stderr
    local venv=$1 lock=$2 n
    n=$(grep -c '^[a-zA-Z]' "$lock")
    echo "==> installing $n pinned packages from $lock into $venv (pip's progress follows)" >&2
    "$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar on \
        --require-hashes --no-deps -r "$lock" >&2 || die "pip install -r $lock failed"
}

ensure_venv() {  # .venv with the dev lock (runtime + tests) and the project, editable
    local stamp=.venv/.installed
    local want
    want=$(cat pyproject.toml requirements-dev.lock | sha256sum | cut -d' ' -f1)
    if [ ! -x .venv/bin/python ]; then
        echo "==> creating .venv" >&2
        python3 -m venv .venv || die "python3 -m venv failed (install python3-venv)"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        local started=$SECONDS
        lock_covers requirements-dev.lock dev
        install_locked .venv requirements-dev.lock
        echo "==> installing the project itself (editable, no further dependencies)" >&2
        .venv/bin/python -m pip install --disable-pip-version-check --no-deps -e . >&2 ||
            die "pip install -e . failed"
        echo "==> .venv ready in $((SECONDS - started)) s" >&2
        echo "$want" > "$stamp"
    fi
}

ensure_redis_server_binary() {
    command -v redis-server >/dev/null 2>&1 && return 0
    apt_install redis-server
    command -v redis-server >/dev/null 2>&1 || die "could not install redis-server"
}

apt_get() {  # $@ = apt-get arguments; waits for a dpkg/apt lock another process holds
    # dpkg's lock: apt waits by itself (DPkg::Lock::Timeout). `apt-get update`'s lists lock and
    # the archives lock it does not wait for: retried here, every 5 s, up to the same 10 min.
    local sudo=() out deadline=$((SECONDS + 600))
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    out=$(mktemp)
    while :; do
        if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
                apt-get -o DPkg::Lock::Timeout=600 "$@" 2>"$out" >&2; then
            cat "$out" >&2; rm -f "$out"; return 0
        fi
        if grep -q "Could not get lock" "$out" && [ "$SECONDS" -lt "$deadline" ]; then
            echo "==> apt-get $1: another apt/dpkg holds its lock ($(grep -m1 -o 'held by.*' "$out" ||
                echo 'lock busy')); waiting (up to $((deadline - SECONDS)) s more)" >&2
            sleep 5
            continue
        fi
        cat "$out" >&2; rm -f "$out"; return 1
    done
}

apt_install() {  # $@ = Debian packages
    echo "==> installing $* with apt-get" >&2
    apt_get update -qq && apt_get install -y -qq "$@"
}

ensure_caddy() {  # Debian's caddy: the reverse proxy of deploy/, run by tests/test_deploy_proxy.py
    command -v caddy >/dev/null 2>&1 && return 0
    apt_install caddy || die "could not install caddy (the deployment's reverse proxy)"
}

ensure_deploy_tools() {  # openssl makes the proxy test's certificate; systemd-analyze checks units
    command -v openssl >/dev/null 2>&1 || apt_install openssl || die "could not install openssl"
    command -v systemd-analyze >/dev/null 2>&1 || apt_install systemd ||
        die "could not install systemd (systemd-analyze verifies deploy/systemd/)"
}

ensure_chromium() {  # Debian's chromium, driven headless by Playwright in the browser tests
    [ -x /usr/bin/chromium ] && return 0
    apt_install chromium || die "could not install chromium (needed by the browser tests)"
}

ensure_faketime() {  # prints the path of Debian's libfaketime, installing it when missing
    local lib
    lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1 || true)
    if [ -z "$lib" ]; then
        apt_install faketime >&2 || die "could not install faketime (for --clock-ahead)"
        lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1 || true)
    fi
    [ -n "$lib" ] || die "libfaketime.so.1 not found after installing faketime"
    echo "$lib"
}

redis_answers() {  # $1 = URL
    .venv/bin/python - "$1" <<'PY' >/dev/null 2>&1
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PY
}

ensure_local_redis() {  # a Redis on 127.0.0.1:6379 for the tests
    redis_answers "redis://127.0.0.1:6379/0" && return 0
    ensure_redis_server_binary
    echo "==> starting redis-server on 127.0.0.1:6379" >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --logfile /tmp/ivr-test-redis.log >&2 || die "redis-server would not start"
    for _ in $(seq 1 50); do
        redis_answers "redis://127.0.0.1:6379/0" && return 0
        sleep 0.1
    done
    die "redis-server started but does not answer on 127.0.0.1:6379 (see /tmp/ivr-test-redis.log)"
}
