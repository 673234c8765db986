"""What reranking an export's weak users with an LLM would cost: every weak user's prompt
measured by DuckDB, none rendered.

A weak user's prompt shows their top ``C`` of the test run (rows with ``rank <= C``, ordered
by ``(rank, item_id)``, the first ``C``) and their ``n_recent`` latest history rows (by the
history table's ``timestamp`` or ``ts`` column, latest first; no history without one), with
the rating when the table has a ``rating`` column. Each item's display text is
:func:`~analysis.rerank.prompts.item_texts` of the items table's ``title`` (and ``genres``)
or ``item <id>``. DuckDB sums each user's text lengths (and ratings' ``": 4/5"``) per part;
:func:`~analysis.rerank.prompt_size.sizes_from_totals` turns the totals into the exact
characters of the prompt :func:`~analysis.rerank.prompts.render_prompt` would build, the
offline heuristic (3.5 characters a token) into tokens, and
:func:`~analysis.gains.cost.estimate_cost` into dollars: the same arithmetic as the LLM
rerank page's dry run, for millions of users.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from analysis.gains.cost import CostEstimate, PriceTable, estimate_cost
from analysis.rerank.config import RerankConfig
from analysis.rerank.history import history_phrase
from analysis.rerank.prompt_size import _rating_lengths, sizes_from_totals, text_lengths
from analysis.rerank.prompts import item_texts
from analysis.rerank.templates import load_template

__all__ = ["ScaleBill", "weak_user_bill"]


@dataclass(frozen=True)
class ScaleBill:
    """The dry run of reranking every weak user once.

    Attributes:
        n_prompts: weak users with a list (one prompt each).
        n_without_list: weak users with no row in the test run (no prompt).
        mean_input_tokens: mean prompt tokens (offline estimate).
        estimate: the cost (expected and upper bound, :class:`CostEstimate`).
        history: what the history lines are (``"10 most recent"``, or none).
    """

    n_prompts: int
    n_without_list: int
    mean_input_tokens: float
    estimate: CostEstimate
    history: str


def _columns(con: duckdb.DuckDBPyConnection, sql: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()}


def _text_lengths(con: duckdb.DuckDBPyConnection, items_sql: str | None, max_chars: int) -> None:
    """Table ``_ws_text(item_id, len)``: the display text's length of every item shown."""
    ids = con.execute("SELECT DISTINCT item_id FROM (SELECT item_id FROM _ws_cand UNION ALL "
                      "SELECT item_id FROM _ws_hist) ORDER BY 1").df()
    items = None
    if items_sql is not None:
        cols = _columns(con, items_sql) & {"title", "genres"}
        if "title" in cols:
            picked = ", ".join(f"CAST(i.{c} AS VARCHAR) AS {c}" for c in sorted(cols))
            con.register("_ws_ids", ids)
            items = con.execute(
                f"SELECT d.item_id, {picked} FROM _ws_ids d LEFT JOIN (SELECT * FROM "
                f"{items_sql} QUALIFY row_number() OVER (PARTITION BY item_id) = 1) i "
                f"ON CAST(i.item_id AS VARCHAR) = CAST(d.item_id AS VARCHAR) ORDER BY 1").df()
    raw = ids["item_id"].to_numpy()
    texts = item_texts(items, raw, np.arange(len(raw)), max_chars=max_chars)
    con.register("_ws_text_df", pd.DataFrame({"item_id": raw, "len": text_lengths(texts)}))
    con.execute("CREATE TEMP TABLE _ws_text AS SELECT * FROM _ws_text_df")


