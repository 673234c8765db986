"""App latency: first start, page switches, and the Subgroups and Weak users interactions.

First start (``--first-start``): a fresh workspace in a fresh process state (Streamlit's
caches cleared), the app opened until its Overview shows metrics: the demo dataset generated,
its ALS run computed and saved, every page's first render; timed ``--repeats`` times.

Page switches (``--switches``): every page opened in turn on the demo run and on MovieLens
100K's ALS run (when ``$WEAKSPOT_DATASETS`` is set); each switch is one script rerun, timed
``--repeats`` times after one warm-up pass (the first visit fills the per-run caches; it is
reported apart as "first visit").

Ingests ml-100k (from ``$WEAKSPOT_DATASETS/ml-100k``) into a temporary workspace, trains and
saves an ALS baseline, then drives the app with Streamlit's AppTest: each page is loaded once
(first load: caches fill, not timed), then every interaction (slider moves, dimension and
metric changes, toggles, page switches) is timed ``--repeats`` times. Prints a markdown table
(median and max per interaction, in ms) with the machine and command; the target is every
interaction under 300 ms after the first load. AppTest runs the script in-process, so the
figures include the whole rerun (sidebar, widgets, charts) but no browser rendering.

Run: ``WEAKSPOT_DATASETS=../shared/datasets .venv/bin/python bench/bench_app_latency.py
--first-start --switches`` (add ``--interactions`` for the Subgroups and Weak users table;
with no flag, that table alone, as before). ``--profile out.prof`` writes a cProfile of the
warm page switches. Not collected by pytest (no ``test_`` prefix, lives outside tests/);
``tests/test_bench_app_latency.py`` runs it once on the demo, untimed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_MS = 300.0
PAGES = ("pages/0_overview.py", "pages/1_data.py", "pages/2_baseline.py",
         "pages/3_subgroups.py", "pages/4_weak_users.py", "pages/5_llm_rerank.py",
         "pages/7_report.py")


def _clear_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def _check(at, what: str) -> None:
    if at.exception:
        raise RuntimeError(f"{what}: {at.exception[0].value}")


def time_first_start(repeats: int) -> list[float]:
    """Seconds from a fresh workspace to the Overview's metrics, ``repeats`` times."""
    from streamlit.testing.v1 import AppTest

    out = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="weakspot-first-") as tmp:
            os.environ["WEAKSPOT_WORKSPACE"] = str(Path(tmp) / "ws.duckdb")
            _clear_caches()
            t = time.perf_counter()
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
            out.append(time.perf_counter() - t)
            _check(at, "first start")
            if not at.metric:
                raise RuntimeError("first start: the Overview shows no metric")
    return out


def time_page_switches(run_id: str | None, repeats: int, profile: str | None = None):
    """``(first visit s per page, [warm switch ms...] per page)`` on the workspace in
    ``$WEAKSPOT_WORKSPACE``, with ``run_id`` active (the demo run when None)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    if run_id is not None:
        at.session_state["run_id"] = run_id
    at.run()
    _check(at, "start")
    first: dict[str, float] = {}
    for page in PAGES:
        t = time.perf_counter()
        at.switch_page(page).run()
        first[page] = time.perf_counter() - t
        _check(at, page)
    prof = _profile_script_thread() if profile else None
    warm: dict[str, list[float]] = {p: [] for p in PAGES}
    for _ in range(repeats):
        for page in PAGES:
            at.switch_page(page)
            t = time.perf_counter()
            at.run()
            warm[page].append((time.perf_counter() - t) * 1000)
            _check(at, page)
    if prof:
        prof.dump_stats(profile)
    return first, warm


def _profile_script_thread():
    """A cProfile of every script run from now on: the script runs in its own thread, which a
    profile of the main thread does not see, so the runner's ``_run_script`` is wrapped."""
    import cProfile

    from streamlit.runtime.scriptrunner import script_runner

    prof = cProfile.Profile()
    original = script_runner.ScriptRunner._run_script

    def run_script(self, rerun_data):
        prof.enable()
        try:
            return original(self, rerun_data)
        finally:
            prof.disable()

    script_runner.ScriptRunner._run_script = run_script
    return prof


def _switch_table(name: str, first: dict, warm: dict) -> list[str]:
    rows = [f"| page ({name}) | first visit ms | switch median ms | switch max ms |",
            "|---|---:|---:|---:|"]
    for page in PAGES:
        rows.append(f"| {Path(page).stem} | {first[page] * 1000:.0f} | "
                    f"{statistics.median(warm[page]):.0f} | {max(warm[page]):.0f} |")
    allw = [x for v in warm.values() for x in v]
    rows.append(f"| every page | | {statistics.median(allw):.0f} | {max(allw):.0f} |")
    return rows


