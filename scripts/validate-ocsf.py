#!/usr/bin/env python3
"""Validates kvaudit's OCSF output against a schema kvaudit does not
write: Prowler's py-ocsf-models (pip install py-ocsf-models) parses every
event into its OCSF DetectionFinding model; also checks what its models
leave out (the actor in evidences, OCSF 1.5.0, uids unique).

usage: python3 scripts/validate-ocsf.py FINDINGS.ocsf.json|FINDINGS.ocsf.jsonl
"""
import json
import sys

from py_ocsf_models.events.findings.detection_finding import DetectionFinding


def main():
    path = sys.argv[1]
    text = open(path, encoding="utf-8").read()
    if path.endswith(".jsonl"):
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        events = json.loads(text)
    if not events:
        sys.exit(f"{path}: no events")
    failures = []
    uids = set()
    for i, e in enumerate(events):
        try:
            DetectionFinding.model_validate(e)
        except Exception as err:  # pydantic's ValidationError
            failures.append(f"event {i}: {err}")
            continue
        if e["class_uid"] != 2004 or e["metadata"]["version"] != "1.5.0":
            failures.append(f"event {i}: class {e['class_uid']}, OCSF {e['metadata']['version']}")
        uid = e["finding_info"]["uid"]
        if uid in uids:
            failures.append(f"event {i}: uid {uid} repeated")
        uids.add(uid)
        actor = e["evidences"][0].get("actor", {})
        if not actor.get("user", {}).get("uid") and not actor.get("app_name"):
            failures.append(f"event {i}: no principal in evidences[0].actor")
    if failures:
        print("\n".join(failures[:20]))
        sys.exit(1)
    kinds = sorted({t for e in events for t in e["finding_info"]["types"]})
    print(f"{path}: {len(events)} OCSF 1.5.0 Detection Findings valid (py-ocsf-models), uids unique; types: {', '.join(kinds)}")


if __name__ == "__main__":
    main()
