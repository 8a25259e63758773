"""The ``vfx-double`` command. The only module that turns errors into exit codes.

Exit 0 on success, 2 on bad input (config, media, licence; and usage errors), 1 on an
internal error. Every error is one line on stderr.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click
from tqdm import tqdm

from . import __version__
from .cli_shot import COMMANDS as SHOT_COMMANDS
from .cli_shot import KEYRING_HELP
from .cli_verify import verify
from .errors import TRAIN_STOPPED, VfxDoubleError
from .progress import PlainProgress

DEBUG_ENV = "VFX_DOUBLE_DEBUG"


@contextmanager
def progress_bar(total: int, desc: str, unit: str = "frame") -> Iterator[tqdm | PlainProgress]:
    # On a terminal tqdm's bar; elsewhere (farm logs, pipes) a plain line every 30 s, since
    # tqdm hides itself there and a long track or train would print nothing for minutes.
    if not sys.stderr.isatty():
        with PlainProgress(total, desc, unit) as plain:
            yield plain
        return
    with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True) as bar:
        yield bar


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD, found {value!r}", param_hint=name) from None


def recorded(command):  # type: ignore[no-untyped-def]
    """Leave a task record (vfx_double.tasks: exit status, wall, CPU and GPU time) for every
    run of a stage command, however it ends; the exit status is the one main() returns."""
    import functools

    @functools.wraps(command)
    def wrapper(config: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        from . import tasks

        start, code, error = tasks.begin(), 1, ""
        try:
            result = command(config, *args, **kwargs)
            code = result if isinstance(result, int) else 0
            return result
        except VfxDoubleError as err:
            code, error = err.exit_code, err.one_line()
            raise
        except (KeyboardInterrupt, click.exceptions.Abort):
            code, error = 130, "interrupted"
            raise
        except Terminated:
            code, error = 143, "terminated (SIGTERM)"
            raise
        except Exception as err:
            error = f"internal error: {type(err).__name__}: {err}"
            raise
        finally:
            tasks.finish(command.__name__, config, kwargs.get("frame_range"), start, code, error)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="vfx-double")
def cli() -> None:
    """Licensed digital doubles: track, train, render, comp and review a shot."""


@cli.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--keyring", type=click.Path(path_type=Path), help=KEYRING_HELP)
@click.option("--headers-only", is_flag=True,
              help="read only frame headers (fast; does not catch truncated pixel data)")
@click.option("--date", "on", help="check the licence on this date (YYYY-MM-DD) instead of today")
def validate(configs: tuple[Path, ...], keyring: Path | None, headers_only: bool,
             on: str | None) -> None:
    """Check shot configs, their plates, colourspaces and licence. Writes nothing."""
    from .validate import validate as run_validate

    for path in configs:
        with progress_bar(0, f"validate {path.name}") as bar:
            def step(n: int) -> None:
                bar.update(n)
            report = run_validate(path, keyring=keyring, today=_date(on, "--date"),
                                  read_pixels=not headers_only, progress=step)
        click.echo(f"{path}: OK ({report.config.show}/{report.config.shot})")
        for line in report.lines:
            click.echo(f"  {line}")


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--frames", "frame_range", help="track only plate frames A-B (default: the shot's range)")
@click.option("--qc", is_flag=True, help="also write a contact sheet and an H.264 preview")
@click.option("--keyring", type=click.Path(path_type=Path), help=KEYRING_HELP)
@recorded
def track(config: Path, frame_range: str | None, qc: bool, keyring: Path | None) -> None:
    """Track the performer (and the actor reference) and extract the faceset."""
    from .io.sequences import parse_frame_range
    from .track.stage import track_shot

    frames = parse_frame_range(frame_range) if frame_range else None
    report = track_shot(config, frames=frames, qc=qc, keyring=keyring, bar=progress_bar)
    for line in report.lines():
        click.echo(line)




@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--steps", type=click.IntRange(1), help="train until this step (default: the preset's)")
@click.option("--resume", is_flag=True, help="continue the latest run from its last checkpoint")
@click.option("--run", "run_name", help="the run folder to use, e.g. run-003: started if it is "
              "not there, resumed if it is (one command line for a farm task and its retries)")
@click.option("--device", help="torch device, e.g. cpu or cuda:0 (default: cuda when present)")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(0),
              help="threads decoding and augmenting batches ahead")
@click.option("--keyring", type=click.Path(path_type=Path), help=KEYRING_HELP)
@click.option("--nproc", default=1, show_default=True, type=click.IntRange(1, 64),
              help="training processes, one per GPU: more than 1 starts them under torchrun "
                   "(a signal to this command stops them all at one checkpoint)")
@recorded
def train(config: Path, steps: int | None, resume: bool, run_name: str | None,
          device: str | None, workers: int, keyring: Path | None, nproc: int) -> int:
    """Train the actor-specific face model from the latest faceset (torchrun for multi-GPU)."""
    from .train import launch
    from .train.stage import train_shot

    if nproc > 1 and not launch.under_torchrun():
        argv = [str(config)] + (["--steps", str(steps)] if steps else []) + (
            ["--resume"] if resume else []) + (["--run", run_name] if run_name else []) + (
            ["--device", device] if device else []) + ["--workers", str(workers)] + (
            ["--keyring", str(keyring)] if keyring else [])

        def run_dir() -> Path | None:
            from .config import load
            from .workarea import WorkArea

            area = WorkArea(load(config).shot_dir)
            return area.stage_dir("train") / run_name if run_name else area.latest("train")

        return launch.launch(nproc, argv, run_dir)

    report = train_shot(config, steps=steps, resume=resume, keyring=keyring, device=device,
                        bar=progress_bar, workers=workers, run=run_name)
    for line in report.lines():
        click.echo(line)
    if report.state.stopped_by_signal and report.state.step < report.steps:
        # Checkpointed, not finished: a farm engine must retry or requeue this task (its
        # rerun with --resume continues), never start render on it.
        return TRAIN_STOPPED
    return 0


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--frames", "frame_range", help="render only plate frames A-B (default: the shot's range)")
@click.option("--device", help="torch device, e.g. cpu or cuda:0 (default: cuda when present)")
@click.option("--batch", default=8, show_default=True, type=click.IntRange(1),
              help="frames per model batch")
@click.option("--keyring", type=click.Path(path_type=Path), help=KEYRING_HELP)
@click.option("--unfinished", is_flag=True,
              help="render the latest checkpoint of a run that has not reached its target steps")
@click.option("--run", "run_name", help="the training run to render with (default: the latest)")
@click.option("--checkpoint", help="its checkpoint, e.g. step-000003000 (default: its latest)")
@recorded
def render(config: Path, frame_range: str | None, device: str | None, batch: int,
           keyring: Path | None, unfinished: bool, run_name: str | None,
           checkpoint: str | None) -> None:
    """Render face elements (ACEScg EXR + matte) with the latest trained model."""
    from .io.sequences import parse_frame_range
    from .render.stage import render_shot

    frames = parse_frame_range(frame_range) if frame_range else None
    report = render_shot(config, frames=frames, keyring=keyring, device=device, batch=batch,
                         unfinished=unfinished, run=run_name, checkpoint=checkpoint,
                         bar=progress_bar)
    for line in report.lines():
        click.echo(line)


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--frames", "frame_range", help="comp only plate frames A-B (default: the shot's range)")
@click.option("--keyring", type=click.Path(path_type=Path), help=KEYRING_HELP)
@recorded
def comp(config: Path, frame_range: str | None, keyring: Path | None) -> None:
    """Composite the latest face elements into the plates (colour managed, EXR out)."""
    from .comp.stage import comp_shot
    from .io.sequences import parse_frame_range

    frames = parse_frame_range(frame_range) if frame_range else None
    report = comp_shot(config, frames=frames, keyring=keyring, bar=progress_bar)
    for line in report.lines():
        click.echo(line)


#: the help of every command's --signing (review signs with it)
SIGNING_HELP = ("folder with the studio's C2PA signing chain.pem and key.pem (default: "
                "$VFX_DOUBLE_SIGNING, then ~/.config/vfx_double/signing); never read from a "
                "shot config")


@cli.command()
@click.argument("config", type=click.Path(path_type=Path))
@click.option("--frames", "frame_range", help="review only frames A-B (default: the shot's range)")
@click.option("--compare", "compare_mode", type=click.Choice(["none", "side-by-side", "wipe"]),
              help="show the plate with the comp (default: the config's review.compare)")
@click.option("--keyring", type=click.Path(path_type=Path), help=KEYRING_HELP)
@click.option("--signing", type=click.Path(path_type=Path), help=SIGNING_HELP)
@click.option("--new", is_flag=True, help="make a new version even when one with the same "
              "comp and settings is finished")
@recorded
def review(config: Path, frame_range: str | None, compare_mode: str | None,
           keyring: Path | None, signing: Path | None, new: bool) -> None:
    """Make dailies from the latest comp: H.264 and ProRes movies with slate, burn-ins,
    watermark and C2PA, the plate movie, a contact sheet and report.json."""
    from .io.sequences import parse_frame_range
    from .review.stage import review_shot

    frames = parse_frame_range(frame_range) if frame_range else None
    report = review_shot(config, frames=frames, keyring=keyring, signing=signing,
                         compare_mode=compare_mode, bar=progress_bar, new=new)
    for line in report.lines():
        click.echo(line)


@cli.command("import-video")
@click.argument("video", type=click.Path(path_type=Path))
@click.argument("pattern")
@click.option("--colourspace", default="ARRI LogC3 (EI800)", show_default=True,
              help="colourspace to encode the plate in")
@click.option("--start", default=1001, show_default=True, help="first frame number")
@click.option("--max-frames", type=click.IntRange(1), help="stop after this many frames")
@click.option("--size", help="deliver plates at this size, WxH (e.g. 1920x1080); default: the clip's")
@click.option("--fit", help="how the clip meets --size: pad (default; fit inside, black borders), "
              "fill (cover, centred crop), stretch (exactly WxH), none (no scaling, centred)")
def import_video(video: Path, pattern: str, colourspace: str, start: int,
                 max_frames: int | None, size: str | None, fit: str | None) -> None:
    """Turn an sRGB video clip into a log-encoded half EXR plate sequence (PATTERN with ####).

    --size scales in scene-linear light and records what it did as vfx_double/reformat.
    """
    from .color import ColourConfig, resolve_config_uri
    from .demo.plates import Reformat, video_rate, video_size, video_to_plates
    from .errors import ConfigError
    from .io.sequences import FrameSequence, format_frames

    if fit is not None and size is None:
        raise ConfigError("--fit", "--size WxH with it", f"--fit {fit} alone",
                          "add the plate size or drop --fit")
    reformat = Reformat.parse(size, fit or "pad") if size is not None else None
    colour = ColourConfig.load(resolve_config_uri(None))
    colourspace = colour.resolve(colourspace, where="--colourspace")
    seq = FrameSequence(pattern)
    with progress_bar(max_frames or 0, f"import {video.name}") as bar:
        frames = video_to_plates(video, seq, colour=colour, colourspace=colourspace,
                                 first_frame=start, max_frames=max_frames, reformat=reformat,
                                 progress=bar.update)
    fps = video_rate(video)
    rate = (f" at {fps:g} fps (set plate.fps: {fps:g} in the shot config)" if fps
            else "; the clip states no frame rate: set plate.fps in the shot config")
    click.echo(f"{pattern}: frames {format_frames(frames)} in {colourspace}{rate}")
    clip_size = video_size(video) if reformat is not None else None
    if reformat is not None and clip_size is not None:
        click.echo(f"reformat: {reformat.describe(*clip_size)} (recorded as vfx_double/reformat)")


@cli.group()
def licence() -> None:
    """Make issuer keys, issue and verify signed likeness licences."""


@licence.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="folder for the key pair")
@click.option("--key-id", required=True, help="issuer key id, e.g. studio-legal-2026")
def keygen(out: Path, key_id: str) -> None:
    """Create an Ed25519 issuer key pair (the .pub goes into the studio keyring)."""
    from .keyring import keygen as make_keys

    private, public = make_keys(out, key_id)
    click.echo(f"private key: {private} (keep it secret)")
    click.echo(f"public key:  {public} (copy into the keyring)")


@licence.command()
@click.option("--key", "key", required=True, type=click.Path(path_type=Path), help="issuer private key")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="licence file to write")
@click.option("--licence-id", required=True)
@click.option("--actor", required=True)
@click.option("--licensor", required=True)
@click.option("--licensee", required=True)
@click.option("--show", "shows", multiple=True, required=True, help="show code (repeatable)")
@click.option("--use", "uses", multiple=True, required=True,
              type=click.Choice(["train", "render", "advertising", "film"]), help="granted use (repeatable)")
@click.option("--valid-from", required=True, help="YYYY-MM-DD")
@click.option("--valid-until", required=True, help="YYYY-MM-DD (inclusive)")
@click.option("--notes", default="")
@click.option("--media", "media", multiple=True, required=True,
              help="the approved reference footage: a frame pattern (ref.####.exr) or a file "
                   "(repeatable); each frame's sha256 goes into the licence")
def issue(key: Path, out: Path, licence_id: str, actor: str, licensor: str, licensee: str,
          shows: tuple[str, ...], uses: tuple[str, ...], valid_from: str, valid_until: str,
          notes: str, media: tuple[str, ...]) -> None:
    """Sign a likeness licence with an issuer key, for the reference footage named."""
    from .keyring import key_id_of
    from .licence import Licence, media_digests
    from .licence import issue as sign

    digests = media_digests(media)
    record = Licence(licence_id=licence_id, actor=actor, licensor=licensor, licensee=licensee,
                     shows=shows, uses=uses, valid_from=_date(valid_from, "--valid-from"),
                     valid_until=_date(valid_until, "--valid-until"),
                     issuer_key_id=key_id_of(key), notes=notes, media=digests)
    click.echo(f"issued {sign(record, key, out)} for {len(digests)} reference media files")


@licence.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--keyring", type=click.Path(path_type=Path), help=KEYRING_HELP)
@click.option("--show", help="also require this show")
@click.option("--use", "uses", multiple=True, help="also require this use (repeatable)")
@click.option("--date", "on", help="date to check validity on (default today)")
def licence_verify(path: Path, keyring: Path | None, show: str | None, uses: tuple[str, ...],
                   on: str | None) -> None:
    """Check a licence's signature against the keyring, and optionally its scope."""
    from .keyring import load_keyring
    from .licence import require, verify

    lic = verify(path, load_keyring(keyring))
    day = _date(on, "--date") or dt.date.today()
    for use in uses:
        require(lic, show or lic.shows[0], use, day)
    if show and not uses:
        require(lic, show, lic.uses[0], day)
    click.echo(f"{path}: valid signature by {lic.issuer_key_id}; {lic.licence_id} for {lic.actor}; "
               f"shows {', '.join(lic.shows)}; uses {', '.join(lic.uses)}; "
               f"{lic.valid_from} to {lic.valid_until}")


@cli.group()
def audit() -> None:
    """Inspect a shot's hash-chained audit log."""


@audit.command("verify")
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--repair", is_flag=True,
              help="First finish an append a full disk or a crash interrupted (append its "
                   "pending entry, remove its unfinished line); anything else is refused.")
