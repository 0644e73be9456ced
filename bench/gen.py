#!/usr/bin/env python3
"""Generates a large AzureDiagnostics portal CSV for benchmarks.
usage: python3 bench/gen.py ROWS OUT.csv   (deterministic)"""
import csv, random, sys, io
sys.path.insert(0, "fixtures")
import make_fixtures as F

def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(42)
    callers = [F.ALICE, F.GUEST, F.AIRFLOW, F.ADF, F.UAMI, F.DBX]
    for i in range(200):
        callers.append({"oid": f"{i:08x}-1111-4222-8333-{i:012x}", "appid": f"{i:08x}-aaaa-4bbb-8ccc-{i:012x}", "idtyp": "app", "appidacr": "1"})
    vaults = [f"kv-{n:02d}" for n in range(12)]
    cols = F.AZDIAG_COLS
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write("\ufeff")
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow([c + " [UTC]" if c == "TimeGenerated" else c for c in cols])
        for i in range(n):
            who = rnd.choice(callers)
            vault = rnd.choice(vaults)
            r = rnd.random()
            secs = rnd.randrange(0, 28 * 86400)
            t = f"2025-03-{1 + secs // 86400:02d}T{(secs % 86400) // 3600:02d}:{(secs % 3600) // 60:02d}:{secs % 60:02d}.{rnd.randrange(1000):03d}Z"
            obj = ("secrets", f"secret-{rnd.randrange(300)}")
            if r < 0.05:
                e = F.ev(t, "Authentication", 401, None, vault=vault)
            elif r < 0.12:
                e = F.ev(t, "SecretGet", 403, who, vault=vault, obj=obj, rbac=False,
                         desc=F.rbac_desc(who, "Microsoft.KeyVault/vaults/secrets/getSecret/action", vault, "/".join(obj)))
            elif r < 0.15:
                e = F.ev(t, "SecretGet", 404, who, vault=vault, obj=obj, rbac=True, desc="A secret with (name/id) x was not found in this key vault.")
            else:
                e = F.ev(t, rnd.choice(["SecretGet", "SecretGet", "SecretList", "KeyGet"]), 200, who, vault=vault,
                         obj=obj if r < 0.9 else ("keys", f"key-{rnd.randrange(20)}"), rbac=True)
            row = F.azdiag_row(e)
            w.writerow([F.portal_time(row[c]) if c == "TimeGenerated" else
                        ("" if row.get(c) is None else str(row[c]).lower() if isinstance(row.get(c), bool) else row.get(c, "")) for c in cols])

if __name__ == "__main__":
    main()