def weak_user_bill(
    con: duckdb.DuckDBPyConnection,
    weak_sql: str,
    rankings_sql: str,
    history_sql: str | None,
    items_sql: str | None,
    prices: PriceTable,
    *,
    model: str,
    n_candidates: int,
    n_recent: int = 10,
    template: str = "paper",
    item_chars: int = 80,
    batch: bool = False,
) -> ScaleBill:
    """The dry run's cost of one prompt per weak user (``weak_sql``: a query of their
    ``user_id``), priced for ``model`` from ``prices`` (module docstring)."""
    c = int(n_candidates)
    con.execute(f"CREATE TEMP TABLE _ws_weak AS SELECT DISTINCT user_id FROM ({weak_sql})")
    con.execute(
        f"CREATE TEMP TABLE _ws_cand AS SELECT user_id, item_id FROM {rankings_sql} "
        f"WHERE rank <= {c} AND item_id IS NOT NULL AND user_id IN (SELECT user_id FROM "
        f"_ws_weak) QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY rank, item_id) "
        f"<= {c}")
    cols = _columns(con, history_sql) if history_sql else set()
    ts = next((t for t in ("timestamp", "ts") if t in cols), None)
    rating = "CAST(rating AS DOUBLE)" if "rating" in cols else "CAST(NULL AS DOUBLE)"
    if ts is not None and n_recent > 0:
        con.execute(
            f"CREATE TEMP TABLE _ws_hist AS SELECT user_id, item_id, {rating} AS rating "
            f"FROM {history_sql} WHERE user_id IN (SELECT user_id FROM _ws_weak) AND "
            f"item_id IS NOT NULL QUALIFY row_number() OVER (PARTITION BY user_id "
            f"ORDER BY {ts} DESC, item_id) <= {int(n_recent)}")
        history = f"the {int(n_recent)} most recent history rows"
    else:
        con.execute("CREATE TEMP TABLE _ws_hist (user_id BIGINT, item_id BIGINT, "
                    "rating DOUBLE)")
        history = "none (the history table has no timestamp column)" if history_sql else "none"
    _text_lengths(con, items_sql, item_chars)
    ratings = con.execute("SELECT DISTINCT rating FROM _ws_hist WHERE isfinite(rating)").df()
    r = ratings["rating"].to_numpy(np.float64)
    con.register("_ws_rating_df", pd.DataFrame({"rating": r, "len": _rating_lengths(r)}))
    totals = con.execute(
        "SELECT w.user_id, coalesce(cd.n, 0) AS n_cand, coalesce(cd.chars, 0) AS cand_chars, "
        "coalesce(h.n, 0) AS n_hist, coalesce(h.chars, 0) AS hist_chars FROM _ws_weak w "
        "LEFT JOIN (SELECT user_id, count(*) n, sum(t.len) chars FROM _ws_cand "
        "JOIN _ws_text t USING (item_id) GROUP BY user_id) cd USING (user_id) "
        "LEFT JOIN (SELECT user_id, count(*) n, sum(t.len + coalesce(rl.len, 0)) chars "
        "FROM _ws_hist JOIN _ws_text t USING (item_id) LEFT JOIN _ws_rating_df rl "
        "USING (rating) GROUP BY user_id) h USING (user_id)").fetchnumpy()
    has = np.asarray(totals["n_cand"]) > 0
    tmpl = load_template(template)
    sizes = sizes_from_totals(
        tmpl, history_order=history_phrase("recent", {}),
        n_candidates=np.asarray(totals["n_cand"])[has],
        candidate_chars=np.asarray(totals["cand_chars"])[has],
        n_history=np.asarray(totals["n_hist"])[has],
        history_chars=np.asarray(totals["hist_chars"])[has])
    tokens = sizes.approx_tokens()
    config = RerankConfig(model=model, n_candidates=c, template=template, batch=batch)
    est = estimate_cost(tokens, max_tokens=config.resolved_max_tokens,
                        expected_output_tokens=config.expected_output_tokens, model=model,
                        prices=prices, exact_tokens=False, batch=batch)
    return ScaleBill(
        n_prompts=int(has.sum()), n_without_list=int((~has).sum()),
        mean_input_tokens=float(tokens.mean()) if len(tokens) else 0.0,
        estimate=est, history=history)