@click.option("--sign", is_flag=True,
              help="Sign the head of an intact, unsigned log with $VFX_DOUBLE_AUDIT_KEY "
                   "(once, for a log written before the studio had an audit key).")
def audit_verify(target: Path, repair: bool, sign: bool) -> None:
    """Verify TARGET (a shot config or an audit.jsonl): every line intact, none removed,
    the head signed by the audit key ($VFX_DOUBLE_AUDIT_KEY) when one is set."""
    from .audit import AuditLog, check
    from .workarea import WorkArea

    if target.suffix in (".yaml", ".yml"):
        from .config import load

        target = WorkArea(load(target).shot_dir).audit_path
    if repair:
        for done in AuditLog(target).repair() or ["nothing to repair"]:
            click.echo(f"{target}: {done}")
    if sign and AuditLog(target).sign():
        click.echo(f"{target}: head signed")
    report = check(target)
    count = report.entries
    click.echo(f"{target}: {count} {'entry' if count == 1 else 'entries'}, chain intact; "
               f"{report.signature}")
    if report.unrecorded:
        click.echo(f"{target}: note: no entry records {', '.join(report.unrecorded)} (a run "
                   "killed or refused before its record, or a log rolled back)")


for _command in SHOT_COMMANDS:  # demo, run, job, status, nuke (cli_shot.py)
    cli.add_command(_command)
