"""Tests for analysis/ingest/_sniff.py and how ingest reads real-world text files: any file
name (decided by content), a header line or none (never dropping a row), MovieLens's own
files uploaded one by one, every delimiter's quoting rule, and double ingests of one name."""

from __future__ import annotations

import io
import os
import threading
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import ColumnMapping, detect_columns, ingest, load_dataset
from analysis.ingest._sniff import first_row_is_header, movielens_layout
from analysis.ingest.uploads import describe_input, preview_input
from analysis.workspace import NAME_TAKEN, Workspace

U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t377\t5\t881251000\n"
U_USER = "196|49|M|writer|55105\n186|39|F|executive|00000\n22|25|M|writer|40206\n"
_FLAGS = "|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0"
U_ITEM = (  # latin-1, as MovieLens ships it: an accent in a title
    f"242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996){_FLAGS}\n"
    f"302|L.A. Confidential (1997)|01-Jan-1997||http://x{_FLAGS.replace('|1|1|1', '|0|0|1')}\n"
    f"377|Heavyweights (1994)|01-Jan-1994||http://x{_FLAGS}\n"
    f"999|Belle \xe9poque (1992)|01-Jan-1992||http://x{_FLAGS}\n"
).encode("latin-1")


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.fixture
def ws() -> Workspace:
    return Workspace(":memory:")


# -- the header rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "header"),
    [
        ([["user_id", "item_id"], ["1", "2"]], True),  # a name over a column of numbers
        ([["1", "10", "5"], ["2", "11", "4"]], False),  # every field a number
        ([["1", "10", "5"]], False),  # one all-numeric row
        ([["user", "item"], ["a", "x"]], True),  # text only: names unless said otherwise
        ([["1", "24", "M", "writer"], ["2", "53", "F", "other"]], False),  # kinds match below
        ([["id", "age", "M"], ["1", "24", "F"]], True),  # 'id' above numbers
        ([["1", "", "x"], ["2", "", "y"]], False),  # empty above empty
        ([], True),
    ],
)
def test_first_row_is_header(rows, header):
    assert first_row_is_header(rows) is header


def test_movielens_layouts_by_content():
    assert movielens_layout([["1", "2", "3", "4"]], "\t")[1] == [
        "user_id", "item_id", "rating", "timestamp"]  # fmt: skip
    assert movielens_layout([["1", "2", "3", "4"]], ",") is None  # not a MovieLens delimiter
    assert movielens_layout([["1", "24", "M", "x", "0"]], "|")[0] == "ml-100k u.user"
    assert movielens_layout([["1", "F", "1", "10", "48067"]], "::")[0] == "ml-1m users.dat"
    assert movielens_layout([["1", "Toy Story (1995)", "Animation"]], "::")[0] == (
        "ml-1m movies.dat"
    )
    assert movielens_layout([["1", "24", "X", "x", "0"]], "|") is None


# -- any file name, decided by content -------------------------------------------------------


@pytest.mark.parametrize("name", ["u.data", "ratings.data", "log.dat", "log.txt", "log"])
def test_any_name_is_read_by_content(ws, tmp_path, name):
    path = write(tmp_path / name, U_DATA)
    report = ingest(ws, "d", path)
    assert report.n_rows_read == 4  # the first row too
    assert report.mapping == ColumnMapping("user_id", "item_id", "rating", "timestamp",
                                           "explicit")  # fmt: skip
    assert (report.n_users, report.n_items) == (3, 3)


def test_parquet_and_movielens_zip_under_other_names(ws, tmp_path):
    pq = tmp_path / "export.bin"
    pd.DataFrame({"user": [1, 2], "item": [5, 6], "rating": [4.0, 5.0]}).to_parquet(pq)
    assert ingest(ws, "p", pq).n_interactions == 2
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ml-100k/u.data", U_DATA)
    ml = write(tmp_path / "movielens.download", buf.getvalue())
    assert ingest(ws, "m", ml).n_interactions == 4


# -- headerless files keep every row ---------------------------------------------------------


