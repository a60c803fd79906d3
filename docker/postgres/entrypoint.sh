#!/usr/bin/env bash
# First start: create the cluster with POSTGRES_USER as its superuser (password from
# POSTGRES_PASSWORD, scram) and the database POSTGRES_DB. Every start: run the server in the
# foreground, listening on the compose network.
set -euo pipefail
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
    "$bin/initdb" --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --no-instructions >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    "$bin/pg_ctl" --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        "$bin/createdb" --username="$POSTGRES_USER" "$POSTGRES_DB"
    fi
    "$bin/pg_ctl" --pgdata="$PGDATA" --mode=fast --wait stop >/dev/null
    echo "postgres: cluster created, database $POSTGRES_DB owned by $POSTGRES_USER"
fi
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*'
