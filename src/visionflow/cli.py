"""The ``visionflow`` command line. Subcommands import heavy modules only when they run."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from visionflow.app import App

app = typer.Typer(
    name="visionflow",
    help="DeepStream-style video analytics in Python: decode, batch, infer, draw, publish.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_INVALID = 2


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def doctor(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print versions, backends, devices and codecs (paste it into bug reports)."""
    from visionflow import doctor as doc

    info = doc.collect()
    typer.echo(json.dumps(info, indent=2) if json_output else doc.render(info))


@app.command()
def run(
    pipeline: Annotated[
        Path, typer.Argument(help="A visionflow pipeline YAML or a deepstream-app config.")
    ],
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a pipeline file."""
    _setup_logging(verbose)
    from visionflow.app import load_app

    _run_app(lambda: load_app(pipeline), progress)


@app.command()
def infer(
    config: Annotated[
        Path,
        typer.Option(
            "--config", "-c", help="Model config: visionflow YAML or DeepStream nvinfer file."
        ),
    ],
    inputs: Annotated[
        list[str],
        typer.Option(
            "--input", "-i", help="Video, image, folder or URI; repeat for several streams."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Annotated video (MP4).")
    ] = None,
    meta: Annotated[
        Path | None, typer.Option("--meta", "-m", help="Metadata as JSON Lines.")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N …")] = "cpu",
    batch_size: Annotated[int | None, typer.Option(help="Streammux and model batch size.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run one model over one or more inputs, writing an annotated video and/or metadata."""
    _setup_logging(verbose)
    from visionflow.app import App
    from visionflow.config.pipeline import (
        InferStageConfig,
        OSDConfig,
        PipelineConfig,
        SinkConfig,
        SourceConfig,
        StreamMuxConfig,
        TilerConfig,
    )

    sinks = []
    if meta is not None:
        sinks.append(SinkConfig(type="jsonl", path=meta))
    if output is not None:
        sinks.append(SinkConfig(type="video", path=output))
    cfg = PipelineConfig(
        sources=[SourceConfig(uri=u) for u in inputs],
        streammux=StreamMuxConfig(batch_size=batch_size),
        infer=[InferStageConfig(config=config, device=device, batch_size=batch_size)],
        osd=OSDConfig() if output is not None else None,
        tiler=TilerConfig() if output is not None and len(inputs) > 1 else None,
        sinks=sinks or [SinkConfig(type="fake")],
    )
    _run_app(lambda: App.from_config(cfg), progress)


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="Any visionflow or DeepStream config file.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
) -> None:
    """Check a config file: exit 0 when valid, 2 when invalid (with the precise message)."""
    from visionflow.validate import validate_file

    report = validate_file(config)
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(report.render())
    raise typer.Exit(0 if report.valid else EXIT_INVALID)


@app.command()
def demo(
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where to write the results.")
    ] = Path("visionflow-demo"),
    frames: Annotated[int, typer.Option(help="Length of the generated clip, in frames.")] = 240,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Detect objects in a generated clip with the bundled model: annotated.mp4 + metadata.jsonl."""
    _setup_logging(False)
    from visionflow.demo import run_demo

    result = run_demo(output_dir, num_frames=frames, progress=progress)
    _print_report(result.report)
    typer.echo(f"annotated video: {result.video}")
    typer.echo(f"metadata:        {result.metadata}")
    typer.echo(f"objects found:   {result.objects} in {result.report.frames_out} frames")


def _register_model_tools() -> None:
    """``convert``, ``bench`` and ``prune`` live with the model tools (heavy imports are lazy)."""
    from visionflow.convert.cli import bench, convert
    from visionflow.convert.prune_cli import prune

    app.command()(convert)
    app.command()(bench)
    app.command()(prune)


_register_model_tools()


def _run_app(build: Callable[[], App], progress: bool) -> None:
    """Build and run an app; exit 2 on an invalid config, 1 on a failure, 130 when interrupted."""
    from visionflow.errors import ConfigError, VisionflowError

    try:
        built = build()
    except ConfigError as exc:
        _fail(str(exc), EXIT_INVALID)
    try:
        report = built.run(progress=progress)
    except VisionflowError as exc:
        _fail(str(exc))
    _print_report(report)
    if report.interrupted:
        raise typer.Exit(130)


def _print_report(report: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from visionflow.core.pipeline import PipelineReport

    if not isinstance(report, PipelineReport):
        return
    console = Console(stderr=True)
    table = Table(
        title=f"{report.frames_out} frames in {report.elapsed_s:.1f} s ({report.fps:.1f} fps)"
    )
    for column in ("stream", "frames", "fps", "latency p50 ms", "latency p95 ms"):
        table.add_column(column, justify="right")
    for s in report.streams:
        table.add_row(
            str(s.source_id),
            str(s.frames),
            f"{s.fps:.1f}",
            f"{s.latency_p50_ms:.1f}",
            f"{s.latency_p95_ms:.1f}",
        )
    console.print(table)
    for reason, count in report.drops.items():
        console.print(f"dropped {count} frames: {reason}")
    for failure in report.source_failures:
        console.print(
            f"[red]source #{failure.source_id} {failure.uri} failed:[/red] {failure.error}"
        )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
