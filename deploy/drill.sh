#!/bin/bash
# The deploy drill: docs/deploy.md sections 1–8 on this machine, under a scratch prefix, ending with
# a sign-in through nginx over HTTPS. Run as root on Debian 12 / Ubuntu 24.04:
#
#     deploy/drill.sh            # everything, then stop what it started and drop its database
#     KEEP=1 deploy/drill.sh     # leave it running (stop later with: deploy/drill.sh stop)
#
# The unit files and the nginx site are cut out of docs/deploy.md itself (deploy/docblock.py), so
# the drill tests what the guide says; only paths and ports are moved under $PREFIX so the drill
# never touches a real installation. The guide's interactive steps (createuser --pwprompt,
# guanxi createadmin) are done with their non-interactive forms. When systemd is not PID 1 (a
# container), each unit's ExecStart runs through deploy/run-unit.py, which applies the unit's
# User, EnvironmentFile, Environment, RuntimeDirectory and its sandboxing (ProtectSystem=strict,
# ReadWritePaths, PrivateTmp, ProtectHome, NoNewPrivileges) in a private mount namespace.
#
# SOURCE=worktree installs the checkout's files as they are now (uncommitted changes included).
# Settings (environment): PREFIX (/srv/guanxi-drill; not under /tmp, which the units' PrivateTmp hides), SOURCE (git URL to clone; default: a bare
# copy of the checkout this script is in), DB_NAME / DB_USER (guanxi_drill), PGHOST (127.0.0.1),
# PGPORT (5432), REDIS_URL (redis://127.0.0.1:6379/8), SERVER_NAME (crm.example.com),
# HTTP_PORT (8080), HTTPS_PORT (8443), WEB_PORT (8001).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
DOC=$REPO/docs/deploy.md
PREFIX=${PREFIX:-/srv/guanxi-drill}
DB_NAME=${DB_NAME:-guanxi_drill}
DB_USER=${DB_USER:-guanxi_drill}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/8}
SERVER_NAME=${SERVER_NAME:-crm.example.com}
HTTP_PORT=${HTTP_PORT:-8080}
HTTPS_PORT=${HTTPS_PORT:-8443}
WEB_PORT=${WEB_PORT:-8001}
SYSUSER=guanxi
ADMIN_PASSWORD=drill-$(head -c 9 /dev/urandom | base64 | tr '+/' 'xy')
STATE=$PREFIX/drill-state
export PGHOST PGPORT

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'DRILL FAILED: %s\n' "$*" >&2; exit 1; }
block() { python3 "$HERE/docblock.py" "$DOC" "$1"; }
# the guide's paths and ports, moved under the prefix
relocate() {
    sed -e "s#/srv/guanxi#$PREFIX/srv/guanxi#g" -e "s#/etc/guanxi#$PREFIX/etc/guanxi#g" \
        -e "s#/var/lib/guanxi#$PREFIX/var/lib/guanxi#g" -e "s#/etc/ssl/guanxi#$PREFIX/etc/ssl/guanxi#g" \
        -e "s#127.0.0.1:8000#127.0.0.1:$WEB_PORT#g" -e "s#GUANXI_PORT=8000#GUANXI_PORT=$WEB_PORT#g" \
        -e "s#listen 80;#listen $HTTP_PORT;#" -e "s#listen \[::\]:80;#listen [::]:$HTTP_PORT;#" \
        -e "s#listen 443 ssl#listen $HTTPS_PORT ssl#" -e "s#listen \[::\]:443 ssl#listen [::]:$HTTPS_PORT ssl#" \
        -e "s#return 301 https://\$host\$request_uri#return 301 https://\$host:$HTTPS_PORT\$request_uri#"
}

