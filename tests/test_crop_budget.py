"""Stage two's crop budget on a live stream: a bound per frame, fair turns, and the same choices each time."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from gridscout.edge.config import Config
from gridscout.edge.daemons.perceptiond import PerceptionStage
from gridscout.edge.defaults import DEFAULT_MODEL, DEMO_FOOTAGE
from gridscout.edge.runtime.messages import FrameMeta
from gridscout.hardware.camera import open_source
from gridscout.perception.crop_budget import CropBudget
from gridscout.perception.model_loader import load_model

STRINGS = [(0, (10, 10, 60, 200)), (1, (200, 10, 250, 200)), (2, (400, 10, 450, 200))]


def moved(crops, dx):
    """The same strings a few pixels on (the vehicle moved)."""
    return [(i, (x1 + dx, y1, x2 + dx, y2)) for i, (x1, y1, x2, y2) in crops]


def test_a_frame_within_the_budget_is_searched_whole():
    budget = CropBudget(2)
    assert budget.take(STRINGS[:2]) == STRINGS[:2]
    assert budget.take([]) == []
    assert budget.deferred == 0


def test_strings_take_turns_and_each_is_searched_on_frames_in_a_row():
    budget = CropBudget(2)
    searched = []
    for frame in range(12):
        chosen = budget.take(moved(STRINGS, 3 * frame))
        assert len(chosen) == 2
        assert [i for i, _ in chosen] == sorted(i for i, _ in chosen)  # best parent first, as given
        searched.append({i for i, _ in chosen})
    assert budget.deferred == 12
    turns = Counter(i for frame in searched for i in frame)
    assert set(turns) == {0, 1, 2} and max(turns.values()) - min(turns.values()) <= 1
    for string in (0, 1, 2):  # a track needs its defect on frames in a row to be confirmed
        assert any(string in a and string in b for a, b in itertools.pairwise(searched))
    for a, b in itertools.pairwise(searched):  # no string waits two frames
        assert a | b == {0, 1, 2}


def test_a_new_string_goes_before_ones_searched_last_frame():
    budget = CropBudget(1)
    budget.take(STRINGS[:1])
    assert budget.take(STRINGS[:2]) == [STRINGS[1]]  # never searched: first, though stage one is surer of 0
    assert budget.take(STRINGS[:2]) == [STRINGS[0]]


def test_a_bad_budget_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        CropBudget(0)


@pytest.fixture(scope="module")
def busy_frames():
    """Demo frames on which stage one offers stage two three strings or more."""
    model = load_model(DEFAULT_MODEL, threads=1)
    frames = []
    with open_source(str(DEMO_FOOTAGE)) as source:
        for frame in source:
            first = model.stage1.detect(frame.image)
            first.names = model.names
            if len(model.crops(first, frame.width, frame.height)) >= 3:
                frames.append(frame)
            if len(frames) >= 4:
                break
    assert frames, "the demo footage has no frame with three strings to search"
    return model, frames


def test_live_perception_searches_at_most_the_configured_strings_and_replays_the_same(busy_frames):
    model, frames = busy_frames
    per_frame = Config().perception.live_crops_per_frame
    assert per_frame >= 1

    def run(crops_per_frame):
        stage = PerceptionStage(model, frame_rate=10.0, crops_per_frame=crops_per_frame)
        runs = Counter()
        inner = stage.model.stage2.session

        class Counting:
            def run(self, *args, **kwargs):
                runs["stage_two"] += 1
                return inner.run(*args, **kwargs)

        stage.model.stage2.session = Counting()
        try:
            out = [
                stage.step(FrameMeta.of(f, frame_id=f.frame_id, t_source_s=f.frame_id / 10), f.image).boxes
                for f in frames
            ]
        finally:
            stage.model.stage2.session = inner
        return out, runs["stage_two"], stage.budget

    bounded, bounded_runs, budget = run(per_frame)
    again, _, _ = run(per_frame)
    _whole, whole_runs, none = run(0)
    assert none is None and budget is not None
    assert bounded_runs == len(frames) * per_frame < whole_runs
    assert budget.deferred == whole_runs - bounded_runs
    assert bounded == again  # a replay of the live run makes the same choices


def test_replay_reads_a_recording_older_than_the_budget_as_unbounded():
    """A live run recorded before `live_crops_per_frame` searched every string: its replay must too."""
    from argparse import Namespace

    from gridscout.edge.cli.replay import resolve_config
    from gridscout.edge.offline.replay import _crops_per_frame

    recorded = Config().model_dump()
    old = {**recorded, "perception": {k: v for k, v in recorded["perception"].items() if k != "live_crops_per_frame"}}
    args = Namespace(config=None)
    assert _crops_per_frame(resolve_config(args, old)[0], "live") == 0
    assert _crops_per_frame(resolve_config(args, recorded)[0], "live") == Config().perception.live_crops_per_frame
    assert _crops_per_frame(resolve_config(args, recorded)[0], "replay") == 0


def test_a_restarted_perception_hands_out_the_turns_it_would_have(busy_frames):
    """Restored from its journal, perception makes the choices an uninterrupted one makes: same boxes after."""
    from gridscout.edge.daemons.perception_journal import JournalEntry

    model, frames = busy_frames
    per_frame = Config().perception.live_crops_per_frame
    metas = [FrameMeta.of(f, frame_id=f.frame_id, t_source_s=f.frame_id / 10) for f in frames]
    through = PerceptionStage(model, frame_rate=10.0, crops_per_frame=per_frame)
    journal, published = [], []
    for meta, frame in zip(metas, frames, strict=True):
        published.append(through.step(meta, frame.image))
        journal.append(JournalEntry(published[-1], through.tracker.next_id, {}))
    for cut in range(1, len(frames)):
        restarted = PerceptionStage(model, frame_rate=10.0, crops_per_frame=per_frame)
        restarted.restore(journal[:cut])
        after = [restarted.step(m, f.image).boxes for m, f in zip(metas[cut:], frames[cut:], strict=True)]
        assert after == [p.boxes for p in published[cut:]], f"restarted after frame {cut}"
