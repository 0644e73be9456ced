#!/usr/bin/env python3
"""Writes the bad-input corpus (tests/corpus/*) from the bundled fixtures.

Each file is one way real exports go wrong; tests/integration/corpus.rs
asserts the error (file, line or record, what was expected) or, with
--skip-invalid, the exact number of skipped records. Re-run after changing
fixtures/shapes: python3 tests/corpus/make_corpus.py
"""
import csv
import io
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
SHAPES = HERE.parent.parent / "fixtures" / "shapes"


def w(name, data):
    (HERE / name).write_bytes(data if isinstance(data, bytes) else data.encode())


text = (SHAPES / "azurediagnostics-portal.csv").read_bytes().decode("utf-8-sig")
records = list(csv.reader(io.StringIO(text, newline="")))
header, rows = records[0], records[1:]


def to_csv(recs, sep=","):
    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator="\r\n").writerows(recs)
    return out.getvalue().encode()


raw = (SHAPES / "raw-records-PT1H.json").read_text()

# Truncated JSON: a PT1H.json blob cut off mid-record (interrupted download).
w("truncated.json", raw[: len(raw) * 2 // 3])

# A ragged row: the third data record has an extra field.
w("ragged.csv", to_csv([header] + rows[:2] + [rows[2] + ["extra"]] + rows[3:]))

# Wrong delimiter: the same export saved with semicolons (a European Excel).
w("semicolon.csv", to_csv([header] + rows, ";"))

# Latin-1 bytes: one client string re-saved as Latin-1.
lat = to_csv([header] + rows)
i = lat.index(b"azsdk-python")
w("latin1.csv", lat[:i] + b"caf\xe9-python" + lat[i + len(b"azsdk-python"):])

# Duplicate headers: OperationName twice.
w("duplicate-headers.csv", to_csv([header + ["OperationName"]] + [r + ["x"] for r in rows]))

# A BOM in the middle: two exports concatenated, the second with its BOM and header.
w("bom-in-middle.csv", b"\xef\xbb\xbf" + to_csv([header] + rows[:6]) + b"\xef\xbb\xbf" + to_csv([header] + rows[6:]))

# A number where a string is expected: az CLI JSON with OperationName 42 (record 2).
az = json.loads((SHAPES / "azurediagnostics-azcli.json").read_text())
az[1]["OperationName"] = 42
w("number-for-string.json", json.dumps(az, indent=2))

# An AzureDiagnostics export of another resource provider only.
sql = [[c.replace("MICROSOFT.KEYVAULT", "MICROSOFT.SQL").replace("microsoft.keyvault", "microsoft.sql") for c in r] for r in rows]
w("other-provider.csv", to_csv([header] + sql))

# A Log Analytics API response with an empty tables array.
w("empty-tables.json", json.dumps({"tables": []}))

print("wrote", sorted(p.name for p in HERE.iterdir() if p.suffix in (".csv", ".json")))
