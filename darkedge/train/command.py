"""`darkedge train`: enhancer -> teacher -> student (+ the raw and two-stream baselines) into one run directory.

Every classifier stage gets the same budget (epochs, batch, schedule, data order); the table in metrics.json /
table.md compares them in the shape of the paper's Table 1. The student and the raw baseline (its no-distillation
control) have the student's architecture and sampling (TrainConfig.student_*); they train on the teacher's clips,
each seeing its own view of them (darkedge.data.views), so the teacher's logits come from the moment they see.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from darkedge.config import TrainConfig, check_preset, read_config_file, resolve_config, run_changes
from darkedge.data.loader import resolve_workers
from darkedge.errors import DarkedgeError
from darkedge.factory import classifier_config, enhancer_state, load_stage, with_enhancer
from darkedge.fileio import read_json, write_json, write_text
from darkedge.models.efficientnet_lite import IMAGENET
from darkedge.names import (
    BUILTIN_DATA,
    DEFAULT_STAGES,
    ENHANCER_NAMES,
    RUNS_DIR,
    STAGE_KINDS,
    STAGES,
    STUDENT_MODELS,
)
from darkedge.run import (
    REFIT_STAGES,
    Run,
    check_classes,
    describe_val,
    new_run_dir,
    open_run,
    save_label_split,
    save_run_config,
    save_val_split,
)
from darkedge.settings import merge_settings
from darkedge.train.distributed import Dist, barrier, broadcast, init_distributed, shutdown_distributed
from darkedge.train.engine import RESUME_FILE, spread_budget
from darkedge.train.guard import distillation_source, guard_teacher, source_model
from darkedge.train.stage import fit, val_loader_workers, validation_metrics
from darkedge.train.table import ROWS, results_table, training_description

log = logging.getLogger(__name__)


def _prepare_data(cfg: TrainConfig, d: Dist) -> tuple[list[str], str | None, int]:
    """Generate the built-in data set when it is the one asked for and is absent; return its class names, the
    folder its training videos are in (None for a folder per class), printed once, and the fold its lists are of."""
    from darkedge.data.lists import open_dataset

    if cfg.data == BUILTIN_DATA and not Path(cfg.data).exists():
        if d.is_main:
            from darkedge.data.synth import SynthConfig, synthesize

            log.info("generating the built-in data set at %s", cfg.data)
            synthesize(SynthConfig(), Path(cfg.data))
        barrier(d)
    index = open_dataset(cfg.data, split="train", fold=cfg.fold, video_root=cfg.video_root)
    videos = str(index.video_roots[0].resolve()) if index.fmt != "folders" else None
    if d.is_main:
        log.info("data: %s (%s), videos in %s", cfg.data, index.fmt, videos or cfg.data)
    return index.class_names, videos, index.fold


def _checked(cfg: TrainConfig) -> TrainConfig:
    """`cfg` with its pretrained file's and unlabelled footage's absolute paths, once its classifier has been
    built (and the file loaded into it) and the footage found: a setting the architecture cannot take, a weight file
    that is missing or of another layout, or unlabelled footage that is not there is a one-line error before
    anything is written."""
    from darkedge.data.unlabeled import find_videos
    from darkedge.models import build_model

    if cfg.pretrained and cfg.pretrained != IMAGENET:  # "imagenet": an installed wheel's, found by package
        cfg = replace(cfg, pretrained=str(Path(cfg.pretrained).resolve()))
    if cfg.val:
        if not Path(cfg.val).exists():
            raise DarkedgeError(f"{cfg.val}: no such file or folder (given as the validation split, --val)")
        cfg = replace(cfg, val=str(Path(cfg.val).resolve()))
    if cfg.unlabeled:
        find_videos(cfg.unlabeled)
        cfg = replace(cfg, unlabeled=str(Path(cfg.unlabeled).resolve()))
    for model in ("teacher", "student"):  # a student of an unknown encoder fails now, not after the teacher
        # the student gets the pretrained file only when it has the teacher's encoder: one read checks it
        build_model("classifier", classifier_config(cfg, 2, model), load_pretrained=model == "teacher")
    return cfg


def _open_or_create(
    *,
    out: Path,
    run: Path | None,
    resume: bool,
    settings: dict[str, Any],
    config_file: str | None,
    d: Dist,
) -> Run:
    """A new run directory from the preset, the config file and `settings`, or the existing one named by `run`
    (or out/latest with --resume), changed only where an existing run may change (config.RUN_SETTINGS)."""
    if run is None and not resume:
        cfg = _checked(resolve_config(settings, config_file))
        class_names, videos, fold = _prepare_data(cfg, d)
        cfg = replace(cfg, data=str(Path(cfg.data).resolve()), video_root=videos, fold=fold)
        path = None
        if d.is_main:
            path = new_run_dir(out)
            save_run_config(path, cfg, class_names)
            counts = save_label_split(path, cfg)
            if counts:
                log.info(
                    "labels: kept %d training clips' labels (label_fraction %g), %d go unlabelled",
                    counts["labelled"], cfg.label_fraction, counts["held_back"],
                )  # fmt: skip
            val = save_val_split(path, cfg, class_names)
            if val:
                log.info("validation: %s", describe_val(val))
        return Run(Path(broadcast(d, str(path))), cfg, class_names)

    existing = open_run(run if run is not None else out / "latest")
    if config_file:
        settings = {**read_config_file(config_file), **settings}
    if "data" in settings:  # a run records its data by absolute path
        settings = {**settings, "data": str(Path(settings["data"]).resolve())}
    changes = run_changes(existing.config, settings, str(existing.path))
    if ("data" in changes or "video_root" in changes) and "video_root" not in settings:
        changes["video_root"] = None  # other videos: the folder saved for the old ones no longer applies
    cfg = replace(existing.config, **changes)
    if changes:
        if "data" in changes or "video_root" in changes:
            found, videos, _ = _prepare_data(cfg, d)  # the run keeps its fold
            cfg = replace(cfg, video_root=videos)
            check_classes(found, existing.class_names, cfg.data, existing.path)
        if d.is_main:
            save_run_config(existing.path, cfg, existing.class_names)
    return Run(existing.path, cfg, existing.class_names)


def train_enhancer_stage(run: Run, d: Dist) -> dict[str, Any]:
    """Zero-reference training of the enhancer on the training clips' frames (rank 0; the others wait)."""
    from darkedge.data.lists import open_dataset
    from darkedge.enhance.train import EnhancerJob, train_enhancer

    cfg = run.config
    metrics: dict[str, Any] = {}
    if d.is_main:
        job = EnhancerJob(  # what the checkpoint records: the run's data and seed, not the command's defaults
            data=cfg.data, video_root=cfg.video_root, out=str(run.path / "enhancer.pt"), seed=cfg.seed,
            enhancer=cfg.enhancer,
        )  # fmt: skip
        index = open_dataset(cfg.data, split="train", fold=cfg.fold, video_root=cfg.video_root)
        metrics = train_enhancer(index, job)
    barrier(d)
    return broadcast(d, metrics)


