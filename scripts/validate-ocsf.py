#!/usr/bin/env python3
"""Validates kvaudit's OCSF output against schemas kvaudit does not
write: Prowler's py-ocsf-models (pip install py-ocsf-models) parses every
Detection Finding (class 2004) into its DetectionFinding model and every
IAM Analysis Finding (class 2008, OCSF 1.6) into its generic Finding
model, whose class-specific attributes are checked against the OCSF
schema repository's own definitions (scripts/ocsf-schema/). Also checks
what the models leave out (the principal, the version, uids unique).

usage: python3 scripts/validate-ocsf.py FINDINGS.ocsf.json|FINDINGS.ocsf.jsonl [VERSION]
"""
import json
import os
import sys

from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from py_ocsf_models.events.findings.finding import Finding

HERE = os.path.dirname(os.path.abspath(__file__))


def schema(name):
    with open(os.path.join(HERE, "ocsf-schema", name), encoding="utf-8") as f:
        return json.load(f)


IAM = schema("iam_analysis_finding.json")
PERMISSION = schema("permission_analysis_result.json")
# What a 2008 event may carry: the class's own attributes, those of
# Finding and the base event (py-ocsf-models), and the classification
# and occurrence attributes every class has.
IAM_ALLOWED = (set(IAM["attributes"]) | set(Finding.model_fields)
               | set(DetectionFinding.model_fields) - {"evidences", "vulnerabilities", "api"})


def check_iam(i, e, failures):
    Finding.model_validate(e)
    if e["class_uid"] != 2000 + IAM["uid"] or e["type_uid"] != (2000 + IAM["uid"]) * 100 + e["activity_id"]:
        failures.append(f"event {i}: class {e['class_uid']} / type {e['type_uid']} is not {IAM['name']}")
    extra = set(e) - IAM_ALLOWED
    if extra:
        failures.append(f"event {i}: attributes {sorted(extra)} are not in {IAM['name']}")
    if not any(e.get(a) for a in IAM["constraints"]["at_least_one"]):
        failures.append(f"event {i}: none of {IAM['constraints']['at_least_one']}")
    for r in e.get("permission_analysis_results", []):
        unknown = set(r) - set(PERMISSION["attributes"])
        if unknown:
            failures.append(f"event {i}: permission_analysis_result has {sorted(unknown)}")
        if not r.get("policy", {}).get("name"):
            failures.append(f"event {i}: permission analysis without its policy (the role)")
    if not e.get("user", {}).get("uid"):
        failures.append(f"event {i}: no subject user uid")


def main():
    path = sys.argv[1]
    version = sys.argv[2] if len(sys.argv) > 2 else "1.5.0"
    text = open(path, encoding="utf-8").read()
    if path.endswith(".jsonl"):
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        events = json.loads(text)
    if not events:
        sys.exit(f"{path}: no events")
    failures = []
    uids = set()
    classes = {}
    for i, e in enumerate(events):
        try:
            if e["class_uid"] == 2008:
                check_iam(i, e, failures)
            else:
                DetectionFinding.model_validate(e)
                if e["class_uid"] != 2004:
                    failures.append(f"event {i}: class {e['class_uid']}")
                actor = e["evidences"][0].get("actor", {})
                if not actor.get("user", {}).get("uid") and not actor.get("app_name"):
                    failures.append(f"event {i}: no principal in evidences[0].actor")
        except Exception as err:  # pydantic's ValidationError
            failures.append(f"event {i}: {err}")
            continue
        if e["metadata"]["version"] != version:
            failures.append(f"event {i}: OCSF {e['metadata']['version']}, not {version}")
        if e["class_uid"] == 2008 and version < "1.6":
            failures.append(f"event {i}: class 2008 needs OCSF 1.6")
        uid = e["finding_info"]["uid"]
        if uid in uids:
            failures.append(f"event {i}: uid {uid} repeated")
        uids.add(uid)
        classes[e["class_name"]] = classes.get(e["class_name"], 0) + 1
    if failures:
        print("\n".join(failures[:20]))
        sys.exit(1)
    kinds = sorted({t for e in events for t in e["finding_info"]["types"]})
    counts = ", ".join(f"{n} {c}" for c, n in sorted(classes.items()))
    print(f"{path}: {len(events)} OCSF {version} findings valid ({counts}), uids unique; types: {', '.join(kinds)}")


if __name__ == "__main__":
    main()
