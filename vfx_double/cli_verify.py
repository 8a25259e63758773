"""``vfx-double verify FILE...``: the provenance of review movies, comp EXRs and sidecar
manifests, one line per file (:mod:`vfx_double.provenance.verify`). Registered on the
command group by :mod:`vfx_double.cli`, which turns its error into exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_shot import KEYRING_HELP
from .errors import ProvenanceError, VfxDoubleError


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--keyring", type=click.Path(path_type=Path),
              help=f"{KEYRING_HELP}; its c2pa_trust.pem holds the C2PA trust anchors")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file instead of a line")
def verify(files: tuple[Path, ...], keyring: Path | None, as_json: bool) -> None:
    """Check the provenance of review movies (C2PA, watermark), comp EXRs (header and
    signed sidecar) and sidecar manifests. Exit 2 when any is missing or broken."""
    from .provenance.verify import verify_file

    bad: list[str] = []
    for path in files:
        try:
            verdict = verify_file(path, keyring=keyring)
            line, record, ok = verdict.line, verdict.to_json(), verdict.ok
        except VfxDoubleError as err:
            # one unreadable file is one bad line; the others are still checked
            line = f"{path}: error: {err.one_line()}"
            record = {"path": str(path), "kind": None, "state": "Missing", "ok": False,
                      "line": line, "details": {"error": err.one_line()}}
            ok = False
        click.echo(json.dumps(record, sort_keys=True) if as_json else line)
        if not ok:
            bad.append(line)
    if bad:
        raise ProvenanceError(f"verify ({len(bad)} of {len(files)} files)",
                              "signed, intact provenance on every file", bad[0],
                              "see the lines above")
