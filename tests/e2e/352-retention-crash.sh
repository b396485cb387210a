# A crash (SIGKILL) in the middle of pruning a backlog loses nothing that was
# not due, leaves the database consistent, and rolls every sample up exactly
# once: after the restart the roll-ups equal a reference computed here.
. "$(dirname "$0")/lib.sh"
jp_start
TOK=$(token t1)
SITES=()
for i in 1 2 3 4 5 6 7 8; do SITES+=("$(new_site "s$i")"); done
jp_stop
NOW=$(date +%s)
T0=$(((NOW / 86400 - 12) * 86400)) # 10 days of samples every 30 s, ending 2 days ago
T1=$((T0 + 10 * 86400))
RECENT=$(((NOW / 3600 - 1) * 3600)) # samples of the last hour or so: not due
# series FROM TO STEP: the numbers as a table of one column, value
series() {
    if [ -n "${JP_PG_ADMIN:-}" ]; then echo "generate_series($1, $2, $3) AS g(value)"; else echo "generate_series($1, $2, $3)"; fi
}
{
    for s in "${SITES[@]}"; do
        k="(SELECT stats_key FROM sites WHERE id='$s')"
        echo "INSERT INTO stats (k, ts, cpu_load, memory_free, disk_free, uptime)" \
            "SELECT $k, value, value % 101, 1000 + value % 7, NULL, value - $T0" \
            "FROM $(series "$T0" $((T1 - 1)) 30);"
        echo "INSERT INTO stats (k, ts, cpu_load, memory_free, disk_free, uptime)" \
            "SELECT $k, value, 1, 2, 3, 4 FROM $(series "$RECENT" $((NOW - 60)) 30);"
        echo "INSERT INTO events (site_id, ts, message)" \
            "SELECT '$s', value, 'old event' FROM $(series $((NOW - 200 * 86400)) $((NOW - 100 * 86400)) 2000);"
    done
} >"$JP_TMP/backlog.sql"
db_script "$JP_TMP/backlog.sql"
DUE=$(db_exec "SELECT count(*) FROM stats WHERE ts < $T1")
KEPT=$(db_exec "SELECT count(*) FROM stats WHERE ts >= $RECENT")
SITE_EVENTS=$(db_exec "SELECT count(*) FROM events WHERE ts > $((NOW - 86400))")
check_true "a backlog of $DUE expired samples" test "$DUE" -gt 200000

jp_start
for _ in $(seq 2000); do
    removed=$(curl -s "$BASE/healthz" | jq .retention.removed.stats)
    [ "${removed:-0}" -gt 0 ] && break
    sleep 0.02
done
jp_kill9
LEFT=$(db_exec "SELECT count(*) FROM stats WHERE ts < $T1")
check_true "killed in the middle of pruning ($LEFT of $DUE left)" test "$LEFT" -gt 0 -a "$LEFT" -lt "$DUE"
if [ -z "${JP_PG_ADMIN:-}" ]; then
    check "integrity_check after the kill" ok "$(db_exec 'PRAGMA integrity_check')"
fi
check "nothing that was not due is lost" "$KEPT" "$(db_exec "SELECT count(*) FROM stats WHERE ts >= $RECENT")"

jp_start
check_true "the restarted pruner finishes the backlog" pruned '.removed.stats > 0'
check "every expired sample is gone" 0 "$(db_exec "SELECT count(*) FROM stats WHERE ts < $T1")"
check "the recent ones are all there" "$KEPT" "$(db_exec "SELECT count(*) FROM stats WHERE ts >= $RECENT")"
check "every sample rolled up once" "$DUE" "$(db_exec "SELECT sum(samples) FROM stats_hourly WHERE ts < $T1")"
check "  into 24 hours a day per site" $((8 * 240)) "$(db_exec "SELECT count(*) FROM stats_hourly WHERE ts < $T1")"
check "  and into days" $((8 * 10)) "$(db_exec "SELECT count(*) FROM stats_daily WHERE ts < $T1")"
db_exec "SELECT s.id, h.ts, h.samples, h.cpu_sum, h.cpu_n, h.cpu_min, h.cpu_max, h.mem_sum, h.mem_min, h.mem_max, coalesce(h.disk_sum, -1), h.disk_n, h.uptime FROM stats_hourly h JOIN sites s ON s.stats_key=h.k WHERE h.ts < $T1" |
    tr '|' ' ' | sort >"$JP_TMP/hourly.got"
python3 - "$T0" "$T1" "${SITES[@]}" <<'EOF' | sort >"$JP_TMP/hourly.want"
import sys
t0, t1, sites = int(sys.argv[1]), int(sys.argv[2]), sorted(sys.argv[3:])
for s in sites:
    for h in range(t0, t1, 3600):
        ts = range(h, h + 3600, 30)
        cpu = [t % 101 for t in ts]
        mem = [1000 + t % 7 for t in ts]
        print(s, h, len(ts), sum(cpu), len(cpu), min(cpu), max(cpu), sum(mem), min(mem), max(mem),
              -1, 0, max(t - t0 for t in ts))
EOF
check "the hourly roll-ups equal the reference" "" "$(diff "$JP_TMP/hourly.want" "$JP_TMP/hourly.got" | head -5)"
check "old site events are gone" 0 "$(db_exec "SELECT count(*) FROM events WHERE ts < $((NOW - 99 * 86400))")"
check "new ones stay" "$SITE_EVENTS" "$(db_exec "SELECT count(*) FROM events WHERE ts > $((NOW - 86400))")"
if [ -z "${JP_PG_ADMIN:-}" ]; then
    check "integrity_check after the backlog" ok "$(db_exec 'PRAGMA integrity_check')"
    FREE=$(db_exec "PRAGMA freelist_count")
    PAGES=$(db_exec "PRAGMA page_count")
    check_true "the file gave the space back ($FREE of $PAGES pages free)" test $((FREE * 8)) -le "$PAGES" -o "$FREE" -le 2048
fi
jp_finish
