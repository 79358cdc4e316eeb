"""Prompt templates: ``$name`` substitution only, checked before a run starts.

Every prompt template in socium (agents' prompts, game rules, strategy and donation
prompts) is a ``string.Template``: ``$name`` or ``${name}`` is replaced by a value,
``$$`` is a literal dollar sign, and nothing else happens: no attribute access, no
indexing, no format specifications, no evaluation. :func:`check` runs in the scenario's
validation, so a placeholder a template cannot fill is a ``file:line`` error from
``socium validate``, never a surprise at run time.
"""

from __future__ import annotations

from collections.abc import Collection
from string import Template

AGENT_PROMPTS: dict[str, frozenset[str]] = {
    "system": frozenset({"persona"}),
    "decide": frozenset({"persona", "memories", "observation", "actions", "time"}),
    "reflect": frozenset({"persona", "memories"}),
    "survey": frozenset({"persona", "memories", "question", "time", "format"}),
}
"""The agents' prompt templates a scenario may override (``prompts:``) and their variables."""


def check(text: str, allowed: Collection[str]) -> str:
    """Return ``text`` if every placeholder is well formed and in ``allowed``.

    Raises
    ------
    ValueError
        Naming the bad placeholder and the allowed ones (pydantic turns it into a
        located scenario error).
    """
    template = Template(text)
    if not template.is_valid():
        raise ValueError(
            "invalid placeholder syntax: use $name or ${name} (and $$ for a dollar sign); "
            f"available: {', '.join('$' + a for a in sorted(allowed))}"
        )
    unknown = sorted(set(template.get_identifiers()) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join('$' + u for u in unknown)}; "
            f"available: {', '.join('$' + a for a in sorted(allowed))}"
        )
    return text


def render(text: str, **values: object) -> str:
    """Fill ``text``'s placeholders (values are converted with ``str``)."""
    return Template(text).safe_substitute({k: str(v) for k, v in values.items()})
