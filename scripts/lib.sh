# Shared set-up for scripts/run and scripts/test: a virtualenv and a Redis when needed.
# Sourced, not run. Works on a fresh Debian machine: installs what is missing, says so loudly.

die() { echo "error: $*" >&2; exit 1; }

ensure_venv() {
    local stamp=.venv/.installed
    local want
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ ! -x .venv/bin/python ]; then
        echo "==> creating .venv" >&2
        python3 -m venv .venv || die "python3 -m venv failed (install python3-venv)"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "==> installing the project and its dependencies into .venv (log: .venv/install.log)" >&2
        {
            .venv/bin/python -m pip install --upgrade pip &&
            .venv/bin/python -m pip install -e '.[dev]'
        } > .venv/install.log 2>&1 || { tail -20 .venv/install.log >&2; die "pip install failed"; }
        echo "$want" > "$stamp"
    fi
}

ensure_redis_server_binary() {
    command -v redis-server >/dev/null 2>&1 && return 0
    apt_install redis-server
    command -v redis-server >/dev/null 2>&1 || die "could not install redis-server"
}

apt_install() {  # $@ = Debian packages
    echo "==> installing $* with apt-get" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
    else
        sudo apt-get update -qq >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
    fi
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