def test_movielens_files_uploaded_one_by_one(ws, tmp_path):
    data = write(tmp_path / "u.data", U_DATA)
    users = write(tmp_path / "u.user", U_USER)
    items = write(tmp_path / "u.item", U_ITEM)
    report = ingest(ws, "ml", data, users=users, items=items)
    assert report.n_rows_read == 4 and report.n_interactions == 4
    ds = load_dataset(ws, "ml")
    assert ds.users["user_id"].tolist() == [22, 186, 196]
    assert ds.users["gender"].tolist() == ["M", "F", "M"]
    assert ds.users["occupation"].tolist() == ["writer", "executive", "writer"]
    assert ds.users["zip"].tolist() == ["40206", "00000", "55105"]  # zips keep their zeros
    items_by_id = ds.items.set_index("item_id")
    assert items_by_id.loc[242, "title"] == "Kolya (1996)"
    assert items_by_id.loc[242, "genres"] == "Animation|Children's|Comedy"
    assert items_by_id.loc[302, "genres"] == "Comedy"
    assert len(report.warnings) == 1  # item 999 is not rated
    assert "75.0% of its 4 rows" in report.warnings[0]


def test_latin1_item_title_is_kept(ws, tmp_path):
    write(tmp_path / "u.data", U_DATA + "22\t999\t4\t878887117\n")
    report = ingest(ws, "ml", tmp_path / "u.data", items=write(tmp_path / "u.item", U_ITEM))
    ds = load_dataset(ws, "ml")
    assert report.n_items == 4
    assert ds.items.set_index("item_id").loc[999, "title"] == "Belle \u00e9poque (1992)"


def test_headerless_generic_file_is_mapped_by_position(ws, tmp_path):
    path = write(tmp_path / "plays.csv", "7,a,3\n8,b,1\n7,b,2\n")
    assert detect_columns(path) == ColumnMapping("column0", "column1", "column2", None,
                                                 "explicit")  # fmt: skip
    report = ingest(ws, "plays", path, relevance_threshold=2)
    assert report.n_rows_read == 3 and (report.n_users, report.n_items) == (2, 2)
    assert report.warnings == (
        (
            f"{path}: no header line; columns read by position as column0 = user, "
            "column1 = item, column2 = rating (map them to override)"
        ),
    )


def test_header_said_by_the_caller(ws, tmp_path):
    path = write(tmp_path / "names.csv", "alice,matrix\nbob,alien\ncarol,matrix\n")
    assert list(preview_input(path).columns) == ["alice", "matrix"]  # text only: a header
    report = ingest(ws, "n", path, header=False)
    assert report.n_rows_read == 3 and (report.n_users, report.n_items) == (3, 2)
    header = write(tmp_path / "h.tsv", "1\t2\n3\t4\n5\t6\n")  # numbers as column names
    report = ingest(ws, "h", header, header=True, mapping=ColumnMapping(user="1", item="2"))
    assert report.n_rows_read == 2


def test_describe_input_reports_the_detection(tmp_path):
    head = describe_input(write(tmp_path / "a.csv", "user,item\n1,2\n"))
    assert (head.header, head.fmt, head.layout) == (True, "csv", None)
    assert head.rows.to_dict("list") == {"user": ["1"], "item": ["2"]}
    bare = describe_input(write(tmp_path / "u.data", U_DATA), n_rows=2)
    assert (bare.header, bare.layout) == (False, "ml-100k u.data")
    assert bare.rows["user_id"].tolist() == ["196", "186"]
    forced = describe_input(tmp_path / "u.data", header=True)
    assert forced.header is True and len(forced.rows) == 3
    zpath = tmp_path / "ml.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("u.data", U_DATA)
    assert (describe_input(zpath).fmt, describe_input(zpath).header) == ("movielens", None)


# -- quoting, per delimiter -----------------------------------------------------------------

NAMES = ["5'9\" Band", '"Weird Al Yankovic', 'Say "Hi"']


@pytest.mark.parametrize("delim", ["\t", "|", "::"])
def test_tab_pipe_and_double_colon_are_read_literally(ws, tmp_path, delim):
    lines = [delim.join(["user", "artist", "plays"])]
    lines += [delim.join([str(u), name, "3"]) for u, name in enumerate(NAMES)]
    path = write(tmp_path / "artists.txt", "\n".join(lines) + "\n")
    report = ingest(ws, "a", path, mapping=ColumnMapping(item="artist"))
    assert report.n_rows_read == 3
    ds = load_dataset(ws, "a")
    assert sorted(ds.item_ids.tolist()) == sorted(NAMES)


