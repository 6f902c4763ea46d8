"""Count how the bad-input matrix (tests/bad_inputs.py) is answered: clear, unclear, hang, accepted, crash.

    python benchmarks/bad_input_sweep.py [--json PATH] [--isolate] [--timeout S] [--only SUBSTRING]

Every case of tests/bad_inputs.py runs under the same timeout as in the tests and is
classified: "clear" (the expected exception type, every expected substring in its message),
"unclear" (another exception, or a message lacking a substring: the id, the type and the
first 160 characters are printed), "hang" (no answer within the timeout), "accepted" (no
exception: the bad input went through silently). With --isolate the cases run in a child
process (one after another, as in-process), restarted after a case it does not survive:
a case that kills it is a "crash", one it does not finish within the timeout + 10 s (stuck
in C code, out of SIGALRM's reach) a "hang". Without --isolate, a crash kills the sweep and
such a hang hangs it.

Against an older checkout (e.g. the commit before a set of fixes), without touching this
one: make a worktree outside the repository, copy the three files in, and put it first on
the path (the venv has this checkout installed editable, so check which one is imported):

    git -C /work/main worktree add /tmp/old 3eaedfb
    cp tests/bad_inputs.py tests/test_bad_inputs.py /tmp/old/tests/
    cp benchmarks/bad_input_sweep.py /tmp/old/benchmarks/
    cd /tmp/old && PYTHONPATH=/tmp/old python benchmarks/bad_input_sweep.py --isolate --json /tmp/old.json
    git -C /work/main worktree remove --force /tmp/old

The sweep prints which inspatio_gym it imported. Cases that call an API the old code did
not have count as whatever they raise there (an ImportError or AttributeError: unclear).
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES_FILE = HERE.parent / "tests" / "bad_inputs.py"
KINDS = ("clear", "unclear", "hang", "accepted", "crash")


def load_cases(path: Path = CASES_FILE):
    spec = importlib.util.spec_from_file_location("bad_inputs", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bad_inputs"] = mod
    spec.loader.exec_module(mod)
    return mod


def _row(case, out) -> dict:
    return {"id": case.id, "kind": out.kind, "exc_type": out.exc_type, "message": out.message[:2000],
            "missing": list(out.missing), "seconds": round(out.seconds, 3),
            "expected": [t.__name__ for t in case.raises], "contains": list(case.contains)}


def run_in_process(mod, cases, timeout: float | None) -> list[dict]:
    rows = []
    for c in cases:
        if timeout is not None:
            c = type(c)(c.id, c.call, c.raises, c.contains, min(c.timeout, timeout))
        rows.append(_row(c, mod.classify(c)))
        sys.stdout.flush()
    return rows


def _worker(ids_file: str, out_file: str, timeout: float | None) -> None:
    """The child of --isolate: run the listed cases, one JSON line per case, flushed."""
    mod = load_cases()
    want = json.loads(Path(ids_file).read_text())
    by_id = {c.id: c for c in mod.CASES}
    with open(out_file, "a") as f:
        for cid in want:
            c = by_id[cid]
            if timeout is not None:
                c = type(c)(c.id, c.call, c.raises, c.contains, min(c.timeout, timeout))
            f.write(json.dumps({"id": cid, "started": True}) + "\n")
            f.flush()
            f.write(json.dumps(_row(c, mod.classify(c))) + "\n")
            f.flush()


def run_isolated(mod, cases, timeout: float | None) -> list[dict]:
    """Cases in a child process, restarted after a crash or a hang it cannot leave."""
    pending = [c.id for c in cases]
    by_id = {c.id: c for c in cases}
    rows: dict[str, dict] = {}
    tmp = Path(tempfile.mkdtemp(prefix="bad-input-sweep-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    while pending:
        ids_file, out_file = tmp / "ids.json", tmp / "out.jsonl"
        ids_file.write_text(json.dumps(pending))
        out_file.write_text("")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(ids_file), str(out_file)]
        if timeout is not None:
            cmd += ["--timeout", str(timeout)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        current, since = None, time.monotonic()
        seen = 0
        while True:
            lines = out_file.read_text().splitlines()
            for line in lines[seen:]:
                rec = json.loads(line)
                if rec.get("started"):
                    current, since = rec["id"], time.monotonic()
                else:
                    rows[rec["id"]] = rec
                    current = None
            seen = len(lines)
            if proc.poll() is not None:
                break
            limit = (by_id[current].timeout if timeout is None else min(timeout, by_id[current].timeout)) \
                if current else None
            if current and time.monotonic() - since > limit + 10:
                proc.kill()
                proc.wait()
                c = by_id[current]
                rows[current] = {"id": current, "kind": "hang", "exc_type": "", "message": "stuck in C code: killed",
                                 "missing": [], "seconds": round(time.monotonic() - since, 3),
                                 "expected": [t.__name__ for t in c.raises], "contains": list(c.contains)}
                break
            time.sleep(0.05)
        # pick up the last lines written before the child ended
        for line in out_file.read_text().splitlines()[seen:]:
            rec = json.loads(line)
            if rec.get("started"):
                current = rec["id"]
            else:
                rows[rec["id"]] = rec
                current = None
        if current is not None and current not in rows:  # the child died inside this case
            c = by_id[current]
            err = (proc.stderr.read() if proc.stderr else "")[-300:]
            rows[current] = {"id": current, "kind": "crash", "exc_type": f"exit {proc.returncode}",
                             "message": err, "missing": [], "seconds": 0.0,
                             "expected": [t.__name__ for t in c.raises], "contains": list(c.contains)}
        elif proc.returncode not in (0, None) and current is None and len(rows) < len(cases):
            err = (proc.stderr.read() if proc.stderr else "")[-2000:]
            raise SystemExit(f"the sweep's child process failed outside any case (exit {proc.returncode}):\n{err}")
        pending = [i for i in pending if i not in rows]
    return [rows[c.id] for c in cases]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write every case's result here")
    p.add_argument("--isolate", action="store_true", help="run the cases in a child process (detects crashes)")
    p.add_argument("--timeout", type=float, help="cap every case's timeout (seconds; default: the case's own, 20)")
    p.add_argument("--only", help="run only the cases whose id contains this")
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if "INSPATIO_GYM_CACHE" not in os.environ:  # preprocessed worlds never go to the user's cache
        cache = tempfile.mkdtemp(prefix="bad-input-cache-")
        atexit.register(shutil.rmtree, cache, ignore_errors=True)
        os.environ["INSPATIO_GYM_CACHE"] = cache
    if args.worker:
        _worker(*args.worker, args.timeout)
        return 0
    mod = load_cases()
    import inspatio_gym

    print(f"inspatio_gym from {Path(inspatio_gym.__file__).resolve().parent}")
    cases = [c for c in mod.CASES if not args.only or args.only in c.id]
    mod.warm()  # the first compile is not a hang
    t0 = time.perf_counter()
    rows = run_isolated(mod, cases, args.timeout) if args.isolate else run_in_process(mod, cases, args.timeout)
    wall = time.perf_counter() - t0
    counts = Counter(r["kind"] for r in rows)
    for r in rows:
        if r["kind"] == "clear":
            continue
        msg = r["message"].replace("\n", " | ")[:160]
        detail = f"{r['exc_type']}: {msg}" if r["exc_type"] else msg
        miss = f" [missing {r['missing']}]" if r["missing"] else ""
        print(f"{r['kind']:8s} {r['id']}: {detail}{miss}")
    print(" / ".join(f"{k} {counts.get(k, 0)}" for k in KINDS) + f"; total {len(rows)} ({wall:.1f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"inspatio_gym": str(Path(inspatio_gym.__file__).resolve().parent),
                                               "counts": {k: counts.get(k, 0) for k in KINDS}, "total": len(rows),
                                               "seconds": round(wall, 1), "cases": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
