# The database is sized by the fleet, not by its age: 1,000 routers over five
# simulated days (each day's rows written backdated, as the server writes
# them; the pruner's clock moved a day at a time), with retention short
# enough to reach its steady state within them. The size per router must
# stop growing; from the bytes per row measured at the plateau, the steady
# state with the defaults (docs/design.md) is computed and must stay under
# 200 KB per router without backups, and 10 KB per unchanged daily backup.
. "$(dirname "$0")/lib.sh"
N=${N:-1000}
DAYS=${DAYS:-5}
DIALECT=sqlite
[ -n "${JP_PG_ADMIN:-}" ] && DIALECT=postgres
FLEET="$(dirname "$0")/fleet_days.py"
jp_start # the schema
jp_stop
python3 "$FLEET" sites "$N" "$DIALECT" >"$JP_TMP/sites.sql"
db_script "$JP_TMP/sites.sql"
export FLEET_IDS="$JP_TMP/ids"
db_exec "SELECT id FROM sites" >"$FLEET_IDS"
check "$N sites" "$N" "$(wc -l <"$FLEET_IDS")"

# bytes: per table, with its indexes (SQLite: the bytes in use of its pages;
# PostgreSQL: after a VACUUM FULL, the live rows without the space a busy
# table keeps between two autovacuums)
bytes() {
    if [ -n "${JP_PG_ADMIN:-}" ]; then
        db_exec "VACUUM FULL" >/dev/null
        db_exec "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables"
    else
        db_exec "SELECT m.tbl_name, sum(d.pgsize - d.unused) FROM dbstat d JOIN sqlite_master m ON m.name=d.name GROUP BY 1"
    fi | tr '|' ' '
}
rows() { db_exec "SELECT count(*) FROM $1"; }
TABLES="stats stats_hourly stats_daily jobs events backups backup_contents sites"
START=$((($(date +%s) / 86400) * 86400))
for d in $(seq "$DAYS"); do
    END=$((START + d * 86400))
    python3 "$FLEET" day "$END" "$d" "$DIALECT" >"$JP_TMP/day.sql"
    db_script "$JP_TMP/day.sql"
    JP_TEST_CLOCK_OFFSET=$((END - $(date +%s))) jp_start --stats-raw-hours 24 --stats-hourly-days 2 \
        --stats-daily-days 3 --job-retention-days 2 --backup-keep 2
    UPTO=$(date -u -d "@$((END - 3600))" +%FT%TZ)
    check_true "day $d: pruned and rolled up to $UPTO" pruned ".hourly_upto == \"$UPTO\""
    jp_stop
    bytes >"$JP_TMP/bytes.$d"
    total=0
    line="day $d:"
    for t in $TABLES; do
        b=$(awk -v t="$t" '$1 == t { print $2 }' "$JP_TMP/bytes.$d")
        r=$(rows "$t")
        echo "$t ${b:-0} $r" >>"$JP_TMP/rows.$d"
        [ "$t" = backups ] || [ "$t" = backup_contents ] || total=$((total + ${b:-0}))
        line="$line $t=$r"
    done
    SIZE[$d]=$((total / N))
    echo "# $line; $((total / N)) bytes per router without backups"
done
last=${SIZE[$DAYS]}
prev=${SIZE[$((DAYS - 1))]}
check_true "a plateau: day $DAYS ($last B per router) within 10% of day $((DAYS - 1)) ($prev B)" \
    test $((last * 10)) -le $((prev * 11)) -a $((last * 10)) -ge $((prev * 9))
check_true "  and day 1 ($((SIZE[1])) B) below it: the size grew to it, then stopped" test "${SIZE[1]}" -lt "$last"
# The steady state with the defaults, from the bytes per row at the plateau
# (rows per router: raw 48 h every 5 min, hourly 30 days, daily 400 days;
# 90 days of jobs and events: a job a week with its 4 events, 2 site events
# a day; 30 backups of one configuration). Each job more costs a job row and
# its events.
python3 - "$N" "$JP_TMP/rows.$DAYS" >"$JP_TMP/formula" <<'EOF'
import sys
n = int(sys.argv[1])
per_row = {}
for line in open(sys.argv[2]):
    t, b, r = line.split()
    per_row[t] = int(b) / max(int(r), 1)
rows = {"stats": 48 * 12, "stats_hourly": 30 * 24, "stats_daily": 400, "jobs": 90 / 7,
        "events": 90 * (4 / 7 + 2), "sites": 1}
total = 0
for t, r in rows.items():
    total += r * per_row[t]
    print("# %-13s %6.0f rows x %5.0f B = %6.1f KB" % (t, r, per_row[t], r * per_row[t] / 1000))
print("# total without backups: %.1f KB per router" % (total / 1000))
print("# each job kept (a row and 4 events): %.2f KB; a job a day for 90 days: %.0f KB" %
      ((per_row["jobs"] + 4 * per_row["events"]) / 1000,
       90 * (per_row["jobs"] + 4 * per_row["events"]) / 1000))
print("# an unchanged daily backup: %.0f B (a row); 30 kept: %.1f KB" % (per_row["backups"], 30 * per_row["backups"] / 1000))
print("TOTAL %d BACKUP %d" % (total, per_row["backups"]))
EOF
cat "$JP_TMP/formula" | grep '^#'
read -r _ TOTAL _ BACKUP < <(grep '^TOTAL' "$JP_TMP/formula")
if [ -z "${JP_PG_ADMIN:-}" ]; then # PostgreSQL's rows are larger: docs/design.md
    check_true "defaults: $((TOTAL / 1000)) KB per router without backups (at most 200)" test "$TOTAL" -le 200000
fi
check_true "an unchanged daily backup costs $BACKUP B (at most 10 KB)" test "$BACKUP" -le 10000
jp_finish