def _warm_start(student: nn.Module, teacher: nn.Module, source: Path) -> None:
    """student_init "teacher": the student starts from its teacher's classifier weights, which must fit it."""
    from darkedge.models.teacher import classifier_of
    from darkedge.models.weights import load_by_name

    try:
        load_by_name(student, classifier_of(teacher).state_dict(), source)
    except DarkedgeError as e:
        raise DarkedgeError(f"student_init 'teacher': {e}; set student_init=scratch") from None


def train_classifier_stage(run: Run, stage: str, resume: bool, d: Dist) -> dict[str, Any]:
    """Train one of teacher / student / raw / two_stream / self_train with the run's budget; returns its metrics.

    What each stage trains on is the run's to say (Run.training_data): the distilled stages (student; the
    self-training control, whose teacher is the raw baseline) also learn from the run's unlabelled footage (KL only,
    mixed into every batch at cfg.unlabeled_ratio), and so do the semi-supervised ones (TrainConfig.semi). The
    student distils from what the teacher guard chose (darkedge.train.guard).
    """
    from darkedge.data.views import view_for
    from darkedge.models import build_model, count_macs, count_parameters

    cfg = run.config
    teacher, source = None, None
    if stage == "student":
        source = distillation_source(run.metrics())
        teacher = source_model(run, source)
    elif (
        stage == "self_train"
    ):  # a raw-frame teacher of the student's architecture: it sees the student's view
        source = "raw"
        teacher = source_model(run, "raw")
    # Seeded right before the build (after the teacher is loaded, which draws random numbers too), so that the
    # student and the raw baseline start from the same initial weights: only the KL term tells them apart.
    torch.manual_seed(cfg.seed)
    if stage in ("teacher", "two_stream"):
        model, config = with_enhancer(stage, run)
    else:
        config = classifier_config(cfg, len(run.class_names), stage)
        model = build_model("classifier", config)
        if teacher is not None and cfg.student_init == "teacher":
            warm = "raw" if stage == "self_train" else "teacher"  # the weights of the model it distils
            _warm_start(model, load_stage(run, warm), run.checkpoint(warm))
    data = run.training_data(stage)
    if run.label_split() is not None:  # labels held back: the steps the whole split would give
        cfg = spread_budget(cfg, len(data.labelled), data.split_clips)
    semi = stage in cfg.semi_stages and data.unlabeled is not None
    metrics = fit(
        model,
        stage=stage,
        kind=STAGE_KINDS[stage],
        model_config=config,
        # every stage loads the teacher's clips; a student sees its view of them (darkedge.data.views)
        train_set=data.labelled,
        unlabeled_set=data.unlabeled_set,
        semi=semi,
        eval_set=run.dataset("test", stage),
        val_set=run.dataset("val", stage) if data.validated else None,
        class_names=run.class_names,
        protocol=run.protocol(stage),
        cfg=cfg if source != "both" else replace(cfg, hint=0.0),  # hints need one teacher's features
        run_dir=run.path,
        teacher=teacher,
        view=view_for(cfg, stage),
        resume=resume,
        d=d,
    )
    metrics.pop("history")
    metrics["labelled_clips"] = len(data.labelled)
    if cfg.refit and stage in REFIT_STAGES:
        metrics["refit"] = True  # its labelled clips include the validation clips
    if source is not None:
        metrics["distilled_from"] = source
    if semi:
        metrics["semi"] = True
    if data.unlabeled is not None:
        metrics["unlabeled"] = {
            "clips": data.unlabeled.clips,
            "files": len(data.unlabeled.files),
            "unreadable": [f"{path}: {why}" for path, why in data.unlabeled.unreadable],
        }
    model.cpu()
    feeding = cfg.feeding(stage)
    metrics["macs"] = count_macs(model, (1, 3, feeding.frames, feeding.crop, feeding.crop))
    metrics["params"] = count_parameters(model)
    enhancer = enhancer_state(run)[0]["name"] if stage in ("teacher", "two_stream") else None
    metrics["inference"] = ROWS[stage][1].format(enhancer=ENHANCER_NAMES.get(enhancer, enhancer))
    if stage in STUDENT_MODELS and config != classifier_config(cfg, len(run.class_names), "teacher"):
        width = f" x{config['width']:g}" if config["width"] != 1.0 else ""
        metrics["inference"] += f" ({config['encoder']}{width}, {feeding.frames} x {feeding.crop} px)"
    metrics["training"] = training_description(stage, cfg, metrics, config)
    return metrics


