#!/usr/bin/env python3
"""Stats samples for the retention tests, and the answer of
GET /sites/{id}/mikrotik-stats they must give, computed here from the samples
and the rules of docs/api.md (not from the server's tables).

  stats_ref.py gen SITE FROM TO STEP SEED > samples.json
      samples every STEP seconds in [FROM, TO) with made-up values (some
      unknown), as JSON; `sql` prints the INSERTs for them.
  stats_ref.py sql samples.json
  stats_ref.py check samples.json answer.json NOW FROM TO RAW HOURLY HOURLY_UPTO DAILY_UPTO
      compares the answer for [FROM, TO) with the expected points; prints
      what differs; exit 1 when anything does.
"""
import json
import random
import sys


def gen(site, t0, t1, step, seed):
    rnd = random.Random(seed)
    out = []
    uptime = rnd.randrange(1000, 100000)
    for ts in range(t0, t1, step):
        uptime += step
        cpu = None if rnd.random() < 0.05 else rnd.randrange(0, 101)
        mem = rnd.randrange(100_000_000, 1_000_000_000)
        disk = None if rnd.random() < 0.02 else rnd.randrange(10_000_000, 100_000_000)
        out.append([site, ts, cpu, mem, disk, uptime])
    return out


def sql(samples):
    v = lambda x: "NULL" if x is None else str(x)
    lines = []
    for i in range(0, len(samples), 500):
        rows = ",".join(
            "((SELECT stats_key FROM sites WHERE id='%s'),%d,%s,%s,%s,%s)"
            % (s[0], s[1], v(s[2]), v(s[3]), v(s[4]), v(s[5])) for s in samples[i:i + 500])
        lines.append("INSERT INTO stats (k, ts, cpu_load, memory_free, disk_free, uptime)"
                     " VALUES " + rows + ";")
    return "\n".join(lines)


def ceil_to(t, p):
    return t if t % p == 0 else t - t % p + p


def aggregate(points, period, start):
    """One expected aggregate point of the samples in a period."""
    def metric(i):
        vals = [p[i] for p in points if p[i] is not None]
        if not vals:
            return None, None, None
        s, n = sum(vals), len(vals)
        return (2 * s + n) // (2 * n), min(vals), max(vals)
    cpu, mem, disk = metric(2), metric(3), metric(4)
    ups = [p[5] for p in points if p[5] is not None]
    return {
        "created_at": start, "resolution": "hour" if period == 3600 else "day",
        "samples": len(points),
        "cpu_load": cpu[0], "cpu_load_min": cpu[1], "cpu_load_max": cpu[2],
        "memory_free": mem[0], "memory_free_min": mem[1], "memory_free_max": mem[2],
        "disk_free": disk[0], "disk_free_min": disk[1], "disk_free_max": disk[2],
        "uptime": max(ups) if ups else None,
    }


def expected(samples, now, frm, to, raw_s, hourly_s, hourly_upto, daily_upto):
    raw_from = min(ceil_to(now - raw_s, 3600), hourly_upto)
    hourly_from = min(ceil_to(now - hourly_s, 86400), daily_upto, raw_from - raw_from % 86400)
    by_hour = to - frm > 48 * 3600
    out = []

    def periods(a, b, p):
        res = {}
        for s in samples:
            if a <= s[1] < b:
                res.setdefault(s[1] - s[1] % p, []).append(s)
        return [aggregate(res[k], p, k) for k in sorted(res)]

    out += periods(frm, min(to, hourly_from), 86400)
    out += periods(max(frm, hourly_from), min(to, raw_from), 3600)
    if by_hour:
        out += periods(max(frm, raw_from), to, 3600)
    else:
        for s in samples:
            if max(frm, raw_from) <= s[1] < to:
                out.append({"created_at": s[1], "resolution": "raw", "cpu_load": s[2],
                            "memory_free": s[3], "disk_free": s[4], "uptime": s[5]})
    return out


def rfc(ts):
    import datetime
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        site, t0, t1, step, seed = sys.argv[2], *map(int, sys.argv[3:7])
        json.dump(gen(site, t0, t1, step, seed), sys.stdout)
    elif cmd == "sql":
        print(sql(json.load(open(sys.argv[2]))))
    elif cmd == "check":
        samples = json.load(open(sys.argv[2]))
        answer = json.load(open(sys.argv[3]))
        now, frm, to, raw_s, hourly_s, hu, du = map(int, sys.argv[4:11])
        want = expected(samples, now, frm, to, raw_s, hourly_s, hu, du)
        for w in want:
            w["created_at"] = rfc(w["created_at"])
        bad = 0
        if len(want) != len(answer):
            print("expected %d points, got %d" % (len(want), len(answer)))
            bad = 1
        for w, a in zip(want, answer):
            if w != a:
                print("expected %s\n     got %s" % (json.dumps(w, sort_keys=True),
                                                  json.dumps(a, sort_keys=True)))
                bad = 1
                break
        kinds = {}
        for a in answer:
            kinds[a.get("resolution")] = kinds.get(a.get("resolution"), 0) + 1
        print("points:", " ".join("%s=%d" % kv for kv in sorted(kinds.items())))
        sys.exit(bad)


main()
