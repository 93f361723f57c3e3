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
