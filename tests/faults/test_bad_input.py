"""Bad input never costs good input: each bad value of a CSV is quarantined alone with its reason, the other rows of
the file load, every input row is accounted for (`input rows = loaded + updated + unchanged + quarantined`, printed by
`xbot load`), every quarantined row is kept and re-loading the same file changes nothing — on DuckDB and PostgreSQL,
through the command a user runs."""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta

import pytest

from xbot_assets.ingest.parse import snowflake_id
from xbot_assets.operator.cli import main
from xbot_assets.runtime.instance import definitions
from xbot_assets.warehouse.connection import Warehouse

RAW_TABLES = ("posts", "metric_snapshots", "follower_snapshots", "viral_examples", "quarantine")
POST_HEADER = ["decision_id", "tweet_id", "posted_at", "content"]
METRIC_HEADER = ["decision_id", "collected_at", "impressions", "likes", "retweets", "replies"]
AT = datetime(2026, 3, 2, 9, 0)
IDENTITY = re.compile(r"(\d+) input rows = (\d+) loaded \+ (\d+) updated \+ (\d+) unchanged \+ (\d+) quarantined")


@pytest.fixture
def env(warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setenv("XBOT_WAREHOUSE", warehouse_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    definitions.cache_clear()
    wh = Warehouse.from_url(warehouse_url)
    wh.migrate()
    yield wh, tmp_path
    definitions.cache_clear()


def write_csv(path, header, rows, encoding="utf-8") -> str:
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def load(capsys, *args) -> tuple[int, str, str]:
    code = main(["load", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def identities(out: str) -> list[tuple[int, ...]]:
    """Every `N input rows = a loaded + b updated + c unchanged + d quarantined` the command printed."""
    return [tuple(int(n) for n in m.groups()) for m in IDENTITY.finditer(out)]


def tables(wh) -> dict[str, list[tuple]]:
    """Every row of every raw table, in a fixed order: equal before and after means nothing changed at all."""
    with wh.connect() as conn:
        return {t: sorted(tuple(map(str, r)) for r in conn.fetchall(f"select * from raw.{t}")) for t in RAW_TABLES}


def quarantine(wh) -> list[tuple[str, str, str]]:
    with wh.connect() as conn:
        return sorted(conn.fetchall("select reason, payload, account_id from raw.quarantine"))


def good_posts(n: int) -> list[list]:
    return [[f"p{i}", str(1000 + i), (AT + timedelta(hours=i)).isoformat(), f"Post number {i}."] for i in range(n)]


def present(wh, table: str, column: str, keys) -> int:
    with wh.connect() as conn:
        found = {str(k) for (k,) in conn.fetchall(f"select {column} from raw.{table}")}
    return len(set(keys) & found)


@pytest.mark.parametrize("kind, value, reason", [
    ("integer ≥ 2^63 in a count", "9223372036854775808",
     "out of range: likes 9223372036854775808 is beyond a 64-bit count"),
    ("integer ≤ −2^63 in a count", "-9223372036854775809", "negative count: likes = -9223372036854775809"),
    ("30-digit integer in a count", "123456789012345678901234567890",
     "out of range: likes 123456789012345678901234567890 is beyond a 64-bit count"),
])
def test_an_integer_beyond_64_bits_is_quarantined_alone(env, capsys, fault, kind, value, reason):
    wh, tmp = env
    fault.expect("input", kind, "row quarantined alone with the reason; the other rows load; reload changes nothing")
    assert load(capsys, "posts", write_csv(tmp / "posts.csv", POST_HEADER, good_posts(3)))[0] == 0
    good = [[f"p{i}", (AT + timedelta(days=1, hours=h)).isoformat(), 1000 * h, 10 * h, h, h]
            for i in range(3) for h in (1, 2, 3)]
    bad = ["p1", (AT + timedelta(days=2)).isoformat(), 5000, value, 3, 3]
    name = write_csv(tmp / "metrics.csv", METRIC_HEADER, [*good[:4], bad, *good[4:]])
    code, out, _ = load(capsys, "metrics", name)
    assert code == 0 and identities(out) == [(10, 9, 0, 0, 1)]
    assert [r[0] for r in quarantine(wh)] == [reason]
    before = tables(wh)
    code, out, _ = load(capsys, "metrics", name)
    assert code == 0 and identities(out) == [(10, 0, 0, 9, 1)] and tables(wh) == before
    loaded = len(before["metric_snapshots"])
    assert loaded == 9
    fault.measure(f"row quarantined alone ({reason.split(':')[0]}); {loaded} of 9 good rows loaded; reload: 0 changes",
                  rows_lost=9 - loaded)


def test_a_nul_byte_in_a_text_field_is_quarantined_alone(env, capsys, fault):
    wh, tmp = env
    fault.expect("input", "NUL byte (\\x00) in a text field",
                 "row quarantined alone ('NUL byte in content'), payload kept; the other rows load")
    rows = [[*row, "me"] for row in good_posts(6)]
    rows.insert(2, ["n1", "2001", AT.isoformat(), "Sleep\x00 well", "me"])
    rows.insert(4, ["n2", "20\x0002", AT.isoformat(), "A key with a NUL byte", "me"])
    rows.insert(5, ["n3", "2003", AT.isoformat(), "An account with a NUL byte", "me\x00you"])
    name = write_csv(tmp / "posts.csv", [*POST_HEADER, "account_id"], rows)
    code, out, _ = load(capsys, "posts", name)
    assert code == 0 and identities(out) == [(9, 6, 0, 0, 3)]
    held = quarantine(wh)
    assert [r[0] for r in held] == ["NUL byte in account_id", "NUL byte in content", "NUL byte in tweet_id"]
    assert held[0][2] == "me\\x00you"  # the quarantine's own columns hold it escaped
    assert '"Sleep\\u0000 well"' in held[1][1]  # the original row, NUL escaped by JSON
    before = tables(wh)
    assert load(capsys, "posts", name)[0] == 0 and tables(wh) == before
    loaded = present(wh, "posts", "decision_id", [r[0] for r in good_posts(6)])
    assert loaded == 6
    fault.measure(f"3 rows quarantined alone (NUL byte in content / tweet_id / account_id); {loaded} of 6 good rows "
                  "loaded; reload: 0 changes", rows_lost=6 - loaded)


def test_a_field_over_the_csv_limit_is_quarantined_alone(env, capsys, fault):
    wh, tmp = env
    fault.expect("input", "field over 131,072 characters", "row quarantined alone ('field too long'); the rest load")
    rows = good_posts(5)
    rows.insert(3, ["long", "3001", AT.isoformat(), "z" * 200_000])
    name = write_csv(tmp / "posts.csv", POST_HEADER, rows)
    code, out, err = load(capsys, "posts", name)
    assert code == 0, err
    assert identities(out) == [(6, 5, 0, 0, 1)]
    assert [r[0] for r in quarantine(wh)] == ["field too long: content has 200,000 characters (limit 131,072)"]
    loaded = present(wh, "posts", "decision_id", [r[0] for r in good_posts(5)])
    assert loaded == 5
    fault.measure(f"row quarantined alone (field too long); {loaded} of 5 good rows loaded", rows_lost=5 - loaded)


def test_a_cp1252_export_is_refused_with_its_encoding_named_or_read_when_told(env, capsys, fault):
    wh, tmp = env
    fault.expect("input", "cp1252 spreadsheet export (smart quotes, é)",
                 "refused whole naming cp1252 and the byte, nothing written; --encoding cp1252 reads it")
    rows = good_posts(3) + [["q1", "4001", AT.isoformat(), "“Café” is not a sleep aid"]]
    name = write_csv(tmp / "posts.csv", POST_HEADER, rows, encoding="cp1252")
    offset = open(name, "rb").read().index(b"\x93")
    empty = tables(wh)
    code, _, err = load(capsys, "posts", name)
    assert code == 2
    assert (f"posts.csv is not UTF-8 (byte 0x93 at offset {offset}, line 5); it looks like cp1252: re-save it as "
            "UTF-8 or pass --encoding cp1252") in err
    at = datetime(2026, 3, 2, 14, 0)
    export = write_csv(tmp / "account_analytics_content_2026-03-01_2026-03-05.csv",
                       ["Post id", "Date", "Post text", "Post Link", "Impressions", "Likes", "Reposts", "Replies"],
                       [[snowflake_id(at), "Mon, Mar 2, 2026", "Résumé of “sleep debt”", "", 500, 7, 1, 1]],
                       encoding="cp1252")
    code, _, err = load(capsys, "x-analytics", export)
    assert code == 2 and "is not UTF-8 (byte 0xe9" in err and "--encoding cp1252" in err
    assert tables(wh) == empty  # nothing written for a refused file

    code, out, _ = load(capsys, "posts", name, "--encoding", "cp1252")
    assert code == 0 and identities(out) == [(4, 4, 0, 0, 0)]
    code, out, _ = load(capsys, "x-analytics", export, "--encoding", "cp1252")
    assert code == 0 and identities(out)[0] == (1, 1, 0, 0, 0)
    with wh.connect() as conn:
        texts = {c for (c,) in conn.fetchall("select content from raw.posts")}
    assert {"“Café” is not a sleep aid", "Résumé of “sleep debt”"} <= texts
    loaded = len(texts)
    fault.measure(f"refused naming cp1252 (byte 0x93 at offset {offset}), 0 rows written; with --encoding: "
                  f"{loaded} of 5 rows loaded, text intact", rows_lost=5 - loaded)


def test_in_file_duplicates_of_viral_examples_are_accounted_for(env, capsys, fault):
    wh, tmp = env
    fault.expect("input", "in-file duplicates in `load viral`",
                 "identical copy counted unchanged, a differing copy quarantined; every row accounted for")
    header = ["example_id", "author_handle", "content", "likes", "collected_at"]
    e1 = ["e1", "sleepdoc", "Light before coffee.", 900, "2026-03-01T00:00:00"]
    e2 = ["e2", "coach", "Walk after lunch.", 400, "2026-03-01T00:00:00"]
    e2_changed = ["e2", "coach", "Walk after dinner.", 450, "2026-03-01T00:00:00"]
    e3 = ["e3", "coach", "Naps under 20 minutes.", 300, "2026-03-01T00:00:00"]
    name = write_csv(tmp / "viral.csv", header, [e1, e2, e1, e2_changed, e3])
    code, out, _ = load(capsys, "viral", name)
    assert code == 0 and identities(out) == [(5, 3, 0, 1, 1)]
    assert [r[0] for r in quarantine(wh)] == [
        "duplicate: example_id e2 appears twice in the input with different values"]
    before = tables(wh)
    code, out, _ = load(capsys, "viral", name)
    assert code == 0 and identities(out) == [(5, 0, 0, 4, 1)] and tables(wh) == before
    loaded = present(wh, "viral_examples", "example_id", ["e1", "e2", "e3"])
    fault.measure(f"5 input rows = 3 loaded + 1 unchanged + 1 quarantined; {loaded} of 3 examples stored; "
                  "reload: 0 changes", rows_lost=3 - loaded)


def test_identical_quarantined_rows_are_all_kept(env, capsys, fault):
    wh, tmp = env
    fault.expect("input", "identical bad rows repeated in one file",
                 "every copy kept in raw.quarantine (as many as reported); reload adds none")
    bad = ["b", "", "", "no date, no status"]
    name = write_csv(tmp / "posts.csv", POST_HEADER, [bad, *good_posts(2), bad, bad])
    code, out, _ = load(capsys, "posts", name)
    assert code == 0 and identities(out) == [(5, 2, 0, 0, 3)]
    held = len(quarantine(wh))
    assert held == 3
    before = tables(wh)
    assert load(capsys, "posts", name)[0] == 0 and tables(wh) == before
    # The same rows in another file are that file's rows: kept too.
    other = write_csv(tmp / "other.csv", POST_HEADER, [bad, bad, *good_posts(1)])
    code, out, _ = load(capsys, "posts", other)
    assert identities(out) == [(3, 0, 0, 1, 2)] and len(quarantine(wh)) == 5
    fault.measure(f"3 reported, {held} kept (repeats included); reload: 0 changes; 2 more from another file kept")


def test_reloading_adds_nothing_when_a_reason_reads_differently(env, capsys, fault):
    wh, tmp = env
    fault.expect("input", "re-load whose quarantine reason reads differently",
                 "the same input row is one quarantine row, whatever the reason's wording; reload adds nothing")
    queued = write_csv(tmp / "queued.csv", ["decision_id", "status", "scheduled_at", "content"],
                       [["p1", "queued", AT.isoformat(), "Planned."]])
    assert load(capsys, "posts", queued)[0] == 0
    metrics = write_csv(tmp / "metrics.csv", METRIC_HEADER, [["p1", (AT + timedelta(hours=2)).isoformat(), 10, 1, 0, 0]])
    assert load(capsys, "metrics", metrics)[0] == 0
    assert [r[0] for r in quarantine(wh)] == ["not posted: p1 has status queued"]
    skipped = write_csv(tmp / "skipped.csv", ["decision_id", "status", "scheduled_at", "content"],
                        [["p1", "skipped", AT.isoformat(), "Planned."]])
    assert load(capsys, "posts", skipped)[0] == 0
    code, out, _ = load(capsys, "metrics", metrics)  # now "not posted: p1 has status skipped"
    assert code == 0 and identities(out) == [(1, 0, 0, 0, 1)]
    held = len(quarantine(wh))
    assert held == 1
    before = tables(wh)
    for kind, name in (("posts", skipped), ("metrics", metrics)):
        assert load(capsys, kind, name)[0] == 0
    assert tables(wh) == before
    fault.measure(f"reason changed (status queued → skipped); quarantine rows for the input row: {held}")


def test_a_reloaded_file_changes_no_table(env, capsys, fault):
    """Every kind of file loaded twice: the second load changes no row of any table."""
    wh, tmp = env
    fault.expect("input", "the same files loaded again", "0 changes in every raw table; the identity printed each time")
    files = [("posts", write_csv(tmp / "posts.csv", POST_HEADER, [*good_posts(4), ["x", "", "", "no date"]])),
             ("metrics", write_csv(tmp / "metrics.csv", METRIC_HEADER,
                                   [["p0", (AT + timedelta(hours=5)).isoformat(), 100, 5, 1, 1],
                                    ["p0", (AT + timedelta(hours=6)).isoformat(), 100, 3, 1, 1],
                                    ["p9", (AT + timedelta(hours=6)).isoformat(), 100, 3, 1, 1]])),
             ("followers", write_csv(tmp / "followers.csv", ["collected_at", "followers"],
                                     [[AT.isoformat(), 100], [AT.isoformat(), 101], ["later", 5]])),
             ("viral", write_csv(tmp / "viral.csv", ["example_id", "content"], [["v1", "x"], ["", "no id"]]))]
    first = []
    for kind, name in files:
        code, out, _ = load(capsys, kind, name)
        assert code == 0
        first += identities(out)
    assert first == [(5, 4, 0, 0, 1), (3, 1, 0, 0, 2), (3, 1, 0, 0, 2), (2, 1, 0, 0, 1)]
    before = tables(wh)
    again = []
    for kind, name in files:
        again += identities(load(capsys, kind, name)[1])
    assert again == [(5, 0, 0, 4, 1), (3, 0, 0, 1, 2), (3, 0, 0, 1, 2), (2, 0, 0, 1, 1)]
    changed = sum(before[t] != after for t, after in tables(wh).items())
    assert changed == 0
    fault.measure(f"4 kinds reloaded: {changed} tables changed; every identity held ({len(again)} of {len(files)})")
