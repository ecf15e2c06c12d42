"""An experiment checked when it loads (`harness.experiment.load_experiment` calls `validate`): names
that are safe directory names, builders and their options, datasets read by others, the judge, local
sources, the rows, the prompts, the analysis, and what the seed and eval-set files hold. Every
problem is one ConfigError naming the file and key, with the fix, before any work starts. What
belongs to a builder, a backend or a judge is checked by its owner (`harness.stages.builders.validate_options`,
`harness.backends.spec.model_checker`, `harness.evaluation.judges.spec.validate_judge`).
"""

from __future__ import annotations

from pathlib import Path

from harness.backends.spec import STAGE_MODEL_REFS, model_checker
from harness.core import registry
from harness.core.config import did_you_mean
from harness.core.errors import ConfigError, HarnessError
from harness.evaluation.judges.spec import validate_judge
from harness.experiment import EVAL_TAGS, Corpus, Eval, Experiment, SeedData, is_local_source
from harness.stages.builders import BUILDERS, check_dependencies, validate_options

# Names become directories: runs/<experiment>/, build/<dataset>/, train/<dataset>@<N>/,
# eval/<dataset>@step<k>.tags-<v>/, and names plus fingerprints in places. 100 characters keeps every
# such component well below the file systems' 255-byte limit on one file name.
NAME_MAX = 100
NAME_FIX = f"letters, digits and {{chars}}, starting with a letter or digit, at most {NAME_MAX} characters"