def _machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, {platform.system()}, load average "
            f"{load:.1f} at the start")


def first_start_and_switches(repeats: int, first_start: bool, profile: str | None) -> None:
    """Print the first-start and page-switch tables (demo, then ml-100k if available)."""
    print(_machine())
    if first_start:
        ts = time_first_start(repeats)
        print(f"\nFirst start (fresh workspace, demo dataset and its ALS run computed, "
              f"Overview shown): median {statistics.median(ts):.1f} s, min {min(ts):.1f} s, "
              f"max {max(ts):.1f} s over {len(ts)} starts\n")
    with tempfile.TemporaryDirectory(prefix="weakspot-bench-") as tmp:
        os.environ["WEAKSPOT_WORKSPACE"] = str(Path(tmp) / "ws.duckdb")
        _clear_caches()
        first, warm = time_page_switches(None, repeats, profile)
        print("\n".join(_switch_table("demo, ALS", first, warm)))
        root = os.environ.get("WEAKSPOT_DATASETS")
        if root and (Path(root) / "ml-100k" / "u.data").exists():
            run_id = prepare(Path(tmp))
            first, warm = time_page_switches(run_id, repeats)
            print()
            print("\n".join(_switch_table("ml-100k, ALS", first, warm)))


def prepare(ws_dir: Path) -> str:
    """Ingest ml-100k, train ALS, save the run; returns its id."""
    from analysis.ingest import ingest, load_dataset
    from analysis.pipeline import EvaluateConfig, run_pipeline
    from analysis.runs.store import RunStore
    from analysis.workspace import Workspace

    root = os.environ.get("WEAKSPOT_DATASETS")
    if not root or not (Path(root) / "ml-100k" / "u.data").exists():
        sys.exit("set WEAKSPOT_DATASETS to the folder holding ml-100k/")
    ws = Workspace(ws_dir / "ws.duckdb")
    ingest(ws, "ml-100k", Path(root) / "ml-100k")
    result = run_pipeline(load_dataset(ws, "ml-100k"), EvaluateConfig(model="als"))
    return RunStore(ws).save_baseline(result).run_id


def prepare_synthetic(ws_dir: Path, users: int, data: Path | None) -> str:
    """Synthetic data of ``users`` users (written once to ``data`` when given), ingested,
    its ALS baseline trained and saved; returns the run id."""
    from analysis.ingest import ingest, load_dataset
    from analysis.ingest.synthetic import generate_synthetic, write_synthetic
    from analysis.pipeline import EvaluateConfig, run_pipeline
    from analysis.runs.store import RunStore
    from analysis.workspace import Workspace

    data = data or ws_dir / "synth"
    if not (data / "interactions.parquet").is_file():
        write_synthetic(generate_synthetic(n_users=users, n_items=20_000,
                                           mean_interactions=20.0, seed=0), data)
    ws = Workspace(ws_dir / "ws.duckdb")
    ingest(ws, "synth", data / "interactions.parquet", users=data / "users.parquet",
           items=data / "items.parquet")
    result = run_pipeline(load_dataset(ws, "synth"), EvaluateConfig(model="als"))
    return RunStore(ws).save_baseline(result).run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--first-start", action="store_true", help="time the first start")
    parser.add_argument("--switches", action="store_true", help="time every page switch")
    parser.add_argument("--interactions", action="store_true",
                        help="time the Subgroups and Weak users interactions on ml-100k")
    parser.add_argument("--profile", help="write a cProfile of the demo's warm page switches")
    parser.add_argument("--synthetic", type=int, default=None, metavar="USERS",
                        help="time the interactions on a synthetic run of USERS users "
                             "(20,000 items, 20 interactions per user) instead of ml-100k")
    parser.add_argument("--data", default=None,
                        help="folder of the synthetic data (written once, then reused)")
    args = parser.parse_args()
    if args.first_start or args.switches:
        first_start_and_switches(args.repeats, args.first_start, args.profile)
        if not args.interactions:
            return
        print()
    interactions(args.repeats, args.synthetic, None if args.data is None else Path(args.data))


