"""Small records are read bounded: a file that is (or links to) a device, a folder or a
huge file costs at most its limit and fails with the limit named (issue 11, case 10)."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest

from vfx_double import records
from vfx_double.errors import LicenceError, MediaError


def test_a_record_under_its_limit_reads_whole(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b'{"a": 1}')
    assert records.read_bounded(path, "licence", LicenceError) == b'{"a": 1}'
    # a symlink to a regular file is fine: studios link licences into shows
    link = tmp_path / "link.json"
    link.symlink_to(path)
    assert records.read_bounded(link, "licence", LicenceError) == b'{"a": 1}'


def test_a_link_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    link = tmp_path / "licence.json"
    link.symlink_to("/dev/zero")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(LicenceError, match="a device or pipe, not a file"):
        records.read_bounded(link, "licence", LicenceError)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KB


def test_a_fifo_and_a_folder_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading must not block
    with pytest.raises(MediaError, match="not a file"):
        records.read_bounded(fifo, "record", MediaError)
    with pytest.raises(MediaError, match="a folder"):
        records.read_bounded(tmp_path, "record", MediaError)


def test_an_oversized_file_names_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (records.LIMITS["licence"] + 1))
    with pytest.raises(LicenceError, match="at most 256 KB"):
        records.read_bounded(path, "licence", LicenceError, what="a signed licence file")


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    deep = "[" * 200_000 + "]" * 200_000
    with pytest.raises(MediaError, match="nesting deeper"):
        records.parse_json(deep, "x.json", MediaError)
    assert records.parse_json(json.dumps([[[1]]]), "x.json", MediaError) == [[[1]]]
