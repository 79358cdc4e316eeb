"""DESIGN.md's import rules, read from the source; the public game API, pinned."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "agents", "gamemaster")
BUNDLED = ("donor_game", "social_media", "narrative", "public_goods")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path) -> set[str]:
    """Modules ``path`` imports at run time (``if TYPE_CHECKING:`` blocks are types only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] in PACKAGES}


GRAPH = {name: imports(path) for name, path in modules().items()}


def offenders(sources: str, forbidden: tuple[str, ...]) -> list[str]:
    pattern = re.compile(sources)
    return sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if pattern.fullmatch(module)
        for target in targets
        if any(target == f or target.startswith(f + ".") for f in forbidden)
    )


@pytest.mark.parametrize(
    ("sources", "forbidden"),
    [
        (
            r"engine\.(kernel|rng|types|simtime|templates)",
            ("agents", "gamemaster", "engine.models", "engine.store"),
        ),
        (r"agents(\..*)?", ("gamemaster",)),
        (r"gamemaster(\..*)?", ("agents",)),
        (r"engine\.models(\..*)?", ("agents", "gamemaster", "engine.store")),
        (r"engine\.network(\..*)?", ("agents", "gamemaster", "engine.models", "engine.store")),
        (r"agents\.memory", ("engine.store",)),
        (
            r"engine\.(games|scenario|personas|fields|report|analysis|runcard|store|plotting)",
            ("gamemaster", "agents"),
        ),
        (r"engine\.personas", ("engine.scenario",)),
        (r".*", ("engine.cli",)),
    ],
)
def test_import_rules_of_design_md(sources: str, forbidden: tuple[str, ...]) -> None:
    assert offenders(sources, forbidden) == []


@pytest.mark.parametrize("game", BUNDLED)
def test_bundled_games_use_only_the_public_api(game: str) -> None:
    own = f"gamemaster.{game}"
    for module, targets in GRAPH.items():
        if module == own or module.startswith(own + "."):
            assert {t for t in targets if not (t == own or t.startswith(own + "."))} <= {
                "gamemaster.api"
            }, module


def test_the_generic_modules_never_name_a_bundled_game() -> None:
    for name in ("report", "analysis", "runcard"):
        text = (ROOT / "engine" / f"{name}.py").read_text(encoding="utf-8").lower()
        for word in (*BUNDLED, "donor", "donation", "follow", "social", "public goods"):
            assert word.replace("_", " ") not in text.replace("_", " "), (
                f"engine/{name}.py names {word!r}"
            )


def test_the_public_game_api_is_pinned() -> None:
    import gamemaster.api as api

    assert sorted(api.__all__) == sorted(
        [
            "Action",
            "ActionOption",
            "ActionSpace",
            "ArgSpec",
            "Description",
            "Duration",
            "Event",
            "Game",
            "GameMaster",
            "Intervention",
            "Kernel",
            "LanguageModel",
            "Name",
            "Observation",
            "Persona",
            "Plot",
            "Problem",
            "Row",
            "RunData",
            "SociumError",
            "Strict",
            "Table",
            "TurnDriver",
            "View",
            "check_args",
            "check_template",
            "feld_paradox",
            "figure",
            "four_variants",
            "gini",
            "holm",
            "individual_paradox",
            "integer_ticks",
            "invalid",
            "mentioned_options",
            "null",
            "paradox",
            "png",
            "quote",
            "render",
        ]
    )
    assert all(hasattr(api, name) for name in api.__all__)
