#!/usr/bin/env python3
"""`kvaudit attribute` at scale: N vault reads by AzureDatabricks against N
workspace getSecret events, peak memory and time.

For each size it writes (and keeps for reuse) two files:
  - vault-N.jsonl: raw Key Vault AuditEvent records, every one a SecretGet
    by the AzureDatabricks application of one of 200 secrets in 5 vaults
    over 30 days (so reads of one secret are minutes apart, as in a real
    workspace);
  - audit-N.jsonl: `system.access.audit` records, one getSecret per read
    (a person of 2,000, 0.1 to 0.9 s after the vault read), except every
    100th read which has none (a read outside the tolerance), plus one
    other action per 50 records;
and scopes.json mapping the 5 scopes to their vaults. It then runs
`kvaudit attribute VAULT --databricks AUDIT --scopes scopes.json --format
json`, checks the counts against what it generated (reads, unattributed,
each person's reads), and prints a Markdown table with the time, the
throughput and the peak RSS (GNU time).

usage: python3 bench/attribute.py [--sizes 1000000,10000000]
                                  [--kvaudit target/release/kvaudit]
                                  [--dir /tmp/kvaudit-bench]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

APP = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d"
SUB = "7d3b2c1a-5e4f-4a3b-9c8d-1e2f3a4b5c6d"
VAULTS = [f"kv-bench-{i}" for i in range(5)]
SECRETS = [f"secret-{i:03d}" for i in range(40)]  # per vault: 200 in all
USERS = 2000
START = 1_772_323_200  # 2026-03-01T00:00:00Z
SPAN = 30 * 86400


def iso(us, sep="T", zone="Z"):
    s, frac = divmod(us, 1_000_000)
    t = time.gmtime(s)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}{sep}{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{frac:06d}{zone}"


def generate(n, vault_path, audit_path, seed=7):
    """Writes both files; returns {user: reads attributed} and the number
    of reads with no event."""
    assert n <= 200 * (SPAN // 12), "at most 43 million reads"
    rnd = random.Random(seed)
    # Reads of one (vault, secret) are at least 11.5 s apart (each in its
    # own 12-second slot), so with the default 5 s tolerance every read has
    # one right answer; the files are written in time order, as exports are.
    keys = [(v, s) for v in VAULTS for s in SECRETS]
    slots = SPAN // 12
    items = []
    for k in range(len(keys)):
        count = n // len(keys) + (1 if k < n % len(keys) else 0)
        for slot in rnd.sample(range(slots), count):
            items.append((START * 1_000_000 + slot * 12_000_000 + rnd.randrange(500_000), k))
    items.sort()
    expected = {}
    missing = 0
    with open(vault_path, "w") as vf, open(audit_path, "w") as af:
        for i, (t, k) in enumerate(items):
            v, s = keys[k]
            user = f"user{rnd.randrange(USERS):04d}@contoso.com"
            vf.write(
                '{"time": "%s", "category": "AuditEvent", "operationName": "SecretGet", '
                '"resultType": "Success", "correlationId": "%08x-0000-4000-8000-00000000beef", '
                '"callerIpAddress": "10.139.0.4", "identity": {"claim": {"oid": '
                '"b17c4d8a-5f9e-4c3b-96a4-8e0f2b4c6a00", "appid": "%s", "idtyp": "app"}}, '
                '"properties": {"clientInfo": "Databricks", "httpStatusCode": 200, '
                '"id": "https://%s.vault.azure.net/secrets/%s", "isRbacAuthorized": true}, '
                '"resourceId": "/SUBSCRIPTIONS/%s/RESOURCEGROUPS/RG-DATA/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/%s", '
                '"resultSignature": "OK", "durationMs": "7"}\n'
                % (iso(t), i, APP, v, s, SUB, v.upper())
            )
            if i % 100 == 99:
                missing += 1
                continue
            e = t + rnd.randrange(100_000, 900_000)
            af.write(
                '{"event_time": "%s", "workspace_id": "1234567890123456", "service_name": "secrets", '
                '"action_name": "getSecret", "user_identity": {"email": "%s"}, '
                '"request_params": {"scope": "scope-%s", "key": "%s"}, "response": {"status_code": 200}}\n'
                % (iso(e, " ", ""), user, v, s)
            )
            expected[user] = expected.get(user, 0) + 1
            if i % 50 == 0:
                af.write(
                    '{"event_time": "%s", "workspace_id": "1234567890123456", "service_name": "secrets", '
                    '"action_name": "listSecrets", "user_identity": {"email": "%s"}, '
                    '"request_params": {"scope": "scope-%s"}, "response": {"status_code": 200}}\n'
                    % (iso(e, " ", ""), user, v)
                )
    return expected, missing


def scopes(path):
    with open(path, "w") as f:
        json.dump([{"name": f"scope-{v}", "backend_type": "AZURE_KEYVAULT",
                    "keyvault_metadata": {
                        "resource_id": f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.KeyVault/vaults/{v}",
                        "dns_name": f"https://{v}.vault.azure.net/"}} for v in VAULTS], f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--kvaudit", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "kvaudit"))
    ap.add_argument("--dir", default="/tmp/kvaudit-bench")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    scope_file = os.path.join(a.dir, "scopes.json")
    scopes(scope_file)
    rows = []
    for n in [int(x) for x in a.sizes.split(",")]:
        vault = os.path.join(a.dir, f"attr-vault-{n}.jsonl")
        audit = os.path.join(a.dir, f"attr-audit-{n}.jsonl")
        meta = os.path.join(a.dir, f"attr-expected-{n}.json")
        if not (os.path.exists(meta) and os.path.exists(vault) and os.path.exists(audit)):
            t = time.perf_counter()
            expected, missing = generate(n, vault, audit)
            with open(meta, "w") as f:
                json.dump({"expected": expected, "missing": missing}, f)
            print(f"generated {n:,} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        with open(meta) as f:
            m = json.load(f)
        cmd = ["/usr/bin/time", "-f", "RSS_KB=%M", a.kvaudit, "attribute", vault,
               "--databricks", audit, "--scopes", scope_file, "--format", "json"]
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, env={**os.environ, "KVAUDIT_NO_PROGRESS": "1"})
        wall = time.perf_counter() - t
        if p.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed: {p.stderr.decode()[-2000:]}")
        rss = next(int(l.split("=")[1]) for l in p.stderr.decode().splitlines()
                   if l.startswith("RSS_KB=")) / 1024
        out = json.loads(p.stdout)
        got = {q["user"]: q["reads"] for q in out["people"]}
        same = (got == m["expected"] and out["reads"] == n
                and out["unattributed"] == m["missing"] and out["ambiguous"] == 0)
        size = (os.path.getsize(vault) + os.path.getsize(audit)) / 2**20
        rows.append((n, size, wall, rss, n / wall, same))
    print("| vault reads | workspace events | files | kvaudit attribute | reads/s | peak RSS | counts as generated |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for n, size, wall, rss, rate, same in rows:
        print(f"| {n:,} | {n - n // 100:,} | {size:,.0f} MiB | {wall:.2f} s | {rate:,.0f} | {rss:.0f} MiB | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
