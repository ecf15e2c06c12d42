"""`assemble`: the same training-set rules for every dataset (dedup, equal N, seed mixing, tags)."""

from __future__ import annotations

import dataclasses

from training.sft_data import make_records

from harness.experiment import SEED_TAG, WEB_TAG, Train
from harness.training.data import assemble

WEB = make_records(60, offset=1000)
SEED = [dataclasses.replace(r, provenance={"origin": "seed"}) for r in make_records(10, offset=2000)]


def _system(r):
    return r.messages[0].content if r.messages[0].role == "system" else None


def test_dedup_subsample_mix_and_tag():
    train = Train(n=20)
    out = assemble([*WEB, *WEB[:10]], SEED, train, kind="web", seed=0)
    assert len(out) == 30  # 20 sampled web records + the 10 seed records
    assert len({r.id for r in out}) == 30
    seed_contents = {m.content for s in SEED for m in s.messages if m.role == "user"}
    for r in out:
        user = next(m.content for m in r.messages if m.role == "user")
        if user in seed_contents:
            assert _system(r) == SEED_TAG
        else:  # web-derived, unless the builder marked it as seed in its provenance
            assert _system(r) == (SEED_TAG if r.provenance.get("origin") == "seed" else WEB_TAG)
    assert sum(1 for r in out for m in r.messages if m.role == "system") == 30  # one tag each, never two


def test_subsample_is_fixed_by_seed_and_equal_size():
    a = assemble(WEB, [], Train(n=25, mix_seed=False, tags=False), kind="web", seed=0)
    b = assemble(WEB, [], Train(n=25, mix_seed=False, tags=False), kind="web", seed=0)
    c = assemble(WEB, [], Train(n=25, mix_seed=False, tags=False), kind="web", seed=1)
    assert [r.id for r in a] == [r.id for r in b] and len(a) == 25
    assert {r.id for r in a} != {r.id for r in c}
    assert all(r in WEB for r in a)  # untagged records are unchanged


def test_baselines_are_not_mixed_or_tagged_unless_asked():
    plain = assemble(WEB, SEED, Train(n=20), kind="baseline", seed=0)
    assert len(plain) == 20 and all(r in WEB for r in plain)
    asked = assemble(WEB, SEED, Train(n=20, tag_baselines=True), kind="baseline", seed=0)
    assert len(asked) == 30 and {_system(r) for r in asked} == {SEED_TAG, WEB_TAG}


def test_no_mixing_and_custom_tags():
    out = assemble(WEB, SEED, Train(mix_seed=False, seed_tag="S", web_tag="W"), kind="web", seed=0)
    assert len(out) == len(WEB)
    assert {_system(r) for r in out} == {"S", "W"}  # make_records marks every 5th record origin=seed
    assert sum(_system(r) == "S" for r in out) == sum(r.provenance["origin"] == "seed" for r in WEB)
