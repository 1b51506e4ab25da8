#!/bin/sh
# PostgreSQL image init (docker-compose.yml): an app role for the voice history
# store that owns only its own database; never a superuser.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE switchboard_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${APP_DB_PASSWORD}';
CREATE DATABASE switchboard_app OWNER switchboard_app;
SQL
