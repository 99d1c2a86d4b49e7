"""``visionflow models list | show NAME``: the model zoo on the command line.

Registered on the main command by :mod:`visionflow.cli`; it imports nothing heavy (the catalog
reads YAML cards; no model is loaded).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
import yaml

models_app = typer.Typer(
    name="models",
    help="The model zoo: pre-trained models that run offline, with cards and ready configs.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@models_app.command("list")
def list_models(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the zoo: name, task, source, and whether it can run here (else how to install it)."""
    from visionflow.zoo.catalog import CATALOG

    rows: list[dict[str, Any]] = [
        {
            "name": e.name,
            "task": e.task,
            "source": e.source,
            "available": e.available,
            "install": None if e.available else e.install,
            "summary": e.summary,
        }
        for e in CATALOG.values()
    ]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(len(e.name) for e in CATALOG.values())
    task_width = max(len(e.task) for e in CATALOG.values())
    for r in rows:
        state = "available" if r["available"] else f"unavailable: {r['install']}"
        typer.echo(f"{r['name']:<{width}}  {r['task']:<{task_width}}  {r['source']}  ({state})")
        typer.echo(f"{'':<{width}}  {r['summary']}")


@models_app.command("show")
def show_model(
    name: Annotated[str, typer.Argument(help="A zoo entry (visionflow models list).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print a model card, where its weights are and the config(s) to run it with."""
    from visionflow.errors import ModelNotFoundError
    from visionflow.zoo.catalog import entry

    try:
        zoo = entry(name)
    except ModelNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    info: dict[str, Any] = {
        "name": zoo.name,
        "task": zoo.task,
        "source": zoo.source,
        "available": zoo.available,
        "install": zoo.install,
        "configs": [str(p) for p in zoo.stage_configs()],
    }
    reason = zoo.unavailable_reason()
    if reason is not None:
        info["unavailable"] = reason
    elif zoo.weights is not None:
        info["weights"] = str(zoo.weights_path())
    info["card"] = zoo.card_data()
    if json_output:
        typer.echo(json.dumps(info, indent=2, default=str))
        return
    typer.echo(f"{zoo.name} — {zoo.summary}")
    typer.echo(f"task:      {zoo.task}")
    typer.echo(f"source:    {zoo.source}")
    if reason is not None:
        typer.echo(f"status:    unavailable — {reason}")
    elif "weights" in info:
        typer.echo(f"weights:   {info['weights']}")
    for i, path in enumerate(info["configs"]):
        typer.echo(f"{'config:' if i == 0 else '':<10} {path}")
    run = f"visionflow infer --config {zoo.name} --input IMAGE_OR_VIDEO --meta out.jsonl"
    typer.echo(f"run:       {run}")
    typer.echo("card:")
    card = yaml.safe_dump(info["card"], sort_keys=False, allow_unicode=True, width=96)
    typer.echo("".join(f"  {line}\n" for line in card.splitlines()))