stop_all() {
    [ -d "$STATE" ] || return 0
    for pidfile in "$STATE"/*.pid; do
        [ -e "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            if [ "$(basename "$pidfile")" = nginx.pid ]; then kill -QUIT "$pid"; else kill -TERM "$pid"; fi
        fi
    done
    for pidfile in "$STATE"/*.pid; do
        [ -e "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        rm -f "$pidfile"
    done
}

if [ "${1:-}" = stop ]; then
    stop_all
    psql -U postgres -qc "DROP DATABASE IF EXISTS $DB_NAME" -c "DROP ROLE IF EXISTS $DB_USER"
    exit 0
fi

[ "$(id -u)" = 0 ] || fail "run as root"
case "$PREFIX" in /tmp/*|/var/tmp/*) fail "PREFIX under /tmp: the units run with PrivateTmp=yes and would not see it";; esac
stop_all
rm -rf "$PREFIX"
mkdir -p "$STATE"
chmod 755 "$PREFIX"
[ "${KEEP:-}" = 1 ] || trap 'stop_all; psql -U postgres -qc "DROP DATABASE IF EXISTS $DB_NAME" -c "DROP ROLE IF EXISTS $DB_USER" >/dev/null 2>&1 || true' EXIT
START=$(date +%s)

say "1. packages (docs/deploy.md section 1)"
missing=""
for pkg in sudo python3 python3-venv git nginx openssl curl; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then apt-get install -y $missing; fi
echo "python3 $(/usr/bin/python3 -c 'import sys; print(sys.version.split()[0])'), $(nginx -v 2>&1), $(psql --version)"

say "2. PostgreSQL: role and database"
psql -U postgres -qc "DROP DATABASE IF EXISTS $DB_NAME" -c "DROP ROLE IF EXISTS $DB_USER"
DB_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
# = sudo -u postgres createuser --pwprompt guanxi, without the prompt
psql -U postgres -qc "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD'"
createdb -U postgres --owner "$DB_USER" --encoding UTF8 "$DB_NAME"
psql -U postgres -d "$DB_NAME" -qc 'CREATE EXTENSION IF NOT EXISTS pg_trgm'

say "3. Redis (${REDIS_URL}); the guide's redis.conf settings, as the server has them now:"
redis-cli -u "$REDIS_URL" config get maxmemory-policy | paste -sd' '
redis-cli -u "$REDIS_URL" config get appendonly | paste -sd' '

say "4. system user and installation"
adduser --system --group --home /srv/guanxi "$SYSUSER" 2>&1 | sed 's/^/   /' || true
# the user may be left from an earlier drill whose home was removed since (pip keeps its cache there)
[ -d /srv/guanxi ] || install -d -o "$SYSUSER" -g "$SYSUSER" -m 755 /srv/guanxi
install -d -o "$SYSUSER" -g "$SYSUSER" -m 750 "$PREFIX/srv/guanxi"
install -d -o "$SYSUSER" -g "$SYSUSER" -m 750 "$PREFIX/var/lib/guanxi"
if [ -z "${SOURCE:-}" ]; then
    # stands in for the public repository URL: a bare copy of this checkout's committed state
    SOURCE=$PREFIX/guanxi.git
    git clone -q --bare "$REPO" "$SOURCE"
    chown -R "$SYSUSER:$SYSUSER" "$SOURCE"
elif [ "$SOURCE" = worktree ]; then
    # the checkout's files as they are now, committed in a scratch copy (the checkout is not touched)
    SOURCE=$PREFIX/guanxi-worktree
    git clone -q "$REPO" "$SOURCE"
    (cd "$REPO" && git ls-files -co --exclude-standard -z) \
        | rsync -a --from0 --ignore-missing-args --files-from=- "$REPO/" "$SOURCE/"
    (cd "$REPO" && git ls-files -d -z) | (cd "$SOURCE" && xargs -0 -r rm -f --)
    (cd "$SOURCE" && git add -A \
        && git -c user.name=drill -c user.email=drill@localhost commit -qm "working tree for the drill")
    chown -R "$SYSUSER:$SYSUSER" "$SOURCE"
fi
sudo -u "$SYSUSER" git clone -q "$SOURCE" "$PREFIX/srv/guanxi/src"
echo "   source: $SOURCE at $(sudo -u "$SYSUSER" git -C "$PREFIX/srv/guanxi/src" log --oneline -1)"
sudo -u "$SYSUSER" python3 -m venv "$PREFIX/srv/guanxi/venv"
sudo -u "$SYSUSER" "$PREFIX/srv/guanxi/venv/bin/pip" install -q --upgrade pip
sudo -u "$SYSUSER" "$PREFIX/srv/guanxi/venv/bin/pip" install -q "$PREFIX/srv/guanxi/src" 2>&1 \
    | grep -v -e BuildBackendWarning -e '^ *[!*]' -e 'SPDX\|license-files\|2027-Feb\|writing-pyproject\|corresp(dist' \
    | grep -v '^ *$' || true
[ -x "$PREFIX/srv/guanxi/venv/bin/guanxi" ] || fail "pip install gave no guanxi command"

say "5. environment file and the guanxi wrapper"
install -d -m 750 -g "$SYSUSER" "$PREFIX/etc/guanxi"
install -m 640 -g "$SYSUSER" /dev/null "$PREFIX/etc/guanxi/guanxi.env"
SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
# the guide's example file, with this drill's values filled in
python3 - "$DOC" > "$PREFIX/etc/guanxi/guanxi.env" <<EOF
import re, sys
doc = open(sys.argv[1], encoding="utf-8").read()
env = re.search(r"\`\`\`\n(GUANXI_PRODUCTION=1\n.*?)\`\`\`", doc, re.S).group(1)
values = {
    "GUANXI_SECRET_KEY": "$SECRET",
    "GUANXI_ALLOWED_HOSTS": "$SERVER_NAME",
    "GUANXI_CSRF_TRUSTED_ORIGINS": "https://$SERVER_NAME:$HTTPS_PORT",
    "GUANXI_DATA_DIR": "$PREFIX/var/lib/guanxi",
    "DATABASE_URL": "postgres://$DB_USER:$DB_PASSWORD@$PGHOST:$PGPORT/$DB_NAME",
    "REDIS_URL": "$REDIS_URL",
    "GUANXI_SMTP_HOST": "127.0.0.1",
    "GUANXI_BASE_URL": "https://$SERVER_NAME:$HTTPS_PORT",
    "GUANXI_QUEUE_NAME": "guanxi-drill",
}
out = []
for line in env.splitlines():
    key = line.split("=", 1)[0]
    out.append(f"{key}={values.pop(key)}" if key in values else line)
out += [f"{k}={v}" for k, v in values.items()]
print("\n".join(out))
EOF
grep -q "^GUANXI_SECRET_KEY=$SECRET" "$PREFIX/etc/guanxi/guanxi.env" || fail "environment file"
mkdir -p "$PREFIX/usr/local/sbin"
block /usr/local/sbin/guanxi | relocate > "$PREFIX/usr/local/sbin/guanxi"
chmod 755 "$PREFIX/usr/local/sbin/guanxi"
GX=$PREFIX/usr/local/sbin/guanxi

say "6. guanxi setup, check --deploy, the first administrator"
"$GX" setup | tail -3
"$GX" check --deploy 2>&1 | tee "$STATE/check.txt"
grep -q "no issues" "$STATE/check.txt" || fail "guanxi check --deploy reported issues"
# the guide's guanxi createadmin without the prompts, as written there, through the wrapper
grep -q "^guanxi createadmin  " "$DOC" || fail "section 6 of docs/deploy.md does not run guanxi createadmin"
ADMIN_CMD=$(grep -o "^guanxi createadmin --no-input --username admin [^#]*" "$DOC" | head -1)
[ -n "$ADMIN_CMD" ] || fail "the guide's non-interactive guanxi createadmin line is not in docs/deploy.md"
export DJANGO_SUPERUSER_PASSWORD="$ADMIN_PASSWORD"
eval "\"\$GX\" ${ADMIN_CMD#guanxi }"
unset DJANGO_SUPERUSER_PASSWORD

say "7. systemd units"
mkdir -p "$PREFIX/etc/systemd/system"
for unit in guanxi-web.service guanxi-scheduler.service guanxi-worker@.service; do
    block "/etc/systemd/system/$unit" | relocate > "$PREFIX/etc/systemd/system/$unit"
done
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$STATE/verify"
    cp "$PREFIX"/etc/systemd/system/guanxi-{web,scheduler}.service "$STATE/verify/"
    cp "$PREFIX/etc/systemd/system/guanxi-worker@.service" "$STATE/verify/guanxi-worker@1.service"
    out=$(systemd-analyze verify "$STATE"/verify/*.service 2>&1 || true)
    [ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify"; }
    echo "   systemd-analyze verify: no complaints"
fi
if [ "$(ps -o comm= -p 1)" = systemd ]; then
    echo "   systemd is PID 1; the drill still runs the units itself (they live under $PREFIX)"
fi
run_unit() {  # name, unit file, [instance]
    setsid "$HERE/run-unit.py" "$PREFIX/etc/systemd/system/$2" ${3:-} > "$STATE/$1.log" 2>&1 &
    echo $! > "$STATE/$1.pid"
}
run_unit web guanxi-web.service
run_unit scheduler guanxi-scheduler.service
run_unit worker1 'guanxi-worker@.service' 1
run_unit worker2 'guanxi-worker@.service' 2
for _ in $(seq 1 60); do
    curl -s -o /dev/null -H "Host: $SERVER_NAME" "http://127.0.0.1:$WEB_PORT/" && break
    sleep 1
done
curl -s -o /dev/null -H "Host: $SERVER_NAME" "http://127.0.0.1:$WEB_PORT/" || { tail -20 "$STATE/web.log"; fail "web unit did not start"; }
sleep 2
for name in web scheduler worker1 worker2; do
    kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null || { tail -20 "$STATE/$name.log"; fail "$name exited"; }
    echo "   $name: pid $(cat "$STATE/$name.pid") running as $(ps -o user= -p "$(cat "$STATE/$name.pid")")"
done
if grep -i -e "error" -e "Traceback" "$STATE"/web.log "$STATE"/scheduler.log "$STATE"/worker*.log; then
    fail "the units logged errors"
fi

say "8. nginx with TLS"
install -d -m 755 "$PREFIX/etc/ssl/guanxi"
grep -A4 '^openssl req' "$DOC" | sed -n '1,/privkey.pem -out/p' | relocate | sed "s#crm.example.com#$SERVER_NAME#g" \
    > "$STATE/cert.sh"
bash "$STATE/cert.sh" 2>/dev/null
chmod 600 "$PREFIX/etc/ssl/guanxi/privkey.pem"
mkdir -p "$PREFIX/etc/nginx/sites-available" "$PREFIX/nginx"
block /etc/nginx/sites-available/guanxi | relocate | sed "s#crm.example.com#$SERVER_NAME#g" \
    > "$PREFIX/etc/nginx/sites-available/guanxi"
cat > "$PREFIX/etc/nginx/nginx.conf" <<EOF
# Debian's /etc/nginx/nginx.conf, reduced to what the drill needs; the site is the guide's
worker_processes 2;
pid $STATE/nginx.pid;
error_log $STATE/nginx-error.log;
events { worker_connections 768; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log $STATE/nginx-access.log;
    client_body_temp_path $PREFIX/nginx/body;
    proxy_temp_path $PREFIX/nginx/proxy;
    fastcgi_temp_path $PREFIX/nginx/fastcgi;
    uwsgi_temp_path $PREFIX/nginx/uwsgi;
    scgi_temp_path $PREFIX/nginx/scgi;
    gzip on;
    include $PREFIX/etc/nginx/sites-available/guanxi;
}
EOF
nginx -t -c "$PREFIX/etc/nginx/nginx.conf"
nginx -c "$PREFIX/etc/nginx/nginx.conf"
sleep 1

say "9. sign in through nginx over HTTPS"
CURL=(curl -sk --resolve "$SERVER_NAME:$HTTPS_PORT:127.0.0.1" --resolve "$SERVER_NAME:$HTTP_PORT:127.0.0.1"
      -b "$STATE/cookies" -c "$STATE/cookies")
BASE=https://$SERVER_NAME:$HTTPS_PORT
check() {  # what, expected, actual
    if [ "$2" = "$3" ]; then echo "   ok   $1: $3"; else echo "   FAIL $1: $3 (expected $2)"; FAILED=1; fi
}
FAILED=0
check "http → https redirect" "301 https://$SERVER_NAME:$HTTPS_PORT/" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' "http://$SERVER_NAME:$HTTP_PORT/")"
check "GET / without a session" "302" "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$BASE/")"
"${CURL[@]}" -o "$STATE/login.html" "$BASE/login/"
TOKEN=$(grep -o 'name="csrfmiddlewaretoken" value="[^"]*"' "$STATE/login.html" | head -1 | sed 's/.*value="//;s/"$//')
check "login form has a CSRF token" "64" "${#TOKEN}"
check "POST /login/ as admin" "302 $BASE/" "$("${CURL[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' \
    -H "Referer: $BASE/login/" -H "X-Forwarded-For: 203.0.113.9" --data-urlencode "csrfmiddlewaretoken=$TOKEN" --data-urlencode username=admin \
    --data-urlencode "password=$ADMIN_PASSWORD" "$BASE/login/")"
"${CURL[@]}" -o "$STATE/desk.html" "$BASE/"
check "the desk" "工作台 · 关系 CRM" "$(grep -o '<title>[^<]*</title>' "$STATE/desk.html" | sed 's/<[^>]*>//g')"
check "session cookie is Secure and HttpOnly" "yes" \
    "$(grep -q "^#HttpOnly_$SERVER_NAME.*TRUE.*sessionid" "$STATE/cookies" && echo yes || echo no)"
check "administrator reaches the users page" "200" "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$BASE/org/users/")"
check "HSTS header" "strict-transport-security: max-age=3600; includeSubDomains; preload" \
    "$("${CURL[@]}" -D - -o /dev/null "$BASE/login/" | grep -i '^strict-transport-security' | tr -d '\r')"
CSS=$(grep -o '/static/[^"]*\.css' "$STATE/desk.html" | head -1)
check "static file through WhiteNoise, cached a year, gzip" "200 max-age=315360000, public, immutable gzip" \
    "$("${CURL[@]}" -H 'Accept-Encoding: gzip' -D "$STATE/static.h" -o /dev/null -w '%{http_code}' "$BASE$CSS") $(
       grep -i '^cache-control' "$STATE/static.h" | cut -d' ' -f2- | tr -d '\r') $(
       grep -i '^content-encoding' "$STATE/static.h" | cut -d' ' -f2 | tr -d '\r')"
HEALTH=$("${CURL[@]}" -o "$STATE/health.json" -w '%{http_code}' "$BASE/health/")
if [ "$HEALTH" = 404 ]; then
    echo "   skip /health/: not in this version"
else
    check "/health/" "200" "$HEALTH"
    echo "        $(cat "$STATE/health.json")"
fi
head -c 21000000 /dev/zero > "$STATE/big.bin"
check "a 21 MB upload is refused by nginx (client_max_body_size 20m)" "413" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code}' -F "file=@$STATE/big.bin" "$BASE/accounts/")"
rm -f "$STATE/big.bin"
check "audit log: client address from nginx, not the client's X-Forwarded-For" "127.0.0.1" \
    "$(psql -U postgres -d "$DB_NAME" -Atc "select ip from core_auditevent where action='login' order by id desc limit 1" \
       2>/dev/null || echo "?")"
sleep 1
if grep -i -e "Traceback" -e "\[error\]\|\[crit\]\|\[emerg\]" "$STATE"/*.log | grep -v "client intended to send too large body"
then FAILED=1; fi

say "done in $(( $(date +%s) - START )) s on $(. /etc/os-release; echo "$PRETTY_NAME"), $(date -u '+%Y-%m-%d %H:%M UTC')"
if [ "$FAILED" = 1 ]; then fail "some checks failed (logs in $STATE)"; fi
echo "DRILL PASSED"
if [ "${KEEP:-}" = 1 ]; then echo "left running; stop with: $0 stop"; fi
