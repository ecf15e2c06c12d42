"""`assemble`: the same training-set rules for every row (dedup, tags, screening before N, seed
mixing), the assemblies a dataset may opt into, and shared instructions."""

from __future__ import annotations

import dataclasses

from training.sft_data import make_records

from harness.core.records import InstructionRecord, Message
from harness.experiment import SEED_TAG, WEB_TAG, Train
from harness.training.data import assemble, instruction

WEB = make_records(60, offset=1000)
SEED = [dataclasses.replace(r, provenance={"origin": "seed"}) for r in make_records(10, offset=2000)]


def _system(r):
    return r.messages[0].content if r.messages[0].role == "system" else None


def test_shared_assembly_dedups_subsamples_mixes_and_tags():
    out = assemble([*WEB, *WEB[:10]], SEED, Train(), n=20, seed=0)
    assert len(out.records) == 30  # 20 sampled dataset records + the 10 seed records
    assert len({r.id for r in out.records}) == 30
    assert (out.stats["n_trained"], out.stats["seed_records"], out.stats["duplicates"]) == (20, 10, 10)
    seed_users = {instruction(s) for s in SEED}
    for r in out.records:
        if instruction(r) in seed_users:
            assert _system(r) == SEED_TAG
        else:  # the dataset's records: web tag, unless the builder marked them as seed in their provenance
            assert _system(r) == (SEED_TAG if r.provenance.get("origin") == "seed" else WEB_TAG)
    assert (
        sum(1 for r in out.records for m in r.messages if m.role == "system") == 30
    )  # one tag each, never two


def test_every_assembly_by_name():
    """Baselines get `shared` like any row; `without_seed` drops the seed, `as_published` the tags too."""
    shared = assemble(WEB, SEED, Train(), n=20, seed=0).records
    assert len(shared) == 30 and {_system(r) for r in shared} == {SEED_TAG, WEB_TAG}
    alone = assemble(WEB, SEED, Train(), n=20, assembly="without_seed", seed=0).records
    assert len(alone) == 20 and not {instruction(s) for s in SEED} & {instruction(r) for r in alone}
    assert all(_system(r) in (SEED_TAG, WEB_TAG) for r in alone)
    plain = assemble(WEB, SEED, Train(), n=20, assembly="as_published", seed=0).records
    assert len(plain) == 20 and all(r in WEB for r in plain)  # untouched records


def test_subsample_is_fixed_by_seed_and_nested_across_n():
    a = assemble(WEB, [], Train(tags=False), n=25, seed=0).records
    b = assemble(WEB, [], Train(tags=False), n=25, seed=0).records
    c = assemble(WEB, [], Train(tags=False), n=25, seed=1).records
    small = assemble(WEB, [], Train(tags=False), n=10, seed=0).records
    assert [r.id for r in a] == [r.id for r in b] and len(a) == 25
    assert {r.id for r in a} != {r.id for r in c}
    assert {r.id for r in small} < {r.id for r in a}  # a scaling curve adds data, never redraws it


def test_screening_comes_before_the_subsample():
    """Overlong records are screened out first, so the row still trains on exactly N when N fit."""
    long = [
        InstructionRecord((Message("user", f"long {i}"), Message("assistant", "x" * 5000)), "test")
        for i in range(30)
    ]
    out = assemble(
        [*long, *WEB], [], Train(), n=40, seed=0, fits=lambda r: len(r.messages[-1].content) < 4000
    )
    assert out.stats["n_trained"] == 40 and out.stats["screened_out"] == 30
    assert not any("long" in instruction(r) for r in out.records)
    short = assemble(
        [*long, *WEB[:20]], [], Train(), n=40, seed=0, fits=lambda r: len(r.messages[-1].content) < 4000
    )
    assert (short.stats["n_trained"], short.stats["available"], short.stats["n_target"]) == (20, 20, 40)


def test_rows_sharing_instructions_train_on_the_same_instructions():
    """Rewritten vs distilled: two datasets answering overlapping instruction lists subsample the
    same instructions when given the pool they share."""
    other = [
        dataclasses.replace(
            r,
            messages=(
                r.messages[0] if r.messages[0].role == "user" else r.messages[1],
                Message("assistant", "a distilled answer"),
            ),
        )
        for r in WEB[5:]
    ]
    pool = {instruction(r) for r in WEB} & {instruction(r) for r in other}
    a = assemble(WEB, SEED, Train(), n=20, seed=3, pool=pool)
    b = assemble(other, SEED, Train(), n=20, seed=3, pool=pool)
    web_a = [r for r in a.records if instruction(r) in pool]
    assert {instruction(r) for r in web_a} == {instruction(r) for r in b.records if instruction(r) in pool}
    assert a.stats["n_trained"] == b.stats["n_trained"] == 20
