"""The ``visionflow`` command line. Subcommands import heavy modules only when they run.

Exit status of ``run``, ``infer`` and ``demo`` (:data:`EXIT_STATUS_HELP`): 0 when every source
and every output ran to the end; 1 on an error — nothing could be processed (every source failed
before a frame came through, or every output failed) or an element failed; 2 for an invalid
config or command line; 3 when some sources or outputs failed and the rest ran to the end;
128 + N when signal N stopped the run after draining it (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
"""

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
    from visionflow.core.pipeline import PipelineReport

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_PARTIAL = 3
EXIT_STATUS_HELP = (
    "\b\nExit status:\n"
    "  0  every source and every output ran to the end\n"
    "  1  error: nothing could be processed (every source or every output failed),\n"
    "     or an element failed\n"
    "  2  invalid config or command line\n"
    "  3  partial: some sources or outputs failed, the rest ran to the end\n"
    "  128+N  stopped by signal N after draining (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)"
)

app = typer.Typer(
    name="visionflow",
    help="DeepStream-style video analytics in Python: decode, batch, infer, draw, publish.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich help shows every flag as taking a "<bool>" value.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from visionflow import __version__

        typer.echo(f"visionflow {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """DeepStream-style video analytics in Python: decode, batch, infer, draw, publish."""


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


@app.command(epilog=EXIT_STATUS_HELP)
def run(
    pipeline: Annotated[
        Path, typer.Argument(help="A visionflow pipeline YAML or a deepstream-app config.")
    ],
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log debug messages too.")
    ] = False,
    api: Annotated[
        str | None,
        typer.Option(
            help="Serve the REST API, /metrics (and --view) on HOST:PORT while the pipeline "
            "runs (docs/serve.md); the config's api group does too."
        ),
    ] = None,
    api_token: Annotated[
        str | None,
        typer.Option(help="Token every API request must carry (env VISIONFLOW_API_TOKEN)."),
    ] = None,
    view: Annotated[
        bool, typer.Option("--view", help="Serve the live view at /view (starts the API).")
    ] = False,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run on Ray workers (docs/cluster.md): a Ray started on this machine for the "
            "run, or the cluster at --ray-address.",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="The Ray cluster to join with --ray: auto, HOST:PORT or ray://HOST:10001."
        ),
    ] = None,
) -> None:
    """Run a pipeline file."""
    _setup_logging(verbose)
    if ray or ray_address is not None:
        from visionflow.cluster.cli import run_cluster

        raise typer.Exit(
            run_cluster(pipeline, ray_address or "local", api=api, token=api_token, view=view)
        )
    _serve_file(pipeline, progress, api=api, token=api_token, view=view, keep_alive=False)


@app.command(epilog=EXIT_STATUS_HELP)
def serve(
    pipeline: Annotated[
        Path, typer.Argument(help="A visionflow pipeline YAML or a deepstream-app config.")
    ],
    api: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT to listen on (default: the config's api group, else 127.0.0.1:9000)."
        ),
    ] = None,
    api_token: Annotated[
        str | None,
        typer.Option(help="Token every API request must carry (env VISIONFLOW_API_TOKEN)."),
    ] = None,
    view: Annotated[bool, typer.Option("--view", help="Serve the live view at /view.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log debug messages too.")
    ] = False,
) -> None:
    """Run a pipeline as a service: streams join and leave through the REST API, and it runs
    until Ctrl-C, SIGTERM or POST /api/v1/app/quit, also when no stream is left."""
    _setup_logging(verbose)
    from visionflow.core.heap import limit_arenas

    limit_arenas(2)  # memory stays flat as streams come and go (core/heap.py)
    _serve_file(pipeline, False, api=api or "", token=api_token, view=view, keep_alive=True)


def _serve_file(
    pipeline: Path,
    progress: bool,
    *,
    api: str | None,
    token: str | None,
    view: bool,
    keep_alive: bool,
) -> None:
    """Run a pipeline file, with its API when asked (``api`` not None, the config's ``api``
    group, or ``view``)."""
    from visionflow.app import App, load_config
    from visionflow.errors import ConfigError

    try:
        config = load_config(pipeline)
    except ConfigError as exc:
        _fail(str(exc), EXIT_INVALID)
    if api is None and config.api is None and not view:
        _run_app(lambda: App.from_config(config, keep_alive=keep_alive), progress)
        return
    from visionflow.serve import parse_address, resolve_token, run_with_api

    settings = config.api
    host = settings.host if settings is not None else "127.0.0.1"
    port = settings.port if settings is not None else 9000
    if api:
        try:
            host, port = parse_address(api, port)
        except ValueError as exc:
            _fail(f"--api: {exc}", EXIT_INVALID)
    secret = resolve_token(token, settings.token if settings is not None else None)
    show = view or (settings is not None and settings.view)

    def run_served(built: App, show_progress: bool) -> PipelineReport:
        return run_with_api(
            built, host=host, port=port, token=secret, view=show, progress=show_progress
        )

    _run_app(lambda: App.from_config(config, keep_alive=keep_alive), progress, run_served)


@app.command(epilog=EXIT_STATUS_HELP)
def infer(
    config: Annotated[
        list[str],
        typer.Option(
            "--config",
            "-c",
            help="Model config: visionflow YAML, DeepStream nvinfer file or a model-zoo name "
            "(visionflow models list); repeat for secondary models, primary first.",
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
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log debug messages too.")
    ] = False,
) -> None:
    """Run one model over one or more inputs, writing an annotated video and/or metadata.

    Without --output and --meta nothing is written (a warning says so): the run only counts
    frames, e.g. to measure speed.
    """
    _setup_logging(verbose)
    if output is None and meta is None:
        typer.echo(
            "warning: neither --output nor --meta given: nothing will be written "
            "(the run only counts frames)",
            err=True,
        )
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
        infer=[
            InferStageConfig(config=path, device=device, batch_size=batch_size)
            for path in _model_configs(config)
        ],
        osd=OSDConfig() if output is not None else None,
        tiler=TilerConfig() if output is not None and len(inputs) > 1 else None,
        sinks=sinks or [SinkConfig(type="fake")],
        # a CUDA device decodes and batches there too (NVDEC where it works)
        device=device.lower() if device.lower().startswith("cuda") else "cpu",
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


@app.command(epilog=EXIT_STATUS_HELP)
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
    raise typer.Exit(_exit_status(result.report))


def _register_model_tools() -> None:
    """``convert``, ``bench`` and ``prune`` live with the model tools (heavy imports are lazy);
    ``models`` with the zoo."""
    from visionflow.convert.cli import bench, convert
    from visionflow.convert.prune_cli import prune
    from visionflow.zoo.cli import models_app

    app.command()(convert)
    app.command()(bench)
    app.command()(prune)
    app.add_typer(models_app)


def _model_configs(values: list[str]) -> list[Path]:
    """``--config`` values → config files: a zoo name gives its entry's configs (a chain: one
    per stage); exit 2 naming the pip command when its package is not installed."""
    from visionflow.errors import ModelNotFoundError
    from visionflow.zoo.catalog import stage_configs

    try:
        return [path for value in values for path in stage_configs(value)]
    except ModelNotFoundError as exc:
        _fail(str(exc), EXIT_INVALID)
        raise


_register_model_tools()


def _run_app(
    build: Callable[[], App],
    progress: bool,
    run: Callable[[App, bool], PipelineReport] | None = None,
) -> None:
    """Build and run an app (with ``run(app, progress)`` when given); exit with the status
    :data:`EXIT_STATUS_HELP` describes."""
    from visionflow.errors import ConfigError, VisionflowError

    try:
        built = build()
    except ConfigError as exc:
        _fail(str(exc), EXIT_INVALID)
    except VisionflowError as exc:
        _fail(str(exc))
    try:
        report = built.run(progress=progress) if run is None else run(built, progress)
    except VisionflowError as exc:
        _fail(str(exc))
    _print_report(report)
    raise typer.Exit(_exit_status(report))


def _exit_status(report: PipelineReport) -> int:
    """The exit status of a run, with a last line saying why when it is not 0."""
    if report.stop_signal is not None:
        return 128 + report.stop_signal
    failed_sources = len(report.source_failures)
    failed_sinks = len(report.sink_failures)
    what = []
    if failed_sources:
        what.append(f"{failed_sources} of {report.num_sources} sources failed")
    if failed_sinks:
        what.append(f"{failed_sinks} of {len(report.sinks)} outputs failed")
    if report.outcome == "failed":
        every_output = bool(report.sinks) and len({f.name for f in report.sink_failures}) >= len(
            report.sinks
        )
        headline = "every output failed" if every_output else "nothing could be processed"
        typer.echo(f"error: {headline}: {'; '.join(what)}", err=True)
        return EXIT_FAILED
    if report.outcome == "partial":
        typer.echo(
            f"warning: {'; '.join(what)}; the rest ran to the end (exit status {EXIT_PARTIAL})",
            err=True,
        )
        return EXIT_PARTIAL
    return 0


def _print_report(report: PipelineReport) -> None:
    from rich.console import Console
    from rich.table import Table

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
    if report.host_copies:
        console.print(f"frames copied from the GPU to the host: {report.host_copies}")
    for name, figures in report.outputs.items():
        console.print(f"output '{name}': " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    # The errors themselves were logged when they happened: name what failed, once.
    for source in report.source_failures:
        console.print(f"[red]failed:[/red] source #{source.source_id} ({source.uri})")
    for sink in report.sink_failures:
        console.print(f"[red]failed:[/red] output '{sink.name}'")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
