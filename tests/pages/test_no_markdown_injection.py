"""Values from the user's data are shown literally on every page, never rendered as Markdown
or HTML (issue 7, point 9): a dataset whose user ids, item titles, genres, attribute values,
attribute names and name carry Markdown/HTML payloads goes through every page, and every
Markdown-rendering field of every element (bodies, labels, help, metric values, progress
text) and every plotly figure is checked for markup the payloads could form. The escaping
helpers of ``pages/_shared.py`` and ``pages/_charts.py`` are tested on their own first."""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from analysis.ingest import ingest, load_dataset
from analysis.ingest.synthetic import generate_synthetic
from analysis.jobs.manager import get_job_manager
from analysis.jobs.tasks import rerank_task
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.report import build_report
from analysis.rerank.config import RerankConfig
from analysis.runs.store import RunStore
from analysis.weak_users import WeakRule
from analysis.workspace import Workspace
from models.llm import make_backend
from pages._charts import plot_escape
from pages._shared import md_escape

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PIXEL = "u95![x](http://host/pixel.png)"
IMG = "<img src=x onerror=alert(1)>"
BOLD = "**bold**"
LINK = "[link](http://evil)"
MATH = "$x$"
PAYLOADS = (PIXEL, IMG, BOLD, LINK, MATH)
#: more that Streamlit's Markdown would rewrite: emoji and icon shortcodes, bare URLs and
#: emails, directives, entities, code, headings, lists, strikethrough, tables
MORE = ("tenant:b:42 :material/home:", "www.evil.com/x http://evil.com a@evil.com",
        ":red[red] &lt;b&gt; `code` ~~gone~~", "# heading", "1. item", "- item", "a | b",
        "line\nbreak __under__ _em_ *em* \\*", "<a href='http://evil'>click</a>")
#: a dataset name may only hold letters, digits, spaces and ``_ . -``: still markup
NAME = "x __bold__ www.evil.com"
#: an attribute column whose name is a payload too
ATTR = "tier [x](http://evil)"
WJ = "\u2060"

_MD = MarkdownIt("commonmark").enable(["strikethrough", "table"])
#: what Streamlit's Markdown rewrites in parsed text (its bundled remark-gfm autolink literal
#: and remark-emoji patterns), where backslash escapes no longer count
_AUTOLINK = re.compile(r"(https?://|www(?=\.))[-.\w]+", re.IGNORECASE)
_EMAIL = re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+")
_EMOJI = re.compile(r":\+1:|:-1:|:[\w-]+:")
#: token types plain text renders to; anything else is markup
_PLAIN = {"paragraph_open", "paragraph_close", "inline", "text", "softbreak"}


def _tokens(source: str):
    for tok in _MD.parse(source):
        yield tok
        yield from tok.children or ()


def markup_in(source: str) -> list[str]:
    """What in ``source`` Streamlit would render as markup instead of text."""
    found = [t.type for t in _tokens(source) if t.type not in _PLAIN]
    for tok in _tokens(source):
        if tok.type == "text":
            found += [f"{name}: {m.group(0)}" for name, rx in
                      (("autolink", _AUTOLINK), ("email", _EMAIL), ("emoji", _EMOJI))
                      for m in rx.finditer(tok.content)]
    if re.search(r"(?<!\\)(?:\\\\)*\$", source):
        found.append("math: an unescaped $")
    if ":material/" in source:
        found.append("material icon")
    return found


def visible(source: str) -> str:
    """The text a reader sees of Markdown ``source`` (word joiners are invisible)."""
    return "".join(t.content for t in _tokens(source) if t.type == "text").replace(WJ, "")


# -- the helpers --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*PAYLOADS, *MORE, NAME, ATTR])
def test_md_escape_renders_the_payloads_literally(text):
    escaped = md_escape(text)
    assert markup_in(escaped) == []
    assert visible(escaped) == text.replace("\n", " ")
    assert "\n" not in escaped