def guard_stage(run: Run, metrics: dict[str, Any], d: Dist) -> dict[str, Any]:
    """The teacher guard between the raw baseline and the student: which model the student distils from."""
    cfg = run.config

    def evaluate_both(model: torch.nn.Module) -> float:
        val_set = run.dataset("val", "teacher")
        workers = val_loader_workers(val_set, resolve_workers(cfg.workers, d.device))
        return validation_metrics(model.to(d.device), val_set, run.class_names, cfg.batch_size, workers, d)[
            "top1"
        ]

    decision = guard_teacher(run, metrics, evaluate_both)
    if d.is_main:
        log.info("teacher guard: the student distils from %s: %s", decision["source"], decision["why"])
    return decision


def say_distillation_source(metrics: dict[str, Any]) -> bool:
    """The end of `darkedge train`: what the student distilled from and why (the teacher guard's decision), and a
    warning when that was a teacher scoring below the raw baseline on validation (the guard off, say). True when it
    warned. Test scores play no part."""
    guard, student = metrics.get("guard"), metrics.get("student")
    if not guard or not student:
        return False
    log.info("the student distilled from %s: %s", guard["source"], guard["why"])
    teacher, raw = metrics.get("teacher", {}).get("val"), metrics.get("raw", {}).get("val")
    if guard["source"] != "teacher" or not teacher or not raw or teacher["top1"] >= raw["top1"]:
        return False
    log.warning(
        "the teacher (validation top-1 %.1f %%) scores below the raw baseline (%.1f %%) and the student distilled "
        "it: compare student against raw before deploying it, and label more clips if the teacher keeps losing",
        teacher["top1"],
        raw["top1"],
    )
    return True


