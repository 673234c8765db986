"""Screenshots of every page of the app for the README.

``.venv/bin/python scripts/screenshot.py [--out assets/screenshots] [--pages overview,report]``

Starts ``streamlit run app.py`` on a loopback port with a fresh workspace in a temporary
folder (so the built-in demo dataset and its ALS baseline are computed anew), opens it in
Debian's headless Chromium through Playwright (``apt-get install chromium``; the browser is
never downloaded) and walks the pages in the order of the work: Overview, Data, Baseline,
Subgroups, Weak users, LLM rerank (the free dry run: no key is passed to the app and nothing
is sent anywhere) and Report. Each page is saved as ``<out>/<n>_<page>.png``, the whole
scrolled-out page, reduced to a 256-colour palette when that is needed to stay under
``--max-kb``.

The browser harness is the end-to-end test's (``tests/e2e/_e2e_harness.py``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from _e2e_harness import PAGES, AppDriver, AppServer, chromium_path, launch_chromium

#: environment the app must not see: the dry run then counts tokens offline, for free
SECRET_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")


def slug(title: str) -> str:
    return title.lower().replace(" ", "_")


def prepare(d: AppDriver, title: str) -> None:
    """Bring a page into the state worth showing (after switching to it)."""
    if title == "Overview":
        d.wait_text("Weakest cohorts", timeout=300)
    elif title == "Weak users":
        d.wait_text("Who they are")
    elif title == "LLM rerank":
        d.click("rr_dry_run")
        d.wait_text("Input tokens")
    elif title == "Remedies":
        d.click("rm_run")
        d.wait_text("Saved: content blend", timeout=300)
    d.wait_idle()


#: the dataset ``--scenarios`` opens
SCENARIO_DATASET = "scenarios-demo"


def scenario_run(workspace: Path) -> None:
    """A synthetic dataset with three planted scenarios (the last hard for a shared model)
    and its ALS baseline, in ``workspace`` before the app starts."""
    sys.path.insert(0, str(REPO))
    from analysis.ingest import load_dataset
    from analysis.ingest.uploads import ingest_synthetic
    from analysis.pipeline import EvaluateConfig, run_pipeline
    from analysis.runs.store import RunStore
    from analysis.workspace import Workspace

    ws = Workspace(workspace)
    ingest_synthetic(ws, SCENARIO_DATASET, n_users=1500, n_items=500, mean_interactions=15,
                     seed=0, n_scenarios=3)
    RunStore(ws).save_baseline(run_pipeline(load_dataset(ws, SCENARIO_DATASET),
                                            EvaluateConfig(model="als")))


def shrink(path: Path, max_kb: int) -> None:
    """Re-save ``path`` with a 256-colour palette when it is larger than ``max_kb``."""
    if path.stat().st_size <= max_kb * 1024:
        return
    from PIL import Image

    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "assets" / "screenshots")
    parser.add_argument(
        "--pages",
        default=",".join(slug(t) for t, _ in PAGES),
        help="comma-separated page slugs (default: all)",
    )
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--max-height", type=int, default=2600)
    parser.add_argument("--max-kb", type=int, default=290)
    parser.add_argument("--scenarios", action="store_true",
                        help="open a synthetic dataset with three planted scenarios and its ALS "
                        "run instead of the demo (its scenario sections shown)")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    if chromium_path() is None:
        sys.exit("no chromium on PATH: apt-get install chromium")
    wanted = {s.strip() for s in args.pages.split(",") if s.strip()}
    unknown = wanted - {slug(t) for t, _ in PAGES}
    if unknown:
        sys.exit(f"unknown pages {sorted(unknown)}; known: {[slug(t) for t, _ in PAGES]}")
    for name in SECRET_ENV:
        os.environ.pop(name, None)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.scenarios:
            scenario_run(tmp / "workspace.duckdb")
        server = AppServer(tmp / "workspace.duckdb", tmp / "streamlit.log")
        with server, sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": args.width, "height": 900})
                page.set_default_timeout(120_000)
                d = AppDriver(page, server.url, args.out)
                d.open(timeout=300)
                if args.scenarios:
                    d.widget("sidebar_run").click()
                    page.get_by_role("option", name=re.compile(SCENARIO_DATASET)).click()
                    d.wait_idle()
                for n, (title, _) in enumerate(PAGES):
                    if slug(title) not in wanted:
                        continue
                    if n:
                        d.goto(title, timeout=300)
                    prepare(d, title)
                    d.assert_clean()
                    path = d.screenshot(f"{n}_{slug(title)}", max_height=args.max_height)
                    shrink(path, args.max_kb)
                    print(
                        f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}"
                        f" ({path.stat().st_size // 1024} KB)"
                    )
            except Exception:
                print(server.log(), file=sys.stderr)
                raise
            finally:
                browser.close()


if __name__ == "__main__":
    main()
