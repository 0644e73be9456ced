#!/usr/bin/env python3
"""kvaudit against DuckDB on the same files, in the same run.

For each shape (AzureDiagnostics portal CSV, raw JSON Lines, raw-tree:
the same raw records as a storage archive's tree of hourly PT1H.json blobs,
one folder per vault and hour, and parquet: the same records as kvaudit's
typed Parquet events) and size, it generates the file with `kvaudit synth`
(kept for reuse; `--profile denials` for the heavy mix), then times
  - `kvaudit callers --format json`
  - `kvaudit report --format json`
  - DuckDB computing the same per-caller aggregates (events, 403s, distinct
    vaults, distinct secrets, first and last seen) from the same file,
checks that kvaudit and DuckDB give the same numbers for every caller, and
prints a Markdown table with times, the kvaudit/DuckDB ratio, kvaudit's
throughput and the peak RSS of each process (from wait4; DuckDB runs in its
own process, timed including its start-up). Before each timed run the file is
read once, untimed, so every command starts with the same page cache.

usage: python3 bench/run.py [--sizes 1000000,10000000] [--shapes azdiag-csv,raw-jsonl,raw-tree,parquet]
                            [--profile default|denials]
                            [--kvaudit target/release/kvaudit] [--dir /tmp/kvaudit-bench]
                            [--repeat N]   (fastest of N runs of each command; the
                                            commands take turns, one run each per round)
requires: pip install duckdb; cargo build --release
"""
import argparse
import json
import os
import subprocess
import sys
import time


TIME = "/usr/bin/time"  # GNU time (Debian package `time`): exact peak RSS


def run_measured(cmd):
    """Runs cmd; returns (seconds, peak RSS in MiB, stdout bytes). Peak RSS
    comes from GNU time when installed, else from wait4 (which can report
    the size of the forking parent for short runs)."""
    gnu = os.path.exists(TIME)
    if gnu:
        cmd = [TIME, "-f", "KVAUDIT_BENCH_RSS_KB=%M"] + cmd
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, "KVAUDIT_NO_PROGRESS": "1"})
    out = bytearray()
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        out += chunk
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        sys.exit(f"{' '.join(cmd)} failed ({code}): {err.decode()[-2000:]}")
    rss = usage.ru_maxrss / 1024
    if gnu:
        for line in err.decode(errors="replace").splitlines():
            if line.startswith("KVAUDIT_BENCH_RSS_KB="):
                rss = int(line.split("=", 1)[1]) / 1024
    return wall, rss, bytes(out)


