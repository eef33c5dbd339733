"""The ``train`` command line: a thin layer over ``train.sft``, ``train.dpo``,
``train.kto``, ``train.orpo``, ``train.simpo``, ``train.reward`` and ``train.merge``.

Nothing heavy is imported until a command runs, so ``train --help`` answers at once and
without torch. Library errors become messages and exit codes in ``main``, by the same
function as in ``dataprep`` (``dataprep.boundary.run_group``): 0 all good, 1 the data (or the
run) has a problem, 2 the command was used wrongly. ``accelerate launch -m train sft ...``
runs the same commands on every process.
"""

from __future__ import annotations

import logging
import shlex
import sys
import warnings
from collections.abc import Callable
from typing import Any

import click


class TrainGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        from train.checkpoints import RunFinished

        try:
            return super().invoke(ctx)
        except RunFinished as e:  # `--resume` of a finished run: nothing to do is success
            from train import say

            say(str(e))
            return 0


@click.group(cls=TrainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dataprep")
def cli() -> None:
    """Fine-tune on data that `dataprep prepare` wrote, with TRL underneath.

    \b
    A typical session:
      train sft prepared/ --model samples/tiny-model -o run/          LoRA by default
      train sft prepared/ --model ./base --qlora -o run/ --set num_train_epochs=2
      train dpo prepared-dpo/ --model ./base -o run-dpo/ --config train/configs/dpo_lora.yaml
      train kto prepared-kto/ --model ./base -o run-kto/ --config train/configs/kto_lora.yaml
      train orpo prepared-dpo/ --model ./base -o run-orpo/                no reference model
      train simpo prepared-dpo/ --model ./base -o run-simpo/ --set simpo_gamma=0.5
      train reward prepared-dpo/ --model ./base -o run-rm/                a reward model
      train eval run/ --data prepared/ --generate 10                  loss, perplexity, answers
      train merge run/ -o merged/                                      a model that loads alone
      train check train/configs/sft_lora.yaml                          a config, without training

    \b
    Several GPUs, the same commands under accelerate:
      accelerate launch --config_file train/configs/accelerate_ddp.yaml -m train sft ...

    Exit codes: 0 all good, 1 the data or the run has a problem, 2 the command was used wrongly.
    """


def training_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every training command (`train sft`, `dpo`, `kto`, `orpo`, ...) shares."""
    options = [
        click.argument("data", metavar="DIR", type=click.Path()),
        click.option(
            "--model",
            "-m",
            help="Base model: a folder or a Hugging Face name (cached; no downloads).",
        ),
        click.option(
            "-o",
            "--output",
            help="Folder for checkpoints and the result (adapter or model, tokenizer, config, manifest).",
        ),
        click.option(
            "--tokenizer",
            help="Tokenizer folder, when the model's folder has none (checked against the data's).",
        ),
        click.option(
            "--lora",
            "mode",
            flag_value="lora",
            help="LoRA adapter (the default): r 16, alpha 32, no dropout, all linear layers.",
        ),
        click.option(
            "--qlora",
            "mode",
            flag_value="qlora",
            help="LoRA on a 4-bit NF4 base model (bitsandbytes).",
        ),
        click.option("--full", "mode", flag_value="full", help="Train every weight."),
        click.option("--lora-r", type=int, help="LoRA rank (default 16)."),
        click.option("--lora-alpha", type=int, help="LoRA scale numerator (default 32)."),
        click.option(
            "--lora-dropout",
            type=float,
            help="LoRA dropout (default 0, as in peft and LLaMA-Factory; 0.05 costs ~7% of an 8B step).",
        ),
        click.option(
            "--lora-target",
            multiple=True,
            help="A module to adapt; repeat it (default: all-linear).",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(),
            help="YAML config: our keys plus any TRL config field.",
        ),
        click.option(
            "--set",
            "sets",
            multiple=True,
            metavar="KEY=VALUE",
            help="Override a config key (YAML value); repeatable: --set learning_rate=1e-4 --set lora.r=8.",
        ),
        click.option(
            "--resume",
            is_flag=True,
            help="Continue from the newest complete checkpoint in the output folder (same data order and step).",
        ),
        click.option(
            "--plot",
            type=click.Path(dir_okay=False),
            metavar="FILE.png",
            help="Draw the training and eval loss curves into this PNG at the end.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def run_config(config_file: str | None, sets: tuple[str, ...], **flags: Any) -> Any:
    """The run's config from the file, the flags and ``--set``; its ``report_to``
    backends checked installed before anything is loaded."""
    from train.config import load_run_config
    from train.reporting import check_report_to

    lora_target = list(flags["lora_target"]) or None
    run = load_run_config(
        config_file,
        sets,
        {
            "model": (flags["model"], "--model"),
            "tokenizer": (flags["tokenizer"], "--tokenizer"),
            "mode": (flags["mode"], f"--{flags['mode']}"),
            "lora.r": (flags["lora_r"], "--lora-r"),
            "lora.alpha": (flags["lora_alpha"], "--lora-alpha"),
            "lora.dropout": (flags["lora_dropout"], "--lora-dropout"),
            "lora.target_modules": (lora_target, "--lora-target"),
        },
    )
    check_report_to(run)
    if flags.get("plot"):
        from train.summary import check_plot_path

        check_plot_path(flags["plot"])
        run.plot = flags["plot"]
    return run


def output_folder(output: str | None, run: Any) -> str:
    from dataprep.errors import UsageError

    output = output or run.trl.get("output_dir")
    if not output:
        raise UsageError("where should the run go? pass -o OUT (or `output_dir:` in the config)")
    return output


def quiet_libraries() -> None:
    """Silence notices that are noise to the user: bitsandbytes asking for a kernels
    package that only speeds up 4-bit matmuls on some CPUs, and a dependency's deprecation."""
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # peft reads an attribute transformers 5 deprecated; nothing the user can act on.
    warnings.filterwarnings(
        "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
    )


def command_line(ctx: click.Context) -> str:
    argv = (ctx.obj or {}).get("argv")
    return shlex.join(["train", *argv]) if argv else f"train {ctx.info_name}"


def training_command(name: str, short_help: str, runner: str, help_text: str) -> None:
    """Register ``train NAME``: the options every method takes (``training_options``), the
    run's config from them, then ``runner`` ("module:function", imported only when the
    command runs) on the data, the config and the output folder."""

    @cli.command(name=name, short_help=short_help, help=help_text)
    @training_options
    @click.pass_context
    def command(
        ctx: click.Context,
        data: str,
        output: str | None,
        resume: bool,
        config_file: str | None,
        sets: tuple[str, ...],
        **flags: Any,
    ) -> None:
        import importlib

        quiet_libraries()
        run = run_config(config_file, sets, **flags)
        module, _, function = runner.partition(":")
        train_method = getattr(importlib.import_module(module), function)
        train_method(
            data, run, output_folder(output, run), resume=resume, command=command_line(ctx)
        )
        ctx.exit(0)


training_command(
    "sft",
    "Supervised fine-tuning on prepared SFT data (LoRA, QLoRA or full).",
    "train.sft:run_sft",
    """Supervised fine-tuning on prepared SFT data (DIR from `dataprep prepare`).

    The data is used as prepared: its labels, its packing (documents kept apart), its
    length policy. The model's tokenizer must be the one the data was prepared with.

    Weights: a full fine-tune keeps fp32 master weights with bf16 autocast, as TRL does;
    `--set model_dtype=bfloat16` loads them in bf16: about 10% faster and 19 GiB less for
    a 1B model, but updates smaller than bf16's resolution are lost. On a GPU, activation
    checkpointing (about a fifth slower, most activation memory saved) is on only when an
    estimate of the run's memory (model, batch, longest row) says it would not fit
    without it, and bf16 weights only when fp32 masters would not fit even with it; the
    first line says what was chosen and why. `--set activation_checkpointing=...` and
    `--set model_dtype=...` decide instead.

    \b
    Examples:
      train sft prepared/ --model samples/tiny-model -o run/ --set max_steps=30
      train sft prepared/ --model ./base --qlora -o run/ --config train/configs/sft_qlora.yaml
      train sft prepared/ --model ./base -o run/ --resume         continue after a crash
    """,
)


training_command(
    "dpo",
    "Preference optimisation (DPO) on prepared DPO data.",
    "train.dpo:run_dpo",
    """Direct preference optimisation on prepared DPO data (prompt, chosen, rejected ids).

    The reference model is the base with the adapter switched off (LoRA, QLoRA) or a
    frozen copy (--full); `--set precompute_ref_log_probs=true` computes its
    log-probabilities once, before training, instead. Weights and activation
    checkpointing follow the same defaults as `train sft` (`--set model_dtype=...`).

    \b
    Examples:
      train dpo prepared-dpo/ --model samples/tiny-model -o run-dpo/ --set max_steps=20
      train dpo prepared-dpo/ --model ./sft-merged -o run-dpo/ --set beta=0.05
    """,
)


training_command(
    "kto",
    "Kahneman-Tversky optimisation (KTO) on prepared KTO data.",
    "train.kto:run_kto",
    """KTO on prepared KTO data (prompt, completion ids and a desirable/undesirable label).

    Each answer is pushed up or down on its own, with no pair needed; the KL term is
    estimated from each prompt with its neighbour's answer, so batches hold 2 rows or
    more. The rows are shuffled once (seeded by `seed`) and trained in that order. The
    reference model is as for `train dpo` (`--set precompute_ref_log_probs=true` too);
    `--set desirable_weight=...` / `undesirable_weight=...` balance unequal label counts.

    \b
    Examples:
      train kto prepared-kto/ --model samples/tiny-model -o run-kto/ --set max_steps=20
      train kto prepared-kto/ --model ./sft-merged -o run-kto/ --set beta=0.05
    """,
)


training_command(
    "orpo",
    "Odds-ratio preference optimisation (ORPO) on prepared DPO data.",
    "train.orpo:run_orpo",
    """ORPO on prepared DPO data (prompt, chosen, rejected ids): SFT on the chosen answers
    and an odds-ratio preference term in one loss, with no reference model.

    `--set beta=...` weighs the odds-ratio term (TRL's default 0.1). Weights and activation
    checkpointing follow the same defaults as `train sft`.

    \b
    Examples:
      train orpo prepared-dpo/ --model samples/tiny-model -o run-orpo/ --set max_steps=20
      train orpo prepared-dpo/ --model ./base --qlora -o run-orpo/ --set beta=0.2
    """,
)


training_command(
    "simpo",
    "Simple preference optimisation (SimPO) on prepared DPO data.",
    "train.simpo:run_simpo",
    """SimPO on prepared DPO data: the chosen answer's mean log-probability per token must
    beat the rejected one's by a margin, with no reference model (TRL's CPO trainer).

    Defaults: beta 2.0 and simpo_gamma 1.0 (the SimPO paper's scale), cpo_alpha 0 (pure
    SimPO; a positive value adds CPO's NLL term on the chosen answers).

    \b
    Examples:
      train simpo prepared-dpo/ --model samples/tiny-model -o run-simpo/ --set max_steps=20
      train simpo prepared-dpo/ --model ./sft-merged -o run-simpo/ --set beta=2.5 --set simpo_gamma=1.4
    """,
)


training_command(
    "reward",
    "A reward model from prepared DPO data (preference pairs).",
    "train.reward:run_reward",
    """A reward model from prepared DPO data: the model with a one-output head that scores
    prompt + answer, trained so the chosen answer scores above the rejected one.

    The head is new (random) unless --model already is a reward model; with LoRA it trains
    in full beside the adapter and is saved with it. `--set center_rewards_coefficient=0.01`
    keeps the scores near zero.

    \b
    Examples:
      train reward prepared-dpo/ --model samples/tiny-model -o run-rm/ --set max_steps=20
      train reward prepared-dpo/ --model ./base --full -o run-rm/ --set num_train_epochs=1
    """,
)


@cli.command(short_help="Merge a LoRA adapter into its base model.")
@click.argument("adapter", metavar="ADAPTER", type=click.Path())
@click.option(
    "-o", "--output", required=True, help="Folder for the merged model and its tokenizer."
)
@click.option(
    "--base", help="Base model, when the adapter's base_model_name_or_path is not where it was."
)
@click.option(
    "--dtype",
    type=click.Choice(["auto", "bfloat16", "float16", "float32"]),
    default="auto",
    show_default=True,
    help="The merged weights' dtype; auto keeps the dtype the base was stored in.",
)
@click.pass_context
def merge(ctx: click.Context, adapter: str, output: str, base: str | None, dtype: str) -> None:
    """Merge a LoRA adapter (a `train sft`/`dpo`/`kto` output) into its base model.

    The result loads with `AutoModelForCausalLM.from_pretrained(OUT)` alone, and holds
    the tokenizer, the training config, the data's manifest and a model card (README.md)
    naming the base model, the method and the data.

    \b
    Examples:
      train merge run/ -o merged/
      train merge run/ -o merged-bf16/ --dtype bfloat16
    """
    quiet_libraries()
    from train.merge import merge_adapter

    merge_adapter(adapter, output, base=base, dtype=dtype)
    ctx.exit(0)


@cli.command(
    "eval", short_help="Loss, perplexity, preference accuracy; answers to held-out prompts."
)
@click.argument("target", metavar="RUN_OR_MODEL")
@click.option(
    "--data", required=True, type=click.Path(), help="A prepared folder (`dataprep prepare`)."
)
@click.option(
    "--split",
    type=click.Choice(["eval", "train", "all"]),
    help="Which split [default: eval when there is one, else train].",
)
@click.option("--batch-size", type=int, default=8, show_default=True, help="Sequences per batch.")
@click.option(
    "--base", help="Base model of an adapter, when its base_model_name_or_path is not where it was."
)
@click.option(
    "--reference",
    help="Reference model for preference rewards [default: an adapter's base; a full run's start].",
)
@click.option(
    "--generate",
    type=int,
    default=0,
    metavar="N",
    help="Also write greedy answers to N held-out prompts beside their references (JSONL).",
)
@click.option("--max-new-tokens", type=int, default=256, show_default=True)
@click.option(
    "--generate-out",
    type=click.Path(dir_okay=False),
    help="Where the answers go [default: beside -o, else ./generations.jsonl].",
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the figures as JSON.")
def evaluate(
    target: str,
    data: str,
    split: str | None,
    batch_size: int,
    base: str | None,
    reference: str | None,
    generate: int,
    max_new_tokens: int,
    generate_out: str | None,
    output: str | None,
) -> None:
    """Evaluate a run (adapter or model folder) or any model on prepared data.

    SFT data: loss and perplexity over the trained tokens, each packed document on its
    own. DPO data: preference accuracy, and with a reference TRL's rewards/chosen,
    rewards/rejected, rewards/margins, rewards/accuracies. KTO data: log-probabilities of
    desirable and undesirable answers, rewards and KL. A table on stdout; `-o` writes JSON.

    \b
    Examples:
      train eval run/ --data prepared/
      train eval run/ --data prepared/ --split all -o metrics.json --generate 20
      train eval ./merged --data prepared-dpo/ --reference ./base
    """
    quiet_libraries()
    from train.evaluate import evaluate as run_eval
    from train.evaluate import format_report

    if generate < 0 or max_new_tokens < 1:
        from dataprep.errors import UsageError

        raise UsageError("--generate takes 0 or more prompts, --max-new-tokens 1 or more")
    report = run_eval(
        target,
        data,
        split=split,
        batch_size=batch_size,
        base=base,
        reference=reference,
        generate=generate,
        max_new_tokens=max_new_tokens,
        generate_out=generate_out,
        output=output,
    )
    click.echo(format_report(report))


@cli.command(short_help="Validate a config without training.")
@click.argument("config_file", metavar="CONFIG", type=click.Path())
@click.option(
    "--kind",
    type=click.Choice(["sft", "dpo", "kto", "orpo", "simpo", "reward"]),
    help="Which trainer, when the config has no `kind:`.",
)
@click.option(
    "--data",
    type=click.Path(),
    help="A prepared folder: also check the config against its manifest.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key, as in `train sft`.",
)
@click.pass_context
def check(
    ctx: click.Context, config_file: str, kind: str | None, data: str | None, sets: tuple[str, ...]
) -> None:
    """Validate a config without training: our keys, then TRL's own checks.

    \b
    Examples:
      train check train/configs/sft_lora.yaml
      train check my.yaml --kind dpo --data prepared-dpo/
      train check my.yaml --kind reward --data prepared-dpo/
    """
    quiet_libraries()
    from train.check import check_config

    click.echo(check_config(config_file, kind=kind, data=data, sets=sets))
    ctx.exit(0)


def main(argv: list[str] | None = None) -> None:
    from dataprep.boundary import run_group

    argv = sys.argv[1:] if argv is None else argv
    run_group(
        cli,
        "train",
        argv,
        obj={"argv": argv},
        interrupted="Interrupted (the last checkpoint is kept: rerun with --resume).",
    )
