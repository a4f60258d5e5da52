#!/bin/bash
# The official image's entrypoint contract, reduced to what a non-root pod uses: on an empty
# PGDATA, initdb with POSTGRES_USER/POSTGRES_PASSWORD, allow password logins from anywhere
# (POSTGRES_HOST_AUTH_METHOD, default scram-sha-256), create POSTGRES_DB, run
# /docker-entrypoint-initdb.d/*.sh and *.sql against a server listening on the socket only,
# then run the server in the foreground.
set -euo pipefail
if [[ ${1:-postgres} != postgres ]]; then exec "$@"; fi
[[ ${1:-} == postgres ]] && shift

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
export POSTGRES_USER POSTGRES_DB PGDATA

# As the official entrypoint does on every start: PostgreSQL refuses a data directory that
# others may read, and a volume's ownership management may have widened it.
mkdir -p "$PGDATA"
chmod 00700 "$PGDATA" 2>/dev/null || :

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  if [[ -z ${POSTGRES_PASSWORD:-} && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
    echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as in the official image
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD:-}") \
    ${POSTGRES_INITDB_ARGS:-}
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  export PGPASSWORD=${POSTGRES_PASSWORD:-} PGHOST=/var/run/postgresql PGPORT=5432
  if [[ $POSTGRES_DB != postgres ]]; then
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
      -v db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh)
        if [[ -x $f ]]; then echo "running $f"; "$f"; else echo "sourcing $f"; . "$f"; fi ;;
      *.sql)
        echo "running $f"
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
      *) [[ -e $f ]] && echo "ignoring $f" ;;
    esac
  done
  unset PGPASSWORD
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "PostgreSQL init process complete; ready for start up."
fi
exec postgres "$@"