from .cli_dailies import dailies  # noqa: E402 - Flask loads only inside its commands

cli.add_command(dailies)
cli.add_command(verify)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map our errors to one line and exit 2, anything else to exit 1."""
    try:
        result = cli.main(args=argv, prog_name="vfx-double", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except VfxDoubleError as err:
        click.echo(f"vfx-double: error: {err.one_line()}", err=True)
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    except click.UsageError as err:
        # one line like every other error: where (the command), what was wrong, the fix
        command = err.ctx.command_path if err.ctx else "vfx-double"
        click.echo(f"vfx-double: error: {command}: {err.format_message()}; see "
                   f"`{command} --help`", err=True)
        return err.exit_code
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        # Ctrl-C (click turns it into Abort): what was written is complete; a rerun resumes
        click.echo("vfx-double: interrupted; rerun the same command to resume", err=True)
        return 130
    except Terminated:
        click.echo("vfx-double: terminated (SIGTERM); rerun the same command to resume",
                   err=True)
        return 143
    except Exception as err:  # noqa: BLE001 - the CLI is where internal errors become exit 1
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        click.echo(f"vfx-double: internal error: {type(err).__name__}: {err} "
                   f"(set {DEBUG_ENV}=1 for the traceback; please report it)", err=True)
        return 1


class Terminated(BaseException):
    """SIGTERM (a farm's kill, a timeout): raised in the main thread so every open write
    unwinds and removes its temp file, as Ctrl-C does. Training installs its own handler
    around the loop, which stops at the next checkpoint instead."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def run() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.exit(main())


if __name__ == "__main__":
    run()
