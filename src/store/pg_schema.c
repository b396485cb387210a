/* The PostgreSQL driver's schema (postgres.c applies it): one migration
 * per version, the same steps as sqlite.c's in PostgreSQL's types. */
#include "store/db.h"

extern const char *const pg_migrations[JP_SCHEMA_VERSION];

/* The schema, one entry per version: see JP_SCHEMA_VERSION (db.h). */
const char *const pg_migrations[] = {
    /* 1: sites and jobs */
    "CREATE TABLE sites ("
    " id TEXT COLLATE \"C\" PRIMARY KEY, team TEXT NOT NULL, name TEXT NOT NULL,"
    " identity TEXT, serial_number TEXT, model TEXT, board_name TEXT,"
    " architecture_name TEXT, software_version TEXT, uptime BIGINT,"
    " last_seen_at BIGINT, last_seen_from TEXT,"
    " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, deleted_at BIGINT);"
    "CREATE INDEX sites_team ON sites(team, id);"
    "CREATE TABLE jobs ("
    " id TEXT COLLATE \"C\" PRIMARY KEY, site_id TEXT COLLATE \"C\" NOT NULL REFERENCES sites(id),"
    " token TEXT NOT NULL UNIQUE, idempotency_key TEXT NOT NULL,"
    " description TEXT NOT NULL, script TEXT NOT NULL, notify_url TEXT,"
    " associated_backup TEXT, express_execute INTEGER NOT NULL,"
    " needs_ack INTEGER NOT NULL, should_backup INTEGER NOT NULL,"
    " created_at BIGINT NOT NULL, delivered_at BIGINT, started_at BIGINT,"
    " completed_at BIGINT, failed_at BIGINT, cancelled_at BIGINT,"
    " UNIQUE (site_id, idempotency_key));"
    "CREATE INDEX jobs_site ON jobs(site_id, id);",
    /* 2: the device plane */
    "ALTER TABLE sites ADD COLUMN adoption_hash TEXT;"
    "ALTER TABLE sites ADD COLUMN device_hash TEXT;"
    "ALTER TABLE sites ADD COLUMN adopted_at BIGINT;"
    "CREATE UNIQUE INDEX sites_adoption ON sites(adoption_hash) WHERE adoption_hash IS NOT NULL;"
    "CREATE UNIQUE INDEX sites_device ON sites(device_hash) WHERE device_hash IS NOT NULL;"
    "CREATE INDEX jobs_pending ON jobs(site_id, id)"
    " WHERE delivered_at IS NULL AND cancelled_at IS NULL;"
    "CREATE INDEX jobs_inflight ON jobs(site_id, delivered_at) WHERE delivered_at IS NOT NULL"
    " AND completed_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL;"
    "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, site_id TEXT NOT NULL, ts BIGINT NOT NULL,"
    " message TEXT NOT NULL);"
    "CREATE INDEX events_site_ts ON events(site_id, ts);"
    "CREATE TABLE stats (site_id TEXT NOT NULL, ts BIGINT NOT NULL, cpu_load BIGINT,"
    " memory_free BIGINT, disk_free BIGINT, uptime BIGINT);"
    "CREATE INDEX stats_site_ts ON stats(site_id, ts);"
    "CREATE TABLE backups (site_id TEXT NOT NULL, filename TEXT NOT NULL, job_id TEXT,"
    " size BIGINT NOT NULL, created_at BIGINT NOT NULL, content BYTEA NOT NULL,"
    " PRIMARY KEY (site_id, filename));"
    "CREATE TABLE backup_chunks (job_id TEXT NOT NULL, site_id TEXT NOT NULL,"
    " chunk_offset BIGINT NOT NULL, total BIGINT NOT NULL, data BYTEA NOT NULL,"
    " PRIMARY KEY (job_id, chunk_offset));",
    /* 3: webhooks and the transactional outbox (store/sql_outbox.c): one
     * row per event (its payload, written once) and one delivery per event
     * and destination (small, updated by every claim and attempt), its last
     * attempt in its row, the earlier ones in delivery_attempts; sites remember whether they were
     * announced online (2: came online, not yet announced). Times of the
     * outbox tables are in milliseconds. */
    "ALTER TABLE sites ADD COLUMN online INTEGER NOT NULL DEFAULT 0;"
    "UPDATE sites SET online=1 WHERE device_hash IS NOT NULL AND deleted_at IS NULL;"
    "CREATE INDEX sites_came_online ON sites(id) WHERE online=2;"
    "CREATE TABLE webhooks (id TEXT PRIMARY KEY, team TEXT NOT NULL, url TEXT NOT NULL,"
    " description TEXT, events INTEGER NOT NULL, secret TEXT NOT NULL, old_secret TEXT,"
    " old_until BIGINT, disabled_at BIGINT, disabled_reason TEXT, created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL);"
    "CREATE INDEX webhooks_team ON webhooks(team, id);"
    "CREATE TABLE notify_secrets (team TEXT PRIMARY KEY, secret TEXT NOT NULL,"
    " old_secret TEXT, old_until BIGINT, updated_at BIGINT NOT NULL);"
    "CREATE TABLE outbox (id TEXT COLLATE \"C\" PRIMARY KEY, body TEXT NOT NULL);"
    "CREATE TABLE deliveries (id BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL,"
    " type TEXT NOT NULL, team TEXT NOT NULL, webhook_id TEXT, dest TEXT NOT NULL, url TEXT,"
    " state INTEGER NOT NULL DEFAULT 0, tries INTEGER NOT NULL DEFAULT 0,"
    " next_at BIGINT NOT NULL, lease_owner TEXT, lease_until BIGINT, last_at BIGINT,"
    " last_status INTEGER, last_duration_ms BIGINT, last_error TEXT, last_excerpt TEXT,"
    " last_node TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,"
    " job_id TEXT, s_delivered BIGINT, s_started BIGINT, s_completed BIGINT, s_failed BIGINT, "
    "s_backup TEXT);"
    "CREATE INDEX deliveries_due ON deliveries(next_at) WHERE state=0;"
    "CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);"
    "CREATE INDEX deliveries_dead ON deliveries(id) WHERE state=2;"
    "CREATE TABLE delivery_attempts (delivery_id BIGINT NOT NULL, at BIGINT NOT NULL,"
    " status INTEGER, duration_ms BIGINT, error TEXT, excerpt TEXT, node TEXT);"
    "CREATE INDEX delivery_attempts_d ON delivery_attempts(delivery_id, at);",
    /* 4: API keys (store/sql_keys.c): the SHA-256 of the secret, never the
     * secret; scopes as enum jp_scope bits; times in seconds. */
    "CREATE TABLE api_keys (id TEXT PRIMARY KEY, team TEXT NOT NULL, name TEXT NOT NULL,"
    " scopes INTEGER NOT NULL, secret_hash TEXT NOT NULL, expires_at BIGINT, last_used_at BIGINT,"
    " created_by TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
    "CREATE INDEX api_keys_team ON api_keys(team, id);",
    /* 5: device credentials (store/sql_sites.c): a bootstrap line expires
     * (lines issued before this version get 24 hours from the upgrade); the
     * hash of the line that adopted the site tells a used line from an
     * unknown one; an adoption may be bound to a serial number. */
    "ALTER TABLE sites ADD COLUMN adoption_expires_at BIGINT;"
    "ALTER TABLE sites ADD COLUMN adoption_used_hash TEXT;"
    "ALTER TABLE sites ADD COLUMN adopted_from TEXT;"
    "ALTER TABLE sites ADD COLUMN expected_serial TEXT;"
    "UPDATE sites SET adoption_expires_at=CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) + 86400 WHERE "
    "adoption_hash IS NOT NULL;"
    "CREATE INDEX sites_adoption_used ON sites(adoption_used_hash)"
    " WHERE adoption_used_hash IS NOT NULL;",
    /* 6: data that stays bounded: see the same migration in sqlite.c. */
    "CREATE SEQUENCE sites_stats_key_seq;"
    "ALTER TABLE sites ADD COLUMN stats_key BIGINT DEFAULT nextval('sites_stats_key_seq');"
    "CREATE UNIQUE INDEX sites_stats_key ON sites(stats_key);"
    "CREATE TABLE stats6 (k BIGINT NOT NULL, ts BIGINT NOT NULL, cpu_load BIGINT,"
    " memory_free BIGINT, disk_free BIGINT, uptime BIGINT, PRIMARY KEY (k, ts));"
    "INSERT INTO stats6 SELECT s.stats_key, st.ts, st.cpu_load, st.memory_free, st.disk_free,"
    " st.uptime FROM stats st JOIN sites s ON s.id=st.site_id COLLATE \"C\" ON CONFLICT DO NOTHING;"
    "DROP TABLE stats;"
    "ALTER TABLE stats6 RENAME TO stats;"
    "CREATE INDEX stats_ts ON stats(ts);"
    "CREATE TABLE stats_hourly (" JP_ROLLUP_COLS_V6 ");"
    "CREATE INDEX stats_hourly_ts ON stats_hourly(ts);"
    "CREATE TABLE stats_daily (" JP_ROLLUP_COLS_V6 ");"
    "CREATE INDEX stats_daily_ts ON stats_daily(ts);"
    "CREATE TABLE rollups (name TEXT PRIMARY KEY, upto BIGINT NOT NULL, cursor TEXT NOT NULL);"
    "INSERT INTO rollups VALUES ('hourly', 0, ''), ('daily', 0, '');"
    "ALTER TABLE events ADD COLUMN job_id TEXT;"
    "UPDATE events SET job_id=j.id FROM jobs j WHERE events.message LIKE 'Job %' AND"
    " j.token=substr(events.message, 5, 10);"
    "CREATE INDEX events_job ON events(job_id) WHERE job_id IS NOT NULL;"
    "CREATE INDEX events_site_only ON events(ts) WHERE job_id IS NULL;"
    "CREATE TABLE backup_contents (site_id TEXT NOT NULL, sha256 TEXT NOT NULL,"
    " content BYTEA NOT NULL, PRIMARY KEY (site_id, sha256));"
    "ALTER TABLE backups ADD COLUMN sha256 TEXT;"
    "ALTER TABLE backups ADD COLUMN head TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE backups ADD COLUMN unchanged INTEGER NOT NULL DEFAULT 0;"
    "UPDATE backups SET sha256=encode(sha256(content), 'hex');"
    "INSERT INTO backup_contents SELECT DISTINCT ON (site_id, sha256) site_id, sha256, content"
    " FROM backups ON CONFLICT DO NOTHING;"
    "ALTER TABLE backups ALTER COLUMN sha256 SET NOT NULL;"
    "ALTER TABLE backups DROP COLUMN content;"
    "UPDATE backups SET unchanged=1 WHERE sha256=(SELECT b.sha256 FROM backups b WHERE"
    " b.site_id=backups.site_id AND (b.created_at, b.filename) < (backups.created_at,"
    " backups.filename) ORDER BY b.created_at DESC, b.filename DESC LIMIT 1);",
    /* 7: rollouts (store/sql_rollouts.c): the seed's scheduled scripts, one
     * row each, and a row per target site in the order given (its wave, its
     * outcome, its job); their events; script templates; the automatic
     * backups' daily pass; each job knows the rollout that queued it. */
    "ALTER TABLE jobs ADD COLUMN rollout_id TEXT;"
    "CREATE INDEX jobs_rollout_open ON jobs(rollout_id) WHERE rollout_id IS NOT NULL"
    " AND completed_at IS NULL AND failed_at IS NULL AND cancelled_at IS NULL;"
    "CREATE INDEX jobs_rollout_failed ON jobs(rollout_id) WHERE rollout_id IS NOT NULL"
    " AND failed_at IS NOT NULL;"
    "CREATE TABLE rollouts (id TEXT COLLATE \"C\" PRIMARY KEY, team TEXT NOT NULL, created_by TEXT "
    "NOT NULL,"
    " test_site_id TEXT, template_id TEXT, make_backup INTEGER NOT NULL,"
    " abort_if_offline INTEGER NOT NULL, description TEXT NOT NULL, script TEXT NOT NULL,"
    " notify TEXT NOT NULL, status INTEGER NOT NULL, authorized_at BIGINT, authorized_by TEXT,"
    " cancelled_at BIGINT, launch_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT,"
    " wave_size BIGINT NOT NULL, wave_percent BIGINT NOT NULL, wave_interval BIGINT NOT NULL,"
    " max_failures BIGINT NOT NULL, max_failures_pct INTEGER NOT NULL, win TEXT,"
    " wave BIGINT NOT NULL DEFAULT 0, waves BIGINT NOT NULL, wave_done_at BIGINT,"
    " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
    "CREATE INDEX rollouts_team ON rollouts(team, id);"
    "CREATE INDEX rollouts_active ON rollouts(launch_at) WHERE status IN (1, 2);"
    "CREATE TABLE rollout_sites (rollout_id TEXT NOT NULL, seq BIGINT NOT NULL, site_id TEXT NOT "
    "NULL,"
    " wave BIGINT NOT NULL, state INTEGER NOT NULL DEFAULT 0, job_id TEXT,"
    " PRIMARY KEY (rollout_id, seq));"
    "CREATE INDEX rollout_sites_waiting ON rollout_sites(rollout_id, seq) WHERE state=0;"
    "CREATE TABLE rollout_events (id BIGSERIAL PRIMARY KEY, rollout_id TEXT NOT NULL, ts BIGINT "
    "NOT NULL,"
    " message TEXT NOT NULL);"
    "CREATE INDEX rollout_events_r ON rollout_events(rollout_id, ts);"
    "CREATE TABLE templates (id TEXT COLLATE \"C\" PRIMARY KEY, team TEXT NOT NULL, name TEXT NOT "
    "NULL,"
    " description TEXT NOT NULL, content TEXT NOT NULL, created_by TEXT NOT NULL,"
    " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
    "CREATE INDEX templates_team ON templates(team, id);"
    "CREATE TABLE auto_backups (name TEXT PRIMARY KEY, day BIGINT NOT NULL, cursor TEXT NOT NULL,"
    " total BIGINT NOT NULL, queued BIGINT NOT NULL, started_at BIGINT NOT NULL);"
    "INSERT INTO auto_backups VALUES ('daily', 0, '', 0, 0, 0);",
    /* 8: the console's overview (store/sql_gauges.c): a team's newest
     * failures and its failures of the last day, without a pass over jobs. */
    "CREATE INDEX jobs_failed ON jobs(failed_at) WHERE failed_at IS NOT NULL;",
    /* 9: router-side options of a job: a dry run (the router parses the
     * payload and runs nothing), a job that restarts the router (completed
     * when it comes back restarted), and one whose output the router
     * uploads (output: what arrived, output_size its bytes). */
    "ALTER TABLE jobs ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN expects_reboot INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN capture_output INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN output TEXT;"
    "ALTER TABLE jobs ADD COLUMN output_size INTEGER;",
    /* 10: confirm-or-revert (the router undoes a change no poll confirmed:
     * reverted_at, set with failed_at) and backups that keep secrets,
     * stored encrypted (backups.sensitive). */
    "ALTER TABLE jobs ADD COLUMN confirm_within INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN backup_sensitive INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN reverted_at BIGINT;"
    "ALTER TABLE backups ADD COLUMN sensitive INTEGER NOT NULL DEFAULT 0;",
};
_Static_assert(sizeof pg_migrations / sizeof pg_migrations[0] == JP_SCHEMA_VERSION,
               "one migration per schema version, the same in both drivers (db.h)");
