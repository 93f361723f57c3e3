"""The simulator connector keeps the platform's record in the warehouse and replays it in a new process."""

from datetime import datetime, timedelta

from xbot_assets.connectors import simulator as simulator_module
from xbot_assets.connectors.base import Connector, Publication
from xbot_assets.connectors.simulator import SimulatorConnector
from xbot_assets.simulation.scenario import load_scenario
from xbot_assets.warehouse.connection import Warehouse


def test_replay_restores_the_same_platform(duckdb_url):
    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    scenario = load_scenario("default")
    first = SimulatorConnector(wh, "acct", scenario, seed=5)
    assert isinstance(first, Connector)
    at = datetime(2026, 1, 1, 9)
    tweets = [first.publish(Publication(f"d{i}", f"text {i}", (), "wellness_tip", "dataNerd", 0.8), at + timedelta(hours=i))
              for i in range(3)]
    later = at + timedelta(hours=30)
    before = first.collect_metrics([t.tweet_id for t in tweets] + ["unknown"], later)
    followers = first.read_followers(later)
    assert set(before) == {t.tweet_id for t in tweets}  # unknown ids are left out

    simulator_module._CACHE.clear()  # as in a new process
    second = SimulatorConnector(wh, "acct", scenario, seed=5)
    assert second.collect_metrics([t.tweet_id for t in tweets], later) == before
    assert second.read_followers(later) == followers
    # The next post takes the next slot, as it would have in the first process.
    assert second.publish(Publication("d3", "text 3", (), "wellness_tip", "coach", 0.7), later).tweet_id == \
        second.simulator.tweet_id_for(3)


def test_each_post_s_own_follows_are_reported_unless_the_scenario_says_not(duckdb_url):
    """X's post analytics give a post's own follows; the simulator reports them the same way (issue 14), and a
    scenario with `reported_follows: false` gives only the counters (follows must then be attributed)."""
    import dataclasses

    wh = Warehouse.from_url(duckdb_url)
    wh.migrate()
    scenario = load_scenario("default")
    assert scenario.reported_follows and "reported_follows" not in scenario.to_dict()  # fingerprints unchanged
    quiet = dataclasses.replace(scenario, reported_follows=False)
    assert type(scenario).from_dict(quiet.to_dict()) == quiet
    at = datetime(2026, 1, 1, 9)
    reporting = SimulatorConnector(wh, "reports", scenario, seed=5)
    silent = SimulatorConnector(wh, "silent", quiet, seed=5)
    posts = [Publication(f"d{i}", f"text {i}", (), "wellness_tip", "dataNerd", 0.8) for i in range(40)]
    ids = [reporting.publish(p, at + timedelta(hours=i)).tweet_id for i, p in enumerate(posts)]
    for i, p in enumerate(posts):
        silent.publish(dataclasses.replace(p, decision_id=f"s{i}"), at + timedelta(hours=i))
    late = at + timedelta(days=10)
    read = reporting.collect_metrics(ids, late)
    truth = [reporting.simulator.post(f"d{i}").follows for i in range(40)]
    assert [read[t]["follows"] for t in ids] == truth and sum(truth) > 0  # fully accrued ten days on
    assert all("follows" not in m for m in silent.collect_metrics([silent.simulator.tweet_id_for(i) for i in range(40)], late).values())
    # An hour after posting only part of a post's follows have arrived, as its profile clicks.
    early = reporting.collect_metrics(ids[-1:], at + timedelta(hours=40))[ids[-1]]
    assert early["follows"] <= truth[-1]