def name_problem(name: object, *, dots: bool = True) -> str | None:
    """Why `name` cannot be a directory name of its own (None when it can): a conservative ASCII set,
    so that no name climbs out of its directory, hides a file, reads as an option or needs quoting in
    a shell. `dots=False` for dataset names, which dotted overrides address and a row's eval key
    extends with `.tags-<v>`."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a string"
    if not name:
        return "is empty"
    if len(name) > NAME_MAX:
        return f"is {len(name)} characters long, above {NAME_MAX}"
    if "/" in name or "\\" in name:
        return "holds a path separator"
    allowed = "_+-" + ("." if dots else "")
    bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c in allowed))), None)
    if bad is not None:
        return f"holds {bad!r}"
    if not name[0].isalnum():
        return f"starts with {name[0]!r}"
    return None


def _shown(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 60 else f"{text[:40]}...{text[-12:]} ({len(str(name))} characters)"


def _validate_names(exp: Experiment, source: str) -> None:
    """The experiment's and the datasets' names are safe directory names, before anything uses them."""
    problem = name_problem(exp.name)
    if problem:
        raise ConfigError(
            f"{source}: 'name' is {_shown(exp.name)}, which {problem}; it names the run directory "
            "runs/<name>",
            fix=NAME_FIX.format(chars=". _ + -") + ", e.g. my-experiment",
        )
    for name in exp.datasets:
        problem = name_problem(name, dots=False)
        if problem:
            raise ConfigError(
                f"{source}: dataset name {_shown(name)} (a key of 'datasets') {problem}; it names "
                "the directories runs/<experiment>/build/<name>/ and others",
                fix="rename it: " + NAME_FIX.format(chars="_ + -") + ", e.g. my_dataset",
            )


def validate(exp: Experiment, source: str) -> None:
    """Everything knowable from the experiment and the files it names, before any work."""
    _validate_names(exp, source)
    check_model = model_checker(source)
    check_model("base_model", exp.base_model)
    if not exp.datasets:
        raise ConfigError(f"{source}: 'datasets' is empty", fix="list at least one dataset to build or load")

    for name, ds in exp.datasets.items():
        try:
            registry.check(BUILDERS, ds.builder, what="builder", key=f"datasets.{name}.builder")
        except ConfigError as e:
            raise ConfigError(f"{source}: {e.message}", fix=e.fix) from None
        validate_options(name, ds.builder, ds.options, source, check_model)
    check_dependencies(exp.datasets, source)
    _validate_corpus(exp.corpus, source)
    validate_judge(exp.eval.judge, source, check_model)
    for key, value in (
        ("seed_data.source", exp.seed_data.source),
        ("corpus.source", exp.corpus.source),
        ("eval.eval_set", exp.eval.eval_set),
    ):
        _check_local_source(key, value, source)
    _validate_lc_data(exp.eval.lc_data, source)
    _validate_rows(exp, source)
    _validate_prompts(exp, source)
    for name in exp.paper_results:
        if name not in exp.datasets:
            raise ConfigError(
                f"{source}: 'paper_results.{name}' is not a dataset of this experiment",
                fix=f"use one of {', '.join(exp.datasets)}",
            )
    _validate_analysis(exp, source, check_model)
    _validate_input_files(exp, source)


# ---------------------------------------------------------------- input files read when the experiment loads
# What the seed and eval-set files hold is knowable now; found by the build or the eval stage, it would
# stop a run after hours of building and training. Local files, the bundled sets and hub sources already on
# disk (a mirror, the offline cache) are read (cheap: the 805 AlpacaEval rows are a 1 MB JSON); a hub
# source that needs a download is fetched by the stage that reads it, not here.


def _validate_input_files(exp: Experiment, source: str) -> None:
    _check_seed_file(exp.seed_data, source)
    n_eval = _check_eval_set(exp.eval, source)
    _check_analysis_minimum(exp, n_eval, source)


def _reraised(key: str, value: str, source: str, e: HarnessError) -> ConfigError:
    """An input file's error (it names the file and line) as the experiment's, with the key that names it."""
    return ConfigError(f"{source}: '{key}' ({value}): {e.message.removeprefix(key + ': ')}", fix=e.fix)


def _check_seed_file(seed: SeedData, source: str) -> None:
    """A local seed file is a readable file of valid pairs, at least one; a local directory is a copy of
    the Open Assistant repository (its train Parquet files); a hub source found on disk (the mirror,
    the offline cache) holds those files, at the pinned commit."""
    from datasets_builders.seed import OASST_FILES, read_seed_file
    from harness.core import sources
    from harness.core.io import require_file

    value = seed.source
    if value.startswith("hub:"):
        try:
            where = sources.on_disk(value, key="seed_data.source", need=OASST_FILES)
            if where is not None:  # else a download: the build stage reads it
                sources.match_files(where.directory, OASST_FILES, key="seed_data.source")
        except HarnessError as e:
            raise _reraised("seed_data.source", value, source, e) from None
        return
    if not is_local_source(value):
        return

    path = Path(value).expanduser()
    try:
        if path.is_dir():
            sources.match_files(path, OASST_FILES, key="seed_data.source")
            return
        require_file(path)
        if not read_seed_file(path):
            raise ConfigError(
                "holds no seed pairs (the file is empty)",
                fix='one pair per line: {"instruction": ..., "response": ...}',
            )
    except HarnessError as e:
        if path.is_dir():
            raise ConfigError(
                f"{source}: 'seed_data.source' ({value}) is a directory but not a copy of the Open "
                f"Assistant repository: {e.message.removeprefix('seed_data.source: ')}",
                fix="pass a JSONL file of pairs, or a local copy of OpenAssistant/oasst1 "
                "(its data/train-*.parquet)",
            ) from None
        raise _reraised("seed_data.source", value, source, e) from None


def _check_eval_set(ev: Eval, source: str) -> int | None:
    """The eval set's rows, read now when it is a local file or directory or a bundled set: an instruction
    in alpaca_eval's format with its reference output, each instruction once. Returns how many
    instructions the eval stage will judge (None when unknown here)."""
    from harness.evaluation.eval_set import ALPACA_EVAL_SIZE, hub_on_disk, load_eval_set

    value = ev.eval_set
    try:
        hub = value == "hub" or value.startswith("hub:")
        local = hub_on_disk(value, ev.protocol) if hub else value
        if local is None:  # a download: the eval stage reads it
            n: int | None = ALPACA_EVAL_SIZE if value == "hub" else None
        elif value.startswith("control:"):
            return ev.max_instances
        else:
            n = len(load_eval_set(local, ev.protocol))
    except HarnessError as e:
        raise _reraised("eval.eval_set", value, source, e) from None
    if n is None:
        return ev.max_instances
    return n if ev.max_instances is None else min(n, ev.max_instances)


def _check_analysis_minimum(exp: Experiment, n_eval: int | None, source: str) -> None:
    """The analysis compares the models' eval outputs (one text per eval instruction) when there are two
    rows or more; each set needs at least MIN_TEXTS texts (MAUVE's clusters; the classifier's folds need
    fewer), and analysis.max_texts cuts every set."""
    from harness.evaluation.analysis.mauve import MIN_TEXTS

    if not exp.analysis.enabled:
        return
    cut = exp.analysis.max_texts
    if cut is not None and cut < MIN_TEXTS:
        raise ConfigError(
            f"{source}: 'analysis.max_texts' is {cut}, below the {MIN_TEXTS} texts per set the "
            "analysis needs (MAUVE and the classifier)",
            fix=f"set analysis.max_texts >= {MIN_TEXTS}, or null for every text",
        )
    if n_eval is not None and n_eval < MIN_TEXTS and len(exp.datasets) >= 2:
        what = (
            "'eval.max_instances' is " + str(exp.eval.max_instances)
            if exp.eval.max_instances == n_eval
            else f"the eval set '{exp.eval.eval_set}' has {n_eval} instructions"
        )
        raise ConfigError(
            f"{source}: {what}, below the {MIN_TEXTS} the analysis of the models' outputs needs "
            "(one output per instruction and model)",
            fix=f"set eval.max_instances >= {MIN_TEXTS} (or null for the whole eval set), or "
            "analysis.enabled=false",
        )


def _validate_analysis(exp: Experiment, source: str, check_model) -> None:
    if exp.analysis.instruction_tagger:
        check_model("analysis.instruction_tagger", exp.analysis.instruction_tagger, refs=STAGE_MODEL_REFS)
    if exp.analysis.reference is not None and exp.analysis.reference not in exp.datasets:
        raise ConfigError(
            f"{source}: 'analysis.reference' names {exp.analysis.reference!r}, not a dataset of "
            "this experiment",
            fix=f"use one of {', '.join(exp.datasets)} or null",
        )
    for name in exp.analysis.web_text_of:
        if name not in exp.datasets:
            raise ConfigError(
                f"{source}: 'analysis.web_text_of' names {name!r}, not a dataset of this experiment",
                fix=did_you_mean(name, list(exp.datasets), otherwise=f"use one of {', '.join(exp.datasets)}"),
            )
    for name, ref in exp.analysis.curation_reference.items():
        if name not in exp.datasets:
            raise ConfigError(
                f"{source}: 'analysis.curation_reference.{name}' is not a dataset of this experiment",
                fix=f"use one of {', '.join(exp.datasets)}",
            )
        _check_local_source(f"analysis.curation_reference.{name}", ref, source)


def _validate_rows(exp: Experiment, source: str) -> None:
    """The keys that make leaderboard rows: sizes, instructions_from, eval tags, checkpoints."""
    for name, ds in exp.datasets.items():
        key = f"datasets.{name}"
        if ds.sizes and (ds.n is not None or len(set(ds.sizes)) != len(ds.sizes) or min(ds.sizes) < 1):
            raise ConfigError(
                f"{source}: '{key}.sizes' is {list(ds.sizes)}",
                fix=f"distinct positive sizes, and no '{key}.n' beside them",
            )
        if ds.instructions_from is not None:
            _check_instructions_from(exp, name, source)
    variants = exp.eval.tag_variants
    for v in variants:
        if v not in EVAL_TAGS:
            raise ConfigError(
                f"{source}: 'eval.tag_variants' holds {v!r}", fix=f"use values of {', '.join(EVAL_TAGS)}"
            )
    if len(set(variants)) != len(variants):
        raise ConfigError(f"{source}: 'eval.tag_variants' repeats a value", fix="list each variant once")
    steps = exp.train.checkpoints
    if steps and (min(steps) < 1 or len(set(steps)) != len(steps)):
        raise ConfigError(
            f"{source}: 'train.checkpoints' is {list(steps)}", fix="distinct optimizer steps >= 1"
        )
    last = exp.train.recipe.max_steps
    if steps and last > 0 and max(steps) >= last:
        raise ConfigError(
            f"{source}: 'train.checkpoints' lists step {max(steps)}, but the run ends at max_steps "
            f"{last}, whose model is the final one",
            fix=f"list only steps below {last}",
        )
    if exp.train.select_checkpoint == "best_on_eval" and not steps and len(variants) < 2:
        raise ConfigError(
            f"{source}: 'train.select_checkpoint' is best_on_eval but there is nothing to select from "
            "('train.checkpoints' is empty, fewer than two eval.tag_variants)",
            fix="list the steps to save in train.checkpoints, or select_checkpoint=last",
        )


def _check_instructions_from(exp: Experiment, name: str, source: str) -> None:
    """`instructions_from` names another dataset, without a cycle."""
    first = exp.datasets[name].instructions_from
    if first not in exp.datasets or first == name:
        raise ConfigError(
            f"{source}: 'datasets.{name}.instructions_from' is {first!r}, "
            + ("this dataset itself" if first == name else "not a dataset of this experiment"),
            fix=did_you_mean(
                str(first),
                [n for n in exp.datasets if n != name],
                otherwise="name another dataset of this experiment",
            ),
        )
    seen, other = [name], first
    while other is not None:
        if other in seen:
            raise ConfigError(
                f"{source}: 'instructions_from' makes a cycle: {' -> '.join([*seen, other])}",
                fix="let one dataset of the group name no other",
            )
        seen.append(other)
        other = exp.datasets[other].instructions_from


def _validate_corpus(corpus: Corpus, source: str) -> None:
    if corpus.min_chars > corpus.max_chars:
        raise ConfigError(
            f"{source}: 'corpus.min_chars' ({corpus.min_chars}) is above 'corpus.max_chars' "
            f"({corpus.max_chars})",
            fix="set corpus.min_chars <= corpus.max_chars",
        )
    if corpus.header_filter and corpus.segment == "none":
        raise ConfigError(
            f"{source}: 'corpus.header_filter' needs segments to filter",
            fix="set corpus.segment: headers (or header_filter: false)",
        )


def _validate_prompts(exp: Experiment, source: str) -> None:
    """Each replaced template: a known name, an existing file, the shipped template's placeholders."""
    from datasets_builders.prompts import check_override

    for name, path in exp.prompts.items():
        if not isinstance(path, str):
            raise ConfigError(
                f"{source}: 'prompts.{name}' must be a file path",
                fix=f"prompts: {{{name}: path/to/file.txt}}",
            )
        check_override(name, path, where=source)


def _validate_lc_data(lc_data: str | None, source: str) -> None:
    if lc_data is None:
        return
    from harness.core.errors import InputError
    from harness.evaluation.metrics import check_lc_data

    try:
        check_lc_data(lc_data, key=f"'eval.lc_data' ({lc_data})")
    except InputError as e:
        raise ConfigError(f"{source}: {e.message}", fix=e.fix) from None


def _check_local_source(key: str, value: str, source: str) -> None:
    if value.startswith("control:"):
        from harness.core.tasks import task_of_source

        try:
            task_of_source(value, key=key, invertible=key == "corpus.source")
        except ConfigError as e:
            raise ConfigError(f"{source}: {e.message}", fix=e.fix) from None
    if is_local_source(value) and not Path(value).exists():
        raise ConfigError(
            f"{source}: '{key}' is {value!r}, which does not exist",
            fix="give an existing file, or hub:<dataset id> / bundled:demo",
        )
