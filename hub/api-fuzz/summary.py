"""Part of `make api-fuzz` (run.sh): reads each pass's NDJSON report and prints one summary — operations covered
(answered at least once) out of those in the document, requests made, failures by pass, operation and check — and
exits non-zero when any check failed, a pass did not finish, or the hub is gone."""

import argparse
import collections
import json
import os
import re
import sys

import yaml


def operations(document):
    """(method, path template) of every operation in the OpenAPI document, with a matcher for concrete paths."""
    with open(document) as f:
        paths = yaml.safe_load(f)["paths"]
    found = []
    for template, methods in paths.items():
        pattern = re.compile("^" + re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(template)) + "$")
        for method in methods:
            if method in ("get", "put", "post", "patch", "delete", "head", "options"):
                found.append((method.upper(), template, pattern))
    return found


def operation_of(method, path, known):
    for m, template, pattern in known:
        if m == method and template == path:
            return (m, template)
    for m, template, pattern in known:
        if m == method and pattern.match(path):
            return (m, template)
    return (method, path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--roles", required=True)
    parser.add_argument("--hub-alive", required=True)
    parser.add_argument("--seconds", type=int, required=True)
    parser.add_argument("--document", required=True)
    args = parser.parse_args()
    known = operations(args.document)

    covered = set()
    requests_made = 0
    failures = collections.OrderedDict()  # (role, operation, code, title, detail) -> first case id
    per_role = {}
    errors = []
    ok = args.hub_alive == "yes"
    for role in args.roles.split():
        path = os.path.join(args.dir, f"report-{role}.ndjson")
        requests_role, finished = 0, False
        if not os.path.exists(path):
            errors.append(f"{role}: no report (the pass did not start)")
            ok = False
            continue
        with open(path) as report:
            for line in report:
                event = json.loads(line)
                kind, body = next(iter(event.items()))
                if kind == "LoadingFinished":
                    # Every pass fetches the document from the hub first: GET /openapi.yaml answered.
                    covered.add(("GET", "/openapi.yaml"))
                elif kind == "EngineFinished":
                    finished = body.get("stop_reason") == "completed"
                elif kind == "NonFatalError":
                    errors.append(f"{role}: {body.get('label', '?')}: {body.get('info', {}).get('message', body)}")
                elif kind == "FatalError":
                    errors.append(f"{role}: fatal: {body}")
                elif kind == "ScenarioFinished":
                    recorder = body.get("recorder", {})
                    for case_id, interaction in recorder.get("interactions", {}).items():
                        if interaction.get("response") is None:
                            continue
                        requests_role += 1
                        case = recorder.get("cases", {}).get(case_id, {}).get("value", {})
                        covered.add(operation_of(case.get("method", "?").upper(), case.get("path", "?"), known))
                    for case_id, checks in recorder.get("checks", {}).items():
                        for check in checks:
                            if check.get("status") != "failure":
                                continue
                            failure = check.get("failure_info", {}).get("failure", {})
                            key = (role, failure.get("operation", recorder.get("label", "?")),
                                   failure.get("code", check["name"]), failure.get("title", check["name"]),
                                   failure.get("message", "").splitlines()[0] if failure.get("message") else "")
                            failures.setdefault(key, case_id)
        if not finished:
            errors.append(f"{role}: the pass did not complete")
            ok = False
        per_role[role] = requests_role
        requests_made += requests_role

    print(f"api-fuzz summary ({args.seconds} s):")
    in_document = {(m, t) for m, t, _ in known}
    print(f"  operations covered: {len(covered & in_document)} of {len(in_document)} in the document")
    for method, template in sorted(in_document - covered, key=lambda o: o[1]):
        print(f"    not reached: {method} {template}")
    print(f"  requests made: {requests_made} ({', '.join(f'{r} {n}' for r, n in per_role.items())})")
    print(f"  failures: {len(failures)}")
    for (role, operation, code, title, detail), case_id in failures.items():
        print(f"    [{role}] {operation}: {code} {title}{': ' + detail if detail else ''} (case {case_id})")
    for error in errors:
        print(f"  error: {error}")
    if args.hub_alive != "yes":
        print("  error: the hub no longer answers")
    if failures or not ok or errors:
        print("api-fuzz: FAILED")
        return 1
    print("api-fuzz: passed (0 server errors, 0 crashes, 0 responses that violate the document)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