def warm(path):
    """Reads the file (every file of a tree) once, untimed, so that every
    timed command starts with it equally in the page cache (a 9 GB file read
    just before by another command would otherwise favour whoever runs
    second)."""
    files = [path] if os.path.isfile(path) else [
        os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
    for name in files:
        with open(name, "rb", buffering=0) as f:
            while f.read(1 << 24):
                pass


def make_tree(raw, tree):
    """Splits raw JSON Lines into a storage archive's tree:
    insights-logs-auditevent/resourceId=<id>/y=/m=/d=/h=/m=00/PT1H.json."""
    blobs = {}
    with open(raw) as f:
        for line in f:
            r = json.loads(line)
            t = r["time"]
            p = os.path.join(tree, "insights-logs-auditevent", "resourceId=" + r["resourceId"].lstrip("/"),
                             f"y={t[0:4]}", f"m={t[5:7]}", f"d={t[8:10]}", f"h={t[11:13]}", "m=00", "PT1H.json")
            blobs.setdefault(p, []).append(line)
    for p, lines in blobs.items():
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.writelines(lines)
    return len(blobs)


def duckdb_callers(path, shape):
    """Runs DuckDB in its own process (so its memory is measured, and the
    parent stays small: a child forked from a large parent reports the
    parent's size as its peak RSS)."""
    wall, rss, out = run_measured([sys.executable, __file__, "--duckdb-worker", shape, path])
    rows = json.loads(out)
    return wall, rss, {tuple(r[:3]): tuple(r[3:]) for r in rows}


def duckdb_worker(shape, path):
    import duckdb
    con = duckdb.connect()
    if shape == "azdiag-csv":
        src = f"""
          select nullif(identity_claim_appid_g, '') a, nullif(identity_claim_oid_g, '') o,
                 nullif(identity_claim_upn_s, '') u,
                 try_cast(httpStatusCode_d as double) status,
                 lower(nullif("Resource", '')) vault,
                 case when id_s like '%/secrets/%' then split_part(id_s, '/', 5) end secret,
                 strptime("TimeGenerated [UTC]", '%-m/%-d/%Y, %-I:%M:%S.%g %p') t
          from read_csv('{path}', all_varchar=true, header=true)
          where "ResourceProvider" = 'MICROSOFT.KEYVAULT'"""
    elif shape == "parquet":
        src = f"""
          select caller_appid a, caller_oid o, caller_upn u, status, vault,
                 case when object_type = 'secret' then object_name end secret,
                 cast(time as timestamp) t
          from read_parquet('{path}')"""
    else:
        src = f"""
          select nullif(identity->>'$.claim.appid', '') a, nullif(identity->>'$.claim.oid', '') o,
                 nullif(identity->>'$.claim.upn', '') u,
                 try_cast(properties->>'$.httpStatusCode' as double) status,
                 lower(split_part(resourceId, '/', 9)) vault,
                 case when properties->>'$.id' like '%/secrets/%' then split_part(properties->>'$.id', '/', 5) end secret,
                 cast("time" as timestamp) t
          from read_json('{path if shape == "raw-jsonl" else path + "/**/*.json"}', format='newline_delimited',
                         hive_partitioning=false,
                         columns={{'time': 'VARCHAR', 'resourceId': 'VARCHAR', 'identity': 'JSON', 'properties': 'JSON'}})"""
    q = f"""
      select a, o, u, count(*) events, count(*) filter (where status = 403) denied,
             count(distinct vault) vaults, count(distinct secret) secrets,
             strftime(min(t), '%Y-%m-%dT%H:%M:%S.%f') first_seen,
             strftime(max(t), '%Y-%m-%dT%H:%M:%S.%f') last_seen
      from ({src}) group by all"""
    rows = con.execute(q).fetchall()
    json.dump([[a, o, u, int(e), int(d), int(v), int(s), f, l] for a, o, u, e, d, v, s, f, l in rows], sys.stdout)


def kvaudit_callers(stdout):
    return {(r["appid"], r["oid"], r["upn"]):
            (r["events"], r["denied"], r["vaults"], r["secrets"], r["first_seen"].rstrip("Z"), r["last_seen"].rstrip("Z"))
            for r in json.loads(stdout)}


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--duckdb-worker":
        return duckdb_worker(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--shapes", default="azdiag-csv,raw-jsonl",
                    help="azdiag-csv, raw-jsonl, raw-tree (raw-jsonl as hourly blobs), parquet (raw-jsonl as kvaudit's Parquet events)")
    ap.add_argument("--profile", default="default", choices=["default", "denials"],
                    help="synth's mix: denials is the heavy one (2,000 callers, 3%% 403s, 60 days)")
    ap.add_argument("--kvaudit", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "kvaudit"))
    ap.add_argument("--dir", default="/tmp/kvaudit-bench")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each measurement this many times and keep the fastest (RSS of that run)")
    ap.add_argument("--skip-report-above", type=int, default=0,
                    help="skip `kvaudit report` above this many rows (0: never skip)")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    lines = ["| shape | rows | file | kvaudit callers | rows/s | peak RSS | kvaudit report | peak RSS | DuckDB | DuckDB RSS | callers/DuckDB | report/DuckDB | same numbers |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    ok = True
    for shape in a.shapes.split(","):
        for n in [int(x) for x in a.sizes.split(",")]:
            gen = "raw-jsonl" if shape in ("raw-tree", "parquet") else shape
            mix = "" if a.profile == "default" else f"-{a.profile}"
            path = os.path.join(a.dir, f"{gen}{mix}-{n}.{'csv' if gen.endswith('csv') else 'jsonl'}")
            if not os.path.exists(path):
                print(f"generating {path} ...", file=sys.stderr)
                extra = [] if a.profile == "default" else ["--profile", a.profile, "--days", "60"]
                subprocess.run([a.kvaudit, "synth", "--rows", str(n), "--shape", gen, "-o", path] + extra, check=True)
            if shape == "parquet":
                raw, path = path, os.path.join(a.dir, f"events{mix}-{n}.parquet")
                if not os.path.exists(path):
                    print(f"writing {path} ...", file=sys.stderr)
                    subprocess.run([a.kvaudit, "events", raw, "-o", path], check=True,
                                   env={**os.environ, "KVAUDIT_NO_PROGRESS": "1"})
            if shape == "raw-tree":
                raw, path = path, os.path.join(a.dir, f"raw-tree-{n}")
                if not os.path.exists(path):
                    print(f"splitting {raw} into {path} ...", file=sys.stderr)
                    print(f"{make_tree(raw, path):,} blobs", file=sys.stderr)
            size = (os.path.getsize(path) if os.path.isfile(path) else sum(
                os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)) / 2**20
            print(f"{shape} {n:,} rows ({size:,.0f} MiB): kvaudit callers, kvaudit report, DuckDB "
                  f"(interleaved, best of {max(1, a.repeat)}) ...", file=sys.stderr)
            do_report = not (a.skip_report_above and n > a.skip_report_above)
            runs = {"callers": [], "report": [], "duckdb": []}
            # One round runs each command once, so that a machine slowing
            # down or speeding up during the benchmark favours none of them.
            for _ in range(max(1, a.repeat)):
                warm(path)
                runs["callers"].append(run_measured([a.kvaudit, "callers", "--format", "json", path]))
                if do_report:
                    warm(path)
                    runs["report"].append(run_measured([a.kvaudit, "report", "--format", "json", path]))
                warm(path)
                runs["duckdb"].append(duckdb_callers(path, shape))
            kw, krss, out = min(runs["callers"], key=lambda r: r[0])
            k = kvaudit_callers(out)
            if do_report:
                rw, rrss, _ = min(runs["report"], key=lambda r: r[0])
            else:
                rw, rrss = None, None
            dw, drss, d = min(runs["duckdb"], key=lambda r: r[0])
            same = k == d
            ok &= same
            if not same:
                for key in sorted(set(k) | set(d), key=str)[:5]:
                    if k.get(key) != d.get(key):
                        print("  differs:", key, k.get(key), d.get(key), file=sys.stderr)
            events = sum(v[0] for v in k.values())
            rep = f"{rw:.2f} s" if rw is not None else "skipped"
            rrs = f"{rrss:,.0f} MiB" if rrss is not None else "-"
            rratio = f"{rw / dw:.2f}" if rw is not None else "-"
            lines.append(f"| {shape}{mix} | {events:,} | {size:,.0f} MiB | {kw:.2f} s | {events / kw:,.0f} | {krss:,.0f} MiB | "
                         f"{rep} | {rrs} | {dw:.2f} s | {drss:,.0f} MiB | {kw / dw:.2f} | {rratio} | {'yes' if same else 'NO'} |")
            print(lines[-1], file=sys.stderr)
    print("\n".join(lines))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
