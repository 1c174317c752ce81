"""Griffe extension: render Sphinx cross-reference roles in docstrings as Markdown links.

Some docstrings use Sphinx roles (``:class:`Metrics```,
``:meth:`~cwmetrics_core.MetricsCore.ack```). mkdocstrings renders docstrings as
Markdown, where such roles would show as raw text. This extension (configured in
``mkdocs.yml``) rewrites each role, at build time only, into an optional autorefs
cross-reference: a link to the object when the API reference renders it, plain code
otherwise. Names are resolved as Sphinx does: a dotted path as given, a bare name in the
scope of the object that documents it (its class, then its module).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(class|meth|func|attr|mod|data|exc|obj|const):`(~?)\.?([^`<>]+?)`")
ROOTS = ("cwmetrics_core", "cwmetrics_transports", "cloudwatch_metrics_client")


def _member_path(member: griffe.Object | griffe.Alias) -> str:
    if isinstance(member, griffe.Alias):
        return member.target_path
    return member.path


def resolve(obj: griffe.Object, target: str) -> str | None:
    """The full path ``target`` names in the scope of ``obj``, or None."""
    if target.split(".", maxsplit=1)[0] in ROOTS:
        return target
    head, _, rest = target.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        members: dict[str, Any] = getattr(scope, "members", {})
        if head in members:
            path = _member_path(members[head])
            return f"{path}.{rest}" if rest else path
        scope = scope.parent
    return None


def convert(obj: griffe.Object, text: str) -> str:
    """``text`` with every Sphinx role replaced by an optional cross-reference."""

    def replace(match: re.Match[str]) -> str:
        role, short, target = match.groups()
        title = target.rsplit(".", 1)[-1] if short else target
        if role in ("meth", "func") and not title.endswith(")"):
            title += "()"
        path = resolve(obj, target)
        code = f"<code>{html.escape(title)}</code>"
        if path is None:
            return code
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    return ROLE.sub(replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrites Sphinx roles in every docstring of the loaded packages."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = convert(obj, obj.docstring.value)
            stack.extend(m for m in obj.members.values() if not isinstance(m, griffe.Alias))
