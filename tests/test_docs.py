"""The documentation runs: every ```python block, the strict MkDocs build, the nav.

Every ```python block in README.md and docs/**/*.md is executed. The blocks of one page
run in order, in one namespace, in a fresh interpreter whose working directory is a
temporary directory and whose environment holds no AWS credentials or configuration; an
audit hook fails the page if anything tries to connect beyond loopback. A block that
cannot run on its own is marked on the line just before its fence::

    <!-- skip: why it cannot run -->

Tracebacks point at the Markdown file and line of the failing block.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGE_TIMEOUT = 60.0

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
_SKIP = re.compile(r"^\s*<!--\s*skip:\s*(?P<reason>.*?)\s*-->\s*$")
_PYTHON = {"python", "py", "python3"}


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    path: Path
    line: int  # 1-based line of the first line of code
    code: str
    skip_reason: str | None


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of ``path``, in order, skipped ones included.

    Raises:
        ValueError: an unclosed fence, or a skip marker without a reason.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        lang = match["info"].strip("{}.").lower()
        start = i + 1
        end = start
        while end < len(lines):
            closing = lines[end].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            end += 1
        else:
            raise ValueError(f"{path}:{i + 1}: unclosed code fence")
        if lang in _PYTHON:
            skip = _SKIP.match(lines[i - 1]) if i > 0 else None
            if skip is not None and not skip["reason"]:
                raise ValueError(f"{path}:{i}: a skip marker needs a reason")
            body = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[start:end]]
            blocks.append(
                Block(path, start + 1, textwrap.dedent("\n".join(body)), skip and skip["reason"])
            )
        i = end + 1
    return blocks


def doc_pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    pages = [ROOT / "README.md"] if (ROOT / "README.md").exists() else []
    return pages + sorted(DOCS.rglob("*.md"))


def _runnable_pages() -> list[Path]:
    return [p for p in doc_pages() if any(b.skip_reason is None for b in python_blocks(p))]


# Runs the blocks of one page in one namespace; line numbers match the Markdown file.
# An audit hook refuses (and reports) any connection or name lookup beyond loopback, so
# an example that would reach AWS fails even if a transport turns the error into data.
_RUNNER = """
import json, sys

_LOCAL = ("localhost", "::1", "0.0.0.0", "")
_violations = []


def _is_local(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return host is None or host in _LOCAL or str(host).startswith("127.")


def _guard(event, args):
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and not _is_local(address[0]):
            _violations.append(f"connect to {address!r}")
            raise PermissionError("documentation examples must not leave this machine")
    elif event == "socket.getaddrinfo" and not _is_local(args[0]):
        _violations.append(f"name lookup of {args[0]!r}")
        raise PermissionError("documentation examples must not leave this machine")


sys.addaudithook(_guard)
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
namespace = {"__name__": "__main__", "__builtins__": __builtins__}
try:
    for block in blocks:
        source = "\\n" * (block["line"] - 1) + block["code"]
        exec(compile(source, block["path"], "exec"), namespace)
finally:
    if _violations:
        print("network access attempted:", *sorted(set(_violations)), sep="\\n  ",
              file=sys.stderr)
        sys.stderr.flush()
        import os
        os._exit(3)
"""


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment without any AWS setting, so no example can reach AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            # No credentials from files or instance metadata either.
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


@pytest.mark.parametrize(
    "page", _runnable_pages(), ids=lambda p: str(p.relative_to(ROOT)).replace(os.sep, "/")
)
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    blocks = [
        {"path": str(b.path), "line": b.line, "code": b.code}
        for b in python_blocks(page)
        if b.skip_reason is None
    ]
    (tmp_path / "blocks.json").write_text(json.dumps(blocks), encoding="utf-8")
    (tmp_path / "run_blocks.py").write_text(_RUNNER, encoding="utf-8")
    work = tmp_path / "cwd"
    work.mkdir()
    try:
        proc = subprocess.run(
            [sys.executable, str(tmp_path / "run_blocks.py"), str(tmp_path / "blocks.json")],
            cwd=work,
            env=_clean_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=PAGE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = (
            exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        )
        pytest.fail(f"{page.name}: blocks did not finish in {PAGE_TIMEOUT:g} s\n{stderr}")
    assert proc.returncode == 0, (
        f"{page.relative_to(ROOT)}: a python block failed (exit {proc.returncode})\n"
        f"--- stderr ---\n{proc.stderr}\n--- stdout (tail) ---\n{proc.stdout[-2000:]}"
    )


def test_block_parser() -> None:
    sample = DOCS / "transports" / "dry-run.md"
    blocks = python_blocks(sample)
    assert blocks, "dry-run.md should have python blocks"
    text = sample.read_text(encoding="utf-8").splitlines()
    for block in blocks:
        assert text[block.line - 2].lstrip().startswith(("```", "~~~"))
        assert block.code.splitlines()[0].strip() == text[block.line - 1].strip()


def test_every_page_is_in_the_nav() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def leaves(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [leaf for item in node for leaf in leaves(item)]
        if isinstance(node, dict):
            return [leaf for value in node.values() for leaf in leaves(value)]
        return []

    in_nav = [p for p in leaves(config["nav"]) if not p.startswith(("http://", "https://"))]
    assert len(in_nav) == len(set(in_nav)), "a page appears twice in the nav"
    on_disk = {str(p.relative_to(DOCS)).replace(os.sep, "/") for p in DOCS.rglob("*.md")}
    assert on_disk - set(in_nav) == set(), "pages missing from the nav in mkdocs.yml"
    assert set(in_nav) - on_disk == set(), "nav entries without a page"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    env = {**_clean_env(tmp_path), "NO_MKDOCS_2_WARNING": "1"}
    # No -q: with it MkDocs does not count warnings, and --strict passes anyway.
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING")]
    assert proc.returncode == 0 and not warnings, "mkdocs build --strict failed:\n" + "\n".join(
        warnings or [proc.stderr, proc.stdout]
    )
    assert (tmp_path / "site" / "index.html").exists()