def interactions(repeats: int, synthetic: int | None = None, data: Path | None = None) -> None:
    """The Subgroups and Weak users interactions on ml-100k (the original table), or on a
    synthetic run of ``synthetic`` users. First loads are timed in the order an analyst
    meets them: the Overview (which reads the run back), then the Weak users page (its
    selector and its cost projection, every user's prompt sized once), then Subgroups."""
    args = argparse.Namespace(repeats=repeats)
    label = "ml-100k, ALS" if synthetic is None else f"synthetic {synthetic:,} users, ALS"
    dims = ("occupation", "gender") if synthetic is None else ("country", "gender")

    with tempfile.TemporaryDirectory(prefix="weakspot-bench-") as tmp:
        os.environ["WEAKSPOT_WORKSPACE"] = str(Path(tmp) / "ws.duckdb")
        t0 = time.perf_counter()
        run_id = (prepare(Path(tmp)) if synthetic is None
                  else prepare_synthetic(Path(tmp), synthetic, data))
        prep_s = time.perf_counter() - t0

        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
        at.session_state["run_id"] = run_id
        first: dict[str, float] = {}
        for page in ("pages/0_overview.py", "pages/4_weak_users.py", "pages/3_subgroups.py"):
            t = time.perf_counter()
            at.switch_page(page).run()
            first[page] = time.perf_counter() - t
            if at.exception:
                sys.exit(f"{page}: {at.exception[0].value}")

        times: dict[str, list[float]] = {}

        def timed(name: str, act) -> None:
            act()
            t = time.perf_counter()
            at.run()
            times.setdefault(name, []).append((time.perf_counter() - t) * 1000)
            if at.exception:
                sys.exit(f"{name}: {at.exception[0].value}")

        # every interaction's first occurrence fills its cache entry (a new metric's
        # histogram); time from the second pass on, as an analyst moving back and forth would
        warm = 2  # both values of every alternating interaction
        for rep in range(warm + args.repeats):
            at.switch_page("pages/4_weak_users.py").run()
            timed("weak users: percentile slider", lambda: at.slider(key="wu_percentile")
                  .set_value(10.0 + rep % 5 * 10))
            timed("weak users: metric ndcg@10", lambda: at.segmented_control(key="wu_metric")
                  .set_value("ndcg@10"))
            timed("weak users: metric auc", lambda: at.segmented_control(key="wu_metric")
                  .set_value("auc"))
            timed("weak users: mode absolute", lambda: at.segmented_control(key="wu_mode")
                  .set_value("Absolute"))
            timed("weak users: threshold slider", lambda: at.slider(key="wu_threshold")
                  .set_value(0.6 + rep % 5 * 0.05))
            timed("weak users: inactive toggle", lambda: at.toggle(key="wu_inactive")
                  .set_value(not at.toggle(key="wu_inactive").value))
            timed("weak users: paper preset", lambda: at.button(key="wu_paper").click())
            timed("weak users: composition dimension", lambda: at.selectbox(key="wu_dim")
                  .set_value(dims[0] if rep % 2 else dims[1]))
            timed("weak users: model change", lambda: at.selectbox(key="wu_model")
                  .set_value("claude-sonnet-4-5" if rep % 2 else "claude-haiku-4-5"))
            timed("weak users: mode percentile", lambda: at.segmented_control(key="wu_mode")
                  .set_value("Percentile"))
            timed("switch to subgroups", lambda: at.switch_page("pages/3_subgroups.py"))
            timed("subgroups: one dimension", lambda: at.multiselect(key="sg_dims")
                  .set_value(["gender"] if rep % 2 else ["activity"]))
            timed("subgroups: two dimensions", lambda: at.multiselect(key="sg_dims")
                  .set_value(["inactive", "gender"]))
            timed("subgroups: metric change", lambda: at.selectbox(key="sg_metric")
                  .set_value("recall@10" if rep % 2 else "auc"))
            timed("subgroups: violin", lambda: at.segmented_control(key="sg_plot")
                  .set_value("Violin"))
            timed("subgroups: box", lambda: at.segmented_control(key="sg_plot").set_value("Box"))
            timed("switch to weak users", lambda: at.switch_page("pages/4_weak_users.py"))
            if rep < warm:
                times.clear()

    rows = []
    worst = 0.0
    for name, ts in times.items():
        worst = max(worst, max(ts))
        ok = "yes" if max(ts) < TARGET_MS else "**no**"
        rows.append(f"| {name} | {statistics.median(ts):.0f} | {max(ts):.0f} | {ok} |")
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {platform.system()}")
    flag = "" if synthetic is None else f" --synthetic {synthetic}"
    print("Command: WEAKSPOT_DATASETS=../shared/datasets .venv/bin/python "
          f"bench/bench_app_latency.py --interactions --repeats {args.repeats}{flag}")
    print(f"Load average (1, 5, 15 min) at the end: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"Setup (ingest + ALS + save): {prep_s:.1f} s; first loads: "
          + ", ".join(f"{Path(p).stem} {s * 1000:.0f} ms" for p, s in first.items()))
    print()
    print(f"| interaction ({label}) | median ms | max ms | < {TARGET_MS:.0f} ms |")
    print("|---|---:|---:|---|")
    print("\n".join(rows))
    print()
    print(f"worst interaction: {worst:.0f} ms ({'within' if worst < TARGET_MS else 'over'} "
          "the target)")


if __name__ == "__main__":
    main()
