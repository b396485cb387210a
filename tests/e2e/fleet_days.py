#!/usr/bin/env python3
"""SQL for the size test (355-retention-size.sh): the rows a fleet writes,
backdated, as the server's own paths write them.

  fleet_days.py sites N DIALECT          N adopted sites of team t1
  fleet_days.py day END D DIALECT        one day ending at END (unix, UTC
                                         midnight), the D-th: per site a
                                         sample every 5 min, 4 jobs run to
                                         completion with 4 events each, 2
                                         site events, one daily backup whose
                                         configuration did not change
DIALECT is sqlite or postgres.
"""
import os
import random
import sys
import uuid


def uuid7(ms):
    b = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(b)))


B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def series(a, b, step, pg):
    return "generate_series(%d, %d, %d)%s" % (a, b, step, " AS g(value)" if pg else "")


def sites(n, pg):
    t = 1_700_000_000
    rows = []
    for i in range(n):
        rows.append("('%s','t1','router-%d','router-%d','7.16 (stable)','CHR',%d,%d,'%s',1%s)"
                    % (uuid7((t + i) * 1000), i, i, t, t, os.urandom(32).hex(),
                       "" if pg else ",%d" % (i + 1)))
    out = []
    for i in range(0, n, 500):
        out.append("INSERT INTO sites (id, team, name, identity, software_version, model,"
                   " created_at, updated_at, device_hash, online%s) VALUES " % ("" if pg else ", stats_key")
                   + ",".join(rows[i:i + 500]) + ";")
    return "\n".join(out)


def day(end, d, pg):
    start = end - 86400
    out = []
    out.append("INSERT INTO stats (k, ts, cpu_load, memory_free, disk_free, uptime)"
               " SELECT stats_key, value, (value / 300) %% 100, 500000000 + value %% 1000000, 80000000,"
               " value - %d FROM sites, %s;" % (start, series(start, end - 1, 300, pg)))
    rnd = random.Random(end)
    ids = [l.strip() for l in open(os.environ["FLEET_IDS"])]
    jobs = []
    for sid in ids:
        for h in (1, 7, 13, 19):
            t = start + h * 3600 + rnd.randrange(0, 3000)
            token = "".join(rnd.choice(B62) for _ in range(10))
            jobs.append(
                "('%s','%s','%s','%s','nightly health check','/system resource print\n"
                "/interface print stats\n/ip route print count-only\n:log info \"checked\"',"
                "NULL,NULL,0,1,0,%d,%d,%d,%d,NULL,NULL)"
                % (uuid7(t * 1000), sid, token, uuid.uuid4(), t, t + 10, t + 12, t + 20))
    for i in range(0, len(jobs), 500):
        out.append("INSERT INTO jobs (id, site_id, token, idempotency_key, description, script,"
                   " notify_url, associated_backup, express_execute, needs_ack, should_backup,"
                   " created_at, delivered_at, started_at, completed_at, failed_at, cancelled_at)"
                   " VALUES " + ",".join(jobs[i:i + 500]) + ";")
    out.append("INSERT INTO events (site_id, ts, message, job_id) SELECT site_id, created_at +"
               " value * 5, 'Job ' || token || CASE value WHEN 0 THEN ' created: nightly health"
               " check' WHEN 1 THEN ' delivered (0 more pending)' WHEN 2 THEN ' started' ELSE"
               " ' completed' END, id FROM jobs, %s WHERE created_at >= %d AND created_at < %d;"
               % (series(0, 3, 1, pg), start, end))
    out.append("INSERT INTO events (site_id, ts, message) SELECT id, %d - value * 3600,"
               " CASE value WHEN 1 THEN 'Site online again (polling)' ELSE 'Site offline: no"
               " poll for 300s' END FROM sites, %s;" % (end, series(1, 2, 1, pg)))
    sha = "substr(id || id, 1, 64)"
    if d == 1:
        content = "convert_to(repeat(id, 1100), 'UTF8')" if pg else "randomblob(40000)"
        out.append("INSERT INTO backup_contents (site_id, sha256, content) SELECT id, %s, %s"
                   " FROM sites;" % (sha, content))
    out.append("INSERT INTO backups (site_id, filename, job_id, size, created_at, sha256, head,"
               " unchanged) SELECT id, '%d.rsc', NULL, 40040, %d, %s, '# 2026-12-01 03:00:00"
               " by RouterOS 7.16', %d FROM sites;" % (end - 600, end - 600, sha, d > 1))
    return "\n".join(out)


def main():
    pg = sys.argv[-1] == "postgres"
    if sys.argv[1] == "sites":
        print(sites(int(sys.argv[2]), pg))
    else:
        print(day(int(sys.argv[2]), int(sys.argv[3]), pg))


main()