def _record(run: Run, stage: str, stage_metrics: dict[str, Any]) -> dict[str, Any]:
    """Merge one stage's metrics into RUN/metrics.json and rewrite RUN/table.md; returns all metrics."""
    path = run.metrics_path
    metrics = read_json(path, default={})
    metrics.update({"data": run.config.data, "seed": run.config.seed, stage: stage_metrics})
    write_json(path, metrics)
    write_text(run.path / "table.md", results_table(metrics))
    return metrics


def _stage_done(run: Run, stage: str) -> bool:
    """A stage is finished when its checkpoint exists and no resume checkpoint is left beside it."""
    return (run.path / f"{stage}.pt").is_file() and not (run.path / stage / RESUME_FILE).is_file()


def train(
    *,
    out: str | Path = RUNS_DIR,
    preset: str | None = None,
    data: str | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    stage: str | None = None,
    video_root: str | None = None,
    run: str | Path | None = None,
    resume: bool = False,
    settings: dict[str, Any] | None = None,
    config_file: str | None = None,
) -> tuple[Path, str | None]:
    """Run the pipeline (or one `stage`) into a new run directory or an existing one; returns (run dir, table).

    A new run's config is the preset, changed by `config_file` (JSON), changed by `settings` (TrainConfig fields;
    `preset`, `data`, `video_root`, `seed` and `epochs` are shorthands for theirs). An existing run keeps its config but for
    config.RUN_SETTINGS. The table is None on ranks other than 0 under torchrun. With `resume`, finished stages are
    skipped and an interrupted one continues from its last epoch checkpoint.
    """
    if stage is not None and stage not in STAGES:
        raise DarkedgeError(f"--stage {stage}: no such stage (choose from {', '.join(STAGES)})")
    shorthands = dict(preset=preset, data=data, video_root=video_root, seed=seed, epochs=epochs)
    settings = merge_settings(TrainConfig, shorthands, settings or {})
    if "preset" in settings:
        check_preset(settings["preset"])  # an unknown preset is refused before anything is written
    d = init_distributed()
    try:
        the_run = _open_or_create(
            out=Path(out),
            run=Path(run) if run else None,
            resume=resume,
            settings=settings,
            config_file=config_file,
            d=d,
        )
        if d.is_main:
            log.info("run directory: %s", the_run.path)
        metrics: dict[str, Any] = {}
        for name in [stage] if stage else DEFAULT_STAGES:
            if resume and _stage_done(the_run, name):
                continue
            if name == "enhancer":
                stage_metrics = train_enhancer_stage(the_run, d)
            elif name == "student":
                so_far = the_run.metrics()
                if not (resume and "guard" in so_far):  # a resumed student keeps what it was distilling
                    guard = guard_stage(the_run, so_far, d)
                    if d.is_main:
                        _record(the_run, "guard", guard)
                    barrier(d)
                stage_metrics = train_classifier_stage(the_run, name, resume, d)
            else:
                stage_metrics = train_classifier_stage(the_run, name, resume, d)
            if d.is_main:
                metrics = _record(the_run, name, stage_metrics)
        barrier(d)
        if not d.is_main:
            return the_run.path, None
        path = the_run.metrics_path
        metrics = read_json(path, default=metrics)
        say_distillation_source(metrics)
        return the_run.path, results_table(metrics)
    finally:
        shutdown_distributed(d)