def test_md_escape_round_trips_random_punctuation():
    rng = random.Random(7)
    alphabet = "ab1é :/@.#-+*_`~[]()<>!&$|\\{}=%^'\"\nwhttps"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        escaped = md_escape(text)
        assert markup_in(escaped) == [], (text, escaped)
        # a paragraph drops leading and trailing blanks: not markup
        assert visible(escaped) == text.replace("\n", " ").strip(), (text, escaped)


def test_md_escape_leaves_plain_text_alone():
    plain = "Dataset 'demo' has no timestamp column, so a temporal split is impossible (use 3-5)."
    assert md_escape(plain) == plain
    assert md_escape(12) == "12"


def test_plot_escape_neutralises_html():
    assert plot_escape(IMG) == "&lt;img src=x onerror=alert(1)&gt;"
    assert plot_escape("a & b") == "a &amp; b"
    assert plot_escape("Q1 (3-8)") == "Q1 (3-8)"


# -- a hostile dataset through every page ---------------------------------------------------


def _hostile_frames():
    data = generate_synthetic(300, 200, seed=3, mean_interactions=20.0)
    inter, users, items = data.interactions, data.users.copy(), data.items.copy()
    # the most active users carry the payloads, so they are evaluated and reranked
    busiest = inter["user_id"].value_counts().index[: len(PAYLOADS) + len(MORE)]
    names = {int(u): f"u{int(u)}" for u in users["user_id"]}
    names.update({int(u): p for u, p in zip(busiest, [*PAYLOADS, *MORE], strict=True)})
    inter = inter.assign(user_id=inter["user_id"].map(names))
    users = users.assign(user_id=users["user_id"].map(names))
    # titles, one genre, attribute values and an attribute name
    first = items["item_id"].isin(inter["item_id"].value_counts().index[:20])
    titles = [f"{p} #{i}" for i, p in enumerate([*PAYLOADS, *MORE] * 2)][: int(first.sum())]
    items.loc[first, "title"] = titles
    genre = items["genres"].str.split("|").explode().value_counts().index[0]
    items["genres"] = items["genres"].str.replace(genre, IMG.replace("|", ""), regex=False)
    values = sorted(users["gender"].unique())
    users["gender"] = users["gender"].map(dict(zip(values, [BOLD, IMG, LINK, MATH, PIXEL],
                                                   strict=False)))
    users[ATTR] = np.where(np.arange(len(users)) % 2, IMG, "<b>gold</b>")
    return inter, users, items


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A workspace holding the hostile dataset, its baseline run and a fake-backend rerank of
    every user with a validation value; set as the app's workspace."""
    path = tmp_path_factory.mktemp("hostile") / "ws.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEAKSPOT_WORKSPACE", str(path))
        ws = Workspace(path)
        inter, users, items = _hostile_frames()
        ingest(ws, NAME, inter, users=users, items=items)
        store = RunStore(ws)
        base = store.save_baseline(run_pipeline(load_dataset(ws, NAME), EvaluateConfig()))
        cfg = RerankConfig(backend="fake", model="claude-haiku-4-5",
                           rule=WeakRule(metric="auc", percentile=100.0))
        jm = get_job_manager(ws)
        job = jm.submit("rerank", "fixture", rerank_task(
            ws, base.run_id, cfg, lambda: make_backend("fake", model="claude-haiku-4-5")))
        status = jm.wait(job, timeout=120)
        assert status.state == "done", status.error
        yield ws, base, store.get(status.run_id)



def test_the_checker_sees_unescaped_payloads():
    """The page checks below would catch each payload left raw."""
    for text in (*PAYLOADS, NAME, *MORE[:3], "# heading", "1. item", "- item"):
        assert _injected(text, "body"), text


# -- what the pages render ----------------------------------------------------------------

