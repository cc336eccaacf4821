#!/bin/sh
# docker-compose: on the first initialisation of the postgres volume, creates the application's login
# threadline_app (LOGIN NOINHERIT, owns nothing) with THREADLINE_APP_DB_PASSWORD. The app's migrations, run as the
# owner (POSTGRES_USER), grant it what it needs and strip anything else (src/Sql/Migrations/0014_force_rls.ts).
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$THREADLINE_APP_DB_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE threadline_app LOGIN NOINHERIT PASSWORD :'pw';
SQL
