"""The HTML report opens in headless Chromium with every plot rendered and no console error."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.report import write_report
from engine.scenario import load_scenario
from engine.simulation import Simulation
from tests.test_analysis import DONOR, SOCIAL
from tests.test_golden import OFFLINE, ROOT, SCENARIOS, SMALLER
from tests.test_golden import SOCIAL as SOCIAL_OVERRIDES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def _chromium(report: Path | str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on a file (or a URL) with ``extra`` flags."""
    assert CHROMIUM is not None
    url = report.as_uri() if isinstance(report, Path) else report
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is installed by `make test` (scripts/install.sh)"
)
@pytest.mark.parametrize("kind", ["social", "donor"])
def test_report_renders_every_plot_without_console_errors(
    write_scenario: Callable[..., Path], tmp_path: Path, kind: str
) -> None:
    from PIL import Image

    text = (SOCIAL if kind == "social" else DONOR).format(seed=3)
    folder = tmp_path / kind
    Simulation(load_scenario(write_scenario(text, f"{kind}.yaml")), out=folder).run()
    report = write_report(folder)
    html = report.read_text()
    assert "http://" not in html and "https://" not in html  # self-contained
    expected = html.count("<img ")
    assert expected >= (5 if kind == "social" else 4)

    dom = _chromium(report, tmp_path / "profile-dom", "--virtual-time-budget=5000", "--dump-dom")
    match = re.search(r'data-images="(\d+)/(\d+)"', dom.stdout)
    assert match, dom.stderr[-2000:]
    assert match.group(1) == match.group(2) == str(expected)  # every image decoded
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []

    shot = tmp_path / f"{kind}.png"
    _chromium(report, tmp_path / "profile-shot", "--window-size=1100,2400", f"--screenshot={shot}")
    import numpy as np

    pixels = np.asarray(Image.open(shot).convert("L"))
    inked_rows = (pixels < 200).any(axis=1).mean()
    assert inked_rows > 0.5  # text and plots down the page, not a blank or broken render


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_bundled_scenario_runs_through_analyze_report_export_and_compare(
    scenario: str, tmp_path: Path
) -> None:
    from engine.analysis import compare, load_run

    overrides = (
        OFFLINE
        + SMALLER.get(scenario, [])
        + (SOCIAL_OVERRIDES if scenario.startswith("social") else [])
    )
    loaded = load_scenario(ROOT / "scenarios" / scenario, overrides)
    folder = tmp_path / "run"
    Simulation(loaded, out=folder, overrides=overrides).run()
    run = load_run(folder)
    assert run.stats() == run.stored_stats()  # analyze reproduces the statistics
    html = write_report(folder).read_text()
    card = (folder / "run_card.md").read_text()
    assert "unavailable" not in card and "unavailable" not in html
    assert "Traceback" not in card
    for kind in run.plugin.graph_kinds:
        assert run.graph(kind) is not None
    if run.plugin.graph_kinds:
        assert run.export("graphml", tmp_path / "export")
    assert run.export("csv", tmp_path / "tables")
    (label,) = compare([folder])["conditions"]
    assert label.startswith(f"{run.info['scenario_name']} [scripted:") and label.endswith(
        overrides[-1]
    )