#: proto fields Streamlit renders as Markdown (bodies, labels, help, metric values and deltas,
#: progress text, options of pills/segmented controls); ``st.text``'s body is literal
_MD_FIELDS = {"body", "label", "help", "text", "delta", "content"}
_LITERAL_PROTOS = {"Text", "Code"}
#: raw HTML of the payloads that plotly would render
_RAW_HTML = ("<img", "<a href", "<b>gold")
_EMPHASISED = {"bold", "under", "em", "gone"}


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def _strings(message, names):
    """(field, value) of every string field of a proto message named in ``names``."""
    for field, value in message.ListFields():
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        for v in values:
            if isinstance(v, str):
                if field.name in names:
                    yield field.name, v
            elif hasattr(v, "ListFields"):
                yield from _strings(v, names)


def _json_strings(value):
    """Every string in a JSON value (a plotly figure's labels, titles, hover templates)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for v in value.values() if isinstance(value, dict) else value:
            yield from _json_strings(v)


def _injected(source: str, field: str) -> list[str]:
    """Markup that payloads formed in one Markdown field (the app's own bold text and code
    spans are fine; links, images, HTML, payload emphasis or blocks, math and Streamlit's
    text rewrites are not)."""
    found = []
    tokens = list(_tokens(source))
    for i, tok in enumerate(tokens):
        if tok.type in ("link_open", "image", "html_inline", "html_block"):
            found.append(f"{tok.type}: {tok.content or tok.attrs}")
        if tok.type.endswith("_open") and tok.type[:-5] in ("strong", "em", "s"):
            inner = tokens[i + 1].content if i + 1 < len(tokens) else ""
            if inner in _EMPHASISED:
                found.append(f"{tok.type}: {inner}")
        if tok.type == "code_inline" and tok.content == "code":
            found.append("code span")
        if tok.type in ("heading_open", "bullet_list_open", "ordered_list_open", "table_open",
                        "blockquote_open"):
            rest = " ".join(t.content for t in tokens[i:] if t.type == "inline")
            if "heading" in rest or rest.startswith("item") or "a | b" in rest:
                found.append(tok.type)
        if tok.type == "text":
            found += [f"{name}: {m.group(0)}" for name, rx in
                      (("autolink", _AUTOLINK), ("email", _EMAIL), ("emoji", _EMOJI))
                      for m in rx.finditer(tok.content)]
    if "$x$" in source:
        found.append("math")
    if ":material/" in source and field != "icon":
        found.append("material icon")
    return found


def _check_page(at) -> list[str]:
    """Every Markdown field of the page as a reader sees it; asserts that none holds markup
    formed by the payloads and no plotly figure holds their raw HTML."""
    assert not at.exception, at.exception
    shown = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        kind = proto.DESCRIPTOR.name
        if kind == "PlotlyChart":
            raw = [t for t in _json_strings(json.loads(proto.spec))
                   if any(h in t for h in _RAW_HTML)]
            assert not raw, (proto.id, raw)
            continue
        if kind in _LITERAL_PROTOS:
            continue
        for field, source in _strings(proto, _MD_FIELDS):
            assert not _injected(source, field), (kind, field, source, _injected(source, field))
            shown.append(visible(source))
    return shown


def _app(hostile, **state) -> AppTest:
    _, base, _ = hostile
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["run_id"] = base.run_id
    at.session_state["dataset"] = NAME
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def _open(at, page: str) -> list[str]:
    at.switch_page(page).run()
    return _check_page(at)


def test_overview_data_baseline_and_report_pages(hostile):
    at = _app(hostile)
    shown = _check_page(at)
    assert any(s.startswith(f"{NAME}: 300 users") for s in shown)  # the subheader, literally
    assert any(f"Dataset {NAME} · run" in s for s in shown)  # the sidebar caption
    assert any(NAME in s for s in _open(at, "pages/2_baseline.py"))
    _open(at, "pages/7_report.py")
    _open(at, "pages/1_data.py")
    at.button(key="data_delete").click().run()
    assert any(f"Delete dataset {NAME} and" in s for s in _check_page(at))
    at.button(key="data_delete_cancel").click().run()
    _check_page(at)


def test_data_page_upload_errors_quote_the_file_literally(hostile):
    at = _app(hostile)
    at.switch_page("pages/1_data.py").run()
    name = f"{BOLD} {LINK.replace('http://', '')} {MATH}.csv"
    body = f"user_id,item_id,rating\n1,10,5\n1,11,{IMG}\n2,10,4\n".encode()
    next(u for u in at.file_uploader if u.key == "data_upload_interactions").set_value(
        (name, body, "text/csv"))
    at.run()
    shown = _check_page(at)
    assert any(name in s for s in shown)  # "First 3 rows of ..."
    at.text_input(key="data_name").set_value("bad")
    next(b for b in at.button if b.key == "data_ingest").click()
    at.run()
    shown = _check_page(at)
    assert at.error and IMG in visible(at.error[0].value), [e.value for e in at.error]


def test_subgroups_and_weak_users_pages(hostile):
    at = _app(hostile)
    for dims in (["gender"], [ATTR], ["gender", ATTR]):
        at.session_state["sg_dims"] = dims
        shown = _open(at, "pages/3_subgroups.py")
        assert at.metric[0].label == "Worst group"
        worst = [c.value for c in at.caption if c.value.startswith("Worst group: ")]
        assert len(worst) == 1
        name = visible(worst[0]).removeprefix("Worst group: ").split(" (mean")[0]
        assert name in {BOLD, IMG, LINK, MATH, PIXEL, "<b>gold</b>"} or " × " in name, worst
    for dim in ("gender", ATTR):
        at.session_state["wu_dim"] = dim
        _open(at, "pages/4_weak_users.py")
    assert shown


def test_rerank_page_shows_hostile_users_literally(hostile):
    at = _app(hostile)
    _open(at, "pages/5_llm_rerank.py")
    sent = set(at.selectbox(key="rr_user").options)
    assert set(PAYLOADS) <= sent  # the main payloads were sent to the LLM
    for user in [u for u in (*PAYLOADS, *MORE) if u in sent]:
        at.selectbox(key="rr_user").set_value(user).run()
        shown = _check_page(at)
        assert any(s.startswith(f"User {user.replace(chr(10), ' ')}: NDCG") for s in shown), user


def test_job_titles_messages_and_errors_are_literal(hostile):
    ws, base, _ = hostile
    jm = get_job_manager(ws)
    release = threading.Event()

    def running(ctx):
        ctx.progress(0.5, f"step {PIXEL} {IMG}")
        release.wait(60)

    def failing(ctx):
        from analysis.errors import AnalysisError

        raise AnalysisError(f"Model {LINK} answered {IMG} for {PIXEL}.")

    failed = jm.submit("rerank", f"Rerank {base.run_id}: fake {BOLD}", failing)
    assert jm.wait(failed, timeout=30).state == "failed"
    live = jm.submit("rerank", f"Rerank {base.run_id}: fake {LINK} {BOLD}", running)
    try:
        at = _app(hostile, rr_job_id=failed)
        shown = _check_page(at)  # the sidebar lists the live job
        assert any(f"fake {LINK} {BOLD}: step {PIXEL} {IMG}" in s for s in shown), shown
        shown = _open(at, "pages/5_llm_rerank.py")
        assert any(f"Model {LINK} answered {IMG}" in s for s in shown)  # the failed job
        at.session_state["baseline_job"] = failed
        shown = _open(at, "pages/2_baseline.py")
        assert any(f"Model {LINK} answered {IMG}" in s for s in shown)  # its flash
    finally:
        release.set()
        jm.wait(live, timeout=30)


def test_html_report_escapes_the_hostile_values(hostile):
    _, base, rr = hostile
    page = build_report(base, rr).html
    for raw in (IMG, "<b>gold</b>"):
        assert raw not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page or "\\u003cimg" in page