def test_tab_with_quoting_asked_for(ws, tmp_path):
    path = write(tmp_path / "q.tsv", 'user\titem\n1\t"a\tb"\n2\t"c ""d"""\n')
    report = ingest(ws, "q", path, quoting=True)
    assert report.n_rows_read == 2
    assert sorted(load_dataset(ws, "q").item_ids.tolist()) == ["a\tb", 'c "d"']
    with pytest.raises(AnalysisError, match="row 2 has 3 field"):
        ingest(ws, "q2", path)  # literally: the quoted tab splits the field


@pytest.mark.parametrize("delim", [",", ";"])
def test_comma_and_semicolon_use_csv_quoting(ws, tmp_path, delim):
    quoted = ['"5\'9"" Band"', '"Weird Al Yankovic"', f'"Say ""Hi""{delim} twice"']
    lines = [delim.join(["user", "artist", "plays"])]
    lines += [delim.join([str(u), name, "3"]) for u, name in enumerate(quoted)]
    path = write(tmp_path / "artists.txt", "\n".join(lines) + "\n")
    report = ingest(ws, "c", path, mapping=ColumnMapping(item="artist"))
    assert report.n_rows_read == 3
    assert sorted(load_dataset(ws, "c").item_ids.tolist()) == sorted(
        ["5'9\" Band", "Weird Al Yankovic", f'Say "Hi"{delim} twice'])  # fmt: skip


def test_comma_with_an_unclosed_quote_is_one_line(ws, tmp_path):
    path = write(tmp_path / "bad.csv", 'user,artist\n1,ok\n2,"Weird Al\n3,x\n')
    with pytest.raises(AnalysisError) as err:
        ingest(ws, "bad", path, mapping=ColumnMapping(item="artist"))
    assert "row 3 opens a quote" in str(err.value) and "\n" not in str(err.value)


# -- double ingests --------------------------------------------------------------------------


def test_two_ingests_of_one_name_at_once(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.list_datasets()  # the schema in place (creating it concurrently is another matter)
    path = write(tmp_path / "r.csv", "user,item,rating\n" + "".join(
        f"{u},{i},4\n" for u in range(200) for i in range(20)))  # fmt: skip
    results: list[object] = []
    start = threading.Barrier(4)

    def go():
        start.wait()
        try:
            results.append(ingest(ws, "x", path).name)
        except Exception as exc:  # noqa: BLE001 - the test sorts them below
            results.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("x") == 1
    taken = NAME_TAKEN.format(name="x", path=ws.path)
    assert [str(e).startswith(taken) for e in results if e != "x"] == [True] * 3
    assert ws.list_datasets()["name"].tolist() == ["x"]


# -- the real files ---------------------------------------------------------------------------

_ML = Path(os.environ.get("WEAKSPOT_DATASETS", "/nonexistent")) / "ml-100k"


@pytest.mark.skipif(not (_ML / "u.data").is_file(), reason="WEAKSPOT_DATASETS has no ml-100k/")
def test_real_movielens_files_one_by_one(ws):
    report = ingest(ws, "ml", _ML / "u.data", users=_ML / "u.user", items=_ML / "u.item")
    assert (report.n_rows_read, report.n_users, report.n_items) == (100_000, 943, 1682)
    assert report.warnings == ()
    ds = load_dataset(ws, "ml")
    assert ds.users.iloc[0].to_dict() == {"user_id": 1, "age": 24, "gender": "M",
                                          "occupation": "technician", "zip": "85711"}  # fmt: skip
    items = ds.items.set_index("item_id")
    assert items.loc[1, "title"] == "Toy Story (1995)"
    assert items.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert items["title"].str.contains("\u00e9").any()  # latin-1 accents, read as such


def test_position_fills_only_free_columns(tmp_path):
    path = write(tmp_path / "p.csv", "7,a,3,100\n8,b,1,200\n")
    mapping = ColumnMapping(rating="column3", value_kind="implicit")
    assert detect_columns(path) == ColumnMapping("column0", "column1", "column2", "column3",
                                                 "explicit")  # fmt: skip
    ws = Workspace(":memory:")
    report = ingest(ws, "p", path, mapping=mapping)
    assert report.mapping == ColumnMapping("column0", "column1", None, "column2", "implicit")
