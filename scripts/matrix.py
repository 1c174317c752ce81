"""Run the nox test matrix in parallel, keep each run's output apart, report one result.

Called by scripts/test.sh with the project's .venv Python (which has nox, from the ``test``
extra); arguments are passed to every pytest run. Steps:

1. find an interpreter for every supported version (scripts/pythons.py); a version that is
   not installed is reported as SKIPPED, loudly, at the start and in the summary;
2. prepare each other version's venv (``nox --install-only``), one at a time, since
   editable installs write into the source tree;
3. run the sessions ``full`` (ruff, mypy, mkdocs, pytest on 3.11), ``packaging`` and
   ``tests-3.X``, at most ``CWMETRICS_TEST_JOBS`` at once (default: the number of CPUs plus one),
   each into build/test-matrix/<session>.log;
4. print every log in turn, a table per session (status, time, pytest counts from its
   JUnit XML), and last a combined ``matrix: N passed, N failed, N skipped`` line (a
   session that failed outside pytest, in ruff or mypy say, counts as one failure).

Exit status 0 only if every session passed and each of them ran at least one test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pythons import FULL_VERSION, ROOT, find_pythons

REPORTS = ROOT / "build" / "test-matrix"
NOX = [sys.executable, "-m", "nox", "--noxfile", str(ROOT / "noxfile.py"), "--no-color"]


@dataclass
class Job:
    session: str
    python: str
    argv: list[str]
    status: str = "PENDING"  # PASSED, FAILED, SKIPPED
    reason: str = ""
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return REPORTS / f"{self.session}.log"

    @property
    def junit(self) -> Path:
        return REPORTS / f"{self.session}.xml"


def _counts(junit: Path) -> dict[str, int]:
    """passed/failed/skipped/total from a pytest JUnit XML file ({} if absent)."""
    if not junit.exists():
        return {}
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = failed = skipped = 0
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return {
        "total": total,
        "passed": total - failed - skipped,
        "failed": failed,
        "skipped": skipped,
    }


def _run(job: Job) -> None:
    job.junit.unlink(missing_ok=True)
    start = time.monotonic()
    with job.log.open("w", encoding="utf-8") as out:
        code = subprocess.call(job.argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    job.seconds = time.monotonic() - start
    job.counts = _counts(job.junit)
    if code != 0:
        job.status, job.reason = "FAILED", f"exit status {code}"
    elif not job.counts.get("total"):
        job.status, job.reason = "FAILED", "pytest ran no test"
    else:
        job.status = "PASSED"
    print(f"-- {job.session:<12} {job.status} in {job.seconds:.0f} s", flush=True)


def _run_all(jobs: Sequence[Job], parallel: int) -> None:
    pending = list(jobs)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                job = pending.pop(0)
            print(f"-- {job.session:<12} started (log: {job.log.relative_to(ROOT)})", flush=True)
            _run(job)

    threads = [threading.Thread(target=worker) for _ in range(max(1, parallel))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main(pytest_args: list[str]) -> int:
    REPORTS.mkdir(parents=True, exist_ok=True)
    found = find_pythons()
    print("== Python versions (supported: pyproject's classifiers)")
    for version, path in found.items():
        note = "  (full check)" if version == FULL_VERSION else ""
        print(f"   {version}: {path or 'NOT INSTALLED: SKIPPED'}{note}")
    missing = [v for v, p in found.items() if p is None]
    for version in missing:
        print(f"!! SKIPPED: Python {version} is not installed; it is NOT tested", flush=True)
    if sys.version_info[:2] != tuple(int(x) for x in FULL_VERSION.split(".")):
        print(f"!! the full check runs on Python {sys.version.split()[0]}, not {FULL_VERSION}")

    posargs = ["--", *pytest_args] if pytest_args else []
    full = Job("full", sys.version.split()[0], [*NOX, "-s", "full", *posargs])
    packaging = Job("packaging", sys.version.split()[0], [*NOX, "-s", "packaging"])
    jobs = [full]
    if pytest_args:
        packaging.status, packaging.reason = "SKIPPED", "pytest arguments given"
    else:
        jobs.append(packaging)
    versions: list[Job] = []
    for version, path in found.items():
        if version == FULL_VERSION:
            continue
        job = Job(f"tests-{version}", version, [*NOX, "-s", f"tests-{version}", *posargs])
        if path is None:
            job.status, job.reason = "SKIPPED", "not installed"
        versions.append(job)

    print("== preparing the venvs of the other versions (one at a time)", flush=True)
    for job in versions:
        if job.status == "SKIPPED":
            continue
        log = REPORTS / f"{job.session}.install.log"
        start = time.monotonic()
        with log.open("w", encoding="utf-8") as out:
            code = subprocess.call(
                [*NOX, "--install-only", "-s", job.session],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        print(f"-- {job.session:<12} venv ready in {time.monotonic() - start:.0f} s"
              if code == 0 else f"-- {job.session:<12} venv FAILED (log: {log})", flush=True)
        if code != 0:
            job.status, job.reason = "FAILED", f"install failed, see {log.relative_to(ROOT)}"
            sys.stdout.write(log.read_text(encoding="utf-8", errors="replace")[-4000:])
        else:
            job.argv[len(NOX):len(NOX)] = ["--no-install"]
            jobs.append(job)

    # Default: one more session than CPUs. The sessions mostly wait (sockets, sleeps,
    # subprocesses): two at once kept 1.1 of 2 cores busy on average (15 min 10 s wall);
    # a third brings the wall time back inside the 15-minute budget.
    parallel = int(os.environ.get("CWMETRICS_TEST_JOBS", (os.cpu_count() or 2) + 1))
    print(f"== running {len(jobs)} sessions, {parallel} at a time", flush=True)
    start = time.monotonic()
    _run_all(jobs, parallel)
    wall = time.monotonic() - start

    everything = [full, packaging, *versions]
    for job in [j for j in everything if j in jobs]:
        print(f"\n===== {job.session} (Python {job.python}): {job.log.relative_to(ROOT)} =====")
        sys.stdout.write(job.log.read_text(encoding="utf-8", errors="replace"))
    print("\n== summary")
    print(f"   {'session':<12} {'python':<8} {'status':<8} {'time':>6}  tests")
    for job in everything:
        c = job.counts
        tests = (
            f"{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped" if c else "-"
        )
        why = f"  ({job.reason})" if job.reason else ""
        print(f"   {job.session:<12} {job.python:<8} {job.status:<8} {job.seconds:>5.0f}s  "
              f"{tests}{why}")
    for version in missing:
        print(f"!! SKIPPED: Python {version} is not installed; it was NOT tested")
    failed = [j.session for j in everything if j.status == "FAILED"]
    print(f"   sessions wall time {wall:.0f} s; failed: {', '.join(failed) or 'none'}")
    passed = sum(j.counts.get("passed", 0) for j in everything)
    # A session that failed outside pytest (ruff, mypy, mkdocs, its install, no test run)
    # counts as one failure, so the closing line never reads "0 failed" on a failed run.
    nfailed = sum(j.counts.get("failed", 0) or (j.status == "FAILED") for j in everything)
    skipped = sum(j.counts.get("skipped", 0) for j in everything)
    print(f"matrix: {passed} passed, {nfailed} failed, {skipped} skipped", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
