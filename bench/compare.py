#!/usr/bin/env python3
"""Times `kvaudit callers` against DuckDB computing the same per-caller
aggregates (events, 403s, distinct vaults, first/last seen) from the same
AzureDiagnostics portal CSV, checks both give the same numbers, and prints
the time ratio and kvaudit's peak RSS.

usage: python3 bench/compare.py FILE.csv [KVAUDIT_BINARY]
(pip install duckdb; build with cargo build --release; generate FILE.csv with
 python3 bench/gen.py 1000000 FILE.csv)"""
import json, os, resource, subprocess, sys, time

def run_kvaudit(binary, path):
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "callers", "--format", "json", path],
                       capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    rss_kb = int(p.stderr.strip().splitlines()[-1])
    rows = json.loads(p.stdout)
    return wall, rss_kb, {(r["appid"], r["oid"], r["upn"]): (r["events"], r["denied"], r["vaults"]) for r in rows}

def run_duckdb(path):
    import duckdb
    t = time.perf_counter()
    con = duckdb.connect()
    q = f"""
      select nullif(identity_claim_appid_g, '') a, nullif(identity_claim_oid_g, '') o, nullif(identity_claim_upn_s, '') u,
             count(*) events, count(*) filter (where httpStatusCode_d = 403) denied,
             count(distinct lower(nullif("Resource", ''))) vaults,
             min(strptime("TimeGenerated [UTC]", '%-m/%-d/%Y, %-I:%M:%S.%g %p')) first_seen,
             max(strptime("TimeGenerated [UTC]", '%-m/%-d/%Y, %-I:%M:%S.%g %p')) last_seen
      from read_csv('{path}', all_varchar=true, header=true)
      where "ResourceProvider" = 'MICROSOFT.KEYVAULT'
      group by all"""
    rows = con.execute(q).fetchall()
    wall = time.perf_counter() - t
    return wall, {(a, o, u): (int(e), int(d), int(v)) for a, o, u, e, d, v, _, _ in rows}

def main():
    path = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/kvaudit"
    kw, rss, k = run_kvaudit(binary, path)
    dw, d = run_duckdb(path)
    same = k == d
    n = sum(v[0] for v in k.values())
    print(f"rows {n:,}; callers {len(k)}; same aggregates: {same}")
    print(f"kvaudit {kw:.2f} s ({n / kw:,.0f} rows/s), peak RSS {rss / 1024:.0f} MiB")
    print(f"duckdb  {dw:.2f} s")
    print(f"ratio kvaudit/duckdb = {kw / dw:.2f}")
    if not same:
        for key in sorted(set(k) | set(d), key=str)[:5]:
            if k.get(key) != d.get(key):
                print("differs:", key, k.get(key), d.get(key))
        sys.exit(1)

if __name__ == "__main__":
    main()
