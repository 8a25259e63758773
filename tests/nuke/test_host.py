"""The host adapter (nuke_plugin/host.py) and the startup scripts, without Nuke: run against
the recording fake in ``fake_nuke/`` (strict allow-lists of node classes and knobs), type-
checked with mypy against ``types-nuke``, and read back from the fake to compare with the
Graph they were given and with the .nk writer's script read back by the tests' reader.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from nuke_plugin.core.graph import USER_KNOB_TYPES, Curve, Expr, Graph, Node, UserKnob, Value

REPO = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).parent / "fake_nuke"
PLUGIN = REPO / "nuke_plugin"
KNOB_TYPES = {name: number for name, number in USER_KNOB_TYPES.items()}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fake ``nuke`` (reset), importable only for this test; the adapter imported
    against it."""
    monkeypatch.syspath_prepend(str(FAKE))
    for name in ("nuke", "nuke_plugin.host"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import nuke

    assert Path(nuke.__file__).parent == FAKE
    nuke.reset()
    yield nuke
    for name in ("nuke", "nuke_plugin.host"):
        sys.modules.pop(name, None)


@pytest.fixture
def host(fake: Any) -> ModuleType:
    import nuke_plugin.host as host

    return host


# -- reading the fake back --------------------------------------------------------------

def _value(knob: Any) -> Value | None:
    if knob.script is not None:
        nkread = pytest.importorskip("nuke_plugin.core.nkread")
        return nkread.knob_value(nkread.tokens(knob.script)[0], knob.name())
    channels = set(knob.values) | set(knob.keys) | set(knob.expressions)
    if not channels:
        return None

    def at(index: int) -> Any:
        if index in knob.keys:
            return Curve.of(knob.keys[index])
        if index in knob.expressions:
            return Expr(knob.expressions[index])
        return knob.values[index]

    if channels == {-1}:
        return at(-1)
    assert -1 not in channels, f"{knob.name()}: set whole and per channel"
    assert channels == set(range(max(channels) + 1)), f"{knob.name()}: channels {channels}"
    return tuple(at(i) for i in range(max(channels) + 1))


def _user_knob(knob: Any) -> UserKnob:
    flags: list[str] = []
    if knob.range is not None:
        flags += ["R", *(str(v) for v in knob.range)]
    if knob.text is not None:
        flags += ["T", knob.text]
    import nuke  # the fake: its flag bits

    bits = {"STARTLINE": nuke.STARTLINE, "ENDLINE": nuke.ENDLINE, "DISABLED": nuke.DISABLED,
            "INVISIBLE": nuke.INVISIBLE}
    flags += [f"+{name}" for name, bit in bits.items() if bit in knob.flags]
    return UserKnob(KNOB_TYPES[knob.Class()], knob.name(), knob.label(), tuple(flags))


def read_back(group: Any) -> list[Node]:
    """What was built in ``group``, as graph Nodes (creation order)."""
    out = []
    for made in group.children:
        user = [_user_knob(k) for k in made.user]
        values = {name: _value(k) for name, k in made.knob_objects.items()}
        knobs = {name: v for name, v in values.items() if v is not None}
        wired = made.inputs_set
        inputs = [wired[i].name() if wired.get(i) else None
                  for i in range(max(wired) + 1)] if wired else []
        children = read_back(made) if made.cls == "Group" else []
        out.append(Node(made.cls, made.name(), knobs, inputs, children, user))
    return out


def _canonical_flags(flags: tuple[str, ...]) -> tuple[Any, ...]:
    words, out = list(flags), []
    while words:
        word = words.pop(0)
        if word == "R":
            out.append(("R", float(words.pop(0)), float(words.pop(0))))
        elif word == "T":
            out.append(("T", words.pop(0)))
        else:
            out.append(word)
    return tuple(sorted(out, key=repr))


def canonical(nodes: list[Node]) -> list[Any]:
    """Nodes as comparable data: knob order, trailing unconnected inputs and the spelling
    of a user knob's numbers ("0" / 0.0) do not count; everything else does."""
    def one(n: Node) -> Any:
        inputs = list(n.inputs)
        while inputs and inputs[-1] is None:
            inputs.pop()
        user = [(k.type, k.name, k.label or k.name, _canonical_flags(k.flags))
                for k in n.user_knobs]
        return {"cls": n.cls, "name": n.name, "knobs": n.knobs, "inputs": inputs,
                "user": user, "children": canonical(n.children)}
    return [one(n) for n in nodes]


# -- graphs -----------------------------------------------------------------------------

def small_graph() -> Graph:
    """Every kind of value and wiring the adapter handles, in a few nodes."""
    g = Graph()
    g.add(Node("Read", "Plate", {"file": "/p/plate.####.exr", "first": 1001, "last": 1003,
                                 "colorspace": "ACEScg", "raw": True}))
    kids = [
        Node("Input", "Input1", {"number": 0}),
        Node("Grade", "Match", {
            "multiply": (Curve.of({1001: 1.1, 1002: 1.2, 1003: 0.9}), 1.0, 1.0, 1.0),
            "add": (0.0, 0.01, 0.0, 0.0), "black_clamp": False,
            "disable": Expr("!parent.colour_match")}, ["Input1"]),
        Node("Blur", "Feather", {"size": Expr("parent.feather"), "channels": "alpha"},
             ["Match"]),
        Node("Merge2", "Over", {"operation": "over",
                                "mix": Curve.of({1001: 0.0, 1003: 1.0})},
             ["Input1", "Feather"]),
        Node("Keymix", "Keep", {"maskChannel": "rgba.alpha"}, ["Input1", "Over", None]),
        Node("Output", "Output1", {}, ["Keep"]),
    ]
    user = [UserKnob(20, "dd", "DigitalDouble"), UserKnob(2, "shot_config", "shot config"),
            UserKnob(1, "version", "render version"),
            UserKnob(7, "feather", "feather", ("R", "0", "50")),
            UserKnob(6, "colour_match", "colour match", ("+STARTLINE",)),
            UserKnob(22, "reload", "Reload")]
    g.add(Node("Group", "DD", {"label": "licence L-1\nSYNTHETIC", "shot_config": "/s.yaml",
                               "version": "v007",
                               "feather": 2.5, "colour_match": True,
                               "reload": "print('reload')"}, ["Plate"], kids, user))
    g.add(Node("ModifyMetaData", "Meta", {"metadata": (Expr("set a/b 1"),
                                                       Expr('set c "x y"'))}, ["DD"]))
    return g


def demo_like_graph() -> tuple[Graph, dict[str, Value]]:
    """The core's DigitalDouble shot script, from made-up comp numbers (rct match, grain)."""
    dd = pytest.importorskip("nuke_plugin.core.digital_double")
    records = {f: {"colour_match": {"multiply": [1.0 + f % 3 / 10, 1.0, 0.9],
                                    "add": [0.0, 0.01 * (f % 2), 0.0]},
                   "grain": {"std": [0.01, 0.02, 0.03], "size_sigma": 0.7}}
               for f in range(1001, 1005)}
    inputs = dd.DoubleInputs(
        config="/shots/s.yaml", render="v003", elements="/w/render/v003/face.####.exr",
        frames=(1001, 1004), plate_colourspace="ARRI LogC3 (EI800)", working="ACEScg",
        output="ARRI LogC3 (EI800)", licence_id="LIC-7", model_hash="abc", mix=1.0,
        erode=1.0, feather=3.0, colour_match="rct", grain=True, records=records)
    return dd.comp_script(inputs, "/plates/p.####.exr", "/out/c.####.exr",
                          ocio_config="ocio://x")


# -- build ------------------------------------------------------------------------------

def test_a_small_graph_built_through_the_fake_reads_back_the_same(fake: Any, host: Any) -> None:
    graph = small_graph()
    made = host.build(graph)
    assert set(made) >= {"Plate", "DD", "Meta", "DD.Match", "DD.Output1"}
    assert made["DD.Match"].parent_group is made["DD"]
    assert canonical(read_back(fake.root())) == canonical(graph.nodes)
    # the Read's file went in before its frame range (Nuke resets it on a new file)
    assert list(made["Plate"].knob_objects)[0] == "file"


def test_the_digital_double_built_through_the_fake_equals_the_graph_and_the_nk(
        fake: Any, host: Any) -> None:
    graph, root = demo_like_graph()
    host.set_root(root)
    host.build(graph)
    built = canonical(read_back(fake.root()))
    assert built == canonical(graph.nodes)
    root_back = {n: _value(k) for n, k in fake.root().knob_objects.items()}
    assert root_back == root
    nk = pytest.importorskip("nuke_plugin.core.nk")
    nkread = pytest.importorskip("nuke_plugin.core.nkread")
    from_nk = nkread.read_nk(nk.to_nk(graph, root)).graph
    assert built == canonical(from_nk.nodes)
    assert root_back == nkread.read_nk(nk.to_nk(graph, root)).root


def test_the_comparison_sees_a_difference(fake: Any, host: Any) -> None:
    graph = small_graph()
    host.build(graph)
    graph.node("DD").children[1].knobs["add"] = (0.0, 0.02, 0.0, 0.0)
    assert canonical(read_back(fake.root())) != canonical(graph.nodes)


def test_an_unknown_node_class_is_refused(fake: Any, host: Any) -> None:
    with pytest.raises(NameError, match="Glow"):
        host.build(Graph([Node("Glow", "G1", {"size": 3})]))
    with pytest.raises(NameError, match="Bogus"):
        fake.nodes.Bogus()


def test_an_unknown_knob_is_refused(fake: Any, host: Any) -> None:
    with pytest.raises(host.HostError, match="G1.multipy"):
        host.build(Graph([Node("Grade", "G1", {"multipy": 1.2})]))
    grade = fake.nodes.Grade()
    with pytest.raises(NameError, match="multipy"):
        grade["multipy"]
    assert grade.knob("multipy") is None and grade.knob("multiply") is not None


def test_a_user_knob_that_shadows_a_native_one_or_has_unknown_flags_is_refused(
        fake: Any, host: Any) -> None:
    with pytest.raises(host.HostError, match="M1.mix"):
        host.build(Graph([Node("Merge2", "M1", {}, [], [], [UserKnob(7, "mix", "mix")])]))
    fake.reset()
    with pytest.raises(host.HostError, match="'Q'"):
        host.build(Graph([Node("NoOp", "N1", {}, [], [], [UserKnob(7, "x", "x", ("Q",))])]))


def test_a_user_knob_gets_its_range_button_script_and_flags(fake: Any, host: Any) -> None:
    host.build(Graph([Node("NoOp", "N1", {}, [], [], [
        UserKnob(7, "amount", "amount", ("R", "0", "2", "+STARTLINE")),
        UserKnob(22, "go", "Go", ("T", "print(1)")),
        UserKnob(26, "note", "note", ("T", "SYNTHETIC"))])]))
    n1 = fake.root().node("N1")
    amount, go, note = n1.user
    assert (type(amount).__name__, amount.range, fake.STARTLINE in amount.flags) == \
        ("Double_Knob", (0.0, 2.0), True)
    assert (type(go).__name__, go.text) == ("PyScript_Knob", "print(1)")
    assert (type(note).__name__, note.text) == ("Text_Knob", "SYNTHETIC")


def test_build_inside_a_given_group(fake: Any, host: Any) -> None:
    outer = fake.nodes.Group()
    made = host.build(Graph([Node("NoOp", "Inner")]), outer)
    assert made["Inner"].parent_group is outer and fake.root().children == [outer]


# -- buttons ----------------------------------------------------------------------------

def _double(fake: Any, host: Any) -> Any:
    host.build(small_graph())
    return fake.root().node("DD")


@pytest.mark.parametrize("gui", [False, True])
def test_submit_comp_starts_the_job_up_to_comp_and_reports(
        fake: Any, host: Any, monkeypatch: pytest.MonkeyPatch, gui: bool) -> None:
    from pipeline import runs

    calls: list[tuple[Any, dict[str, Any]]] = []

    def start(config: Path, **kwargs: Any) -> int:
        calls.append((config, kwargs))
        return 0

    monkeypatch.setattr(runs, "start", start)
    fake.GUI = gui
    try:
        group = _double(fake, host)
        assert host.submit_comp(group) == 0
    finally:
        fake.GUI = False
    assert calls == [(Path("/s.yaml"), {"backend": None, "until": "comp", "submit": True,
                                         "wait": False, "echo": fake.tprint})]
    shown = fake.messages if gui else fake.printed
    assert shown and "submitted" in shown[-1] and "/s.yaml" in shown[-1]


def test_submit_comp_reports_a_refusal_without_raising(
        fake: Any, host: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import runs
    from vfx_double.errors import ConfigError

    def start(config: Path, **kwargs: Any) -> int:
        raise ConfigError(str(config), "a shot config", "no such file", "check the knob")

    monkeypatch.setattr(runs, "start", start)
    assert host.submit_comp(_double(fake, host)) == 2
    assert "no such file" in fake.printed[-1]


def test_reload_double_replaces_the_groups_nodes_for_its_config_and_version(
        fake: Any, host: Any) -> None:
    group = _double(fake, host)
    asked: list[tuple[Path, str]] = []

    def content(config: Path, version: str) -> Node:
        asked.append((config, version))
        return Node("Group", "ignored", {"feather": 9.0, "shot_config": "/other.yaml"}, [],
                    [Node("Input", "Input1", {"number": 0}),
                     Node("Output", "Output1", {}, ["Input1"])])

    made = host.reload_double(group, content)
    assert asked == [(Path("/s.yaml"), "v007")]
    assert [n.name() for n in group.children] == ["Input1", "Output1"]
    assert set(made) == {"DD.Input1", "DD.Output1"}
    assert group["feather"].value() == 9.0 and group["shot_config"].value() == "/s.yaml"


def test_create_digital_double_builds_nothing_when_the_dialog_is_cancelled(
        fake: Any, host: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert host.create_digital_double() == {} and fake.root().children == []
    fake.filename_answer = "/s.yaml"
    monkeypatch.setattr(host, "_content", lambda: lambda config, version: Node(
        "Group", "DigitalDouble1", {"label": str(config) + version}))
    made = host.create_digital_double()
    assert list(made) == ["DigitalDouble1"] and made["DigitalDouble1"]["label"].value() == \
        "/s.yaml"
    assert list(host.create_digital_double()) == ["DigitalDouble2"]  # a second one


# -- startup scripts --------------------------------------------------------------------

def _nuke_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a Python like Nuke's: no site-packages (so this repo is not importable
    unless init.py makes it so), the fake ``nuke`` only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(FAKE)
    return subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def test_init_then_menu_add_the_digital_double_to_the_nodes_toolbar(tmp_path: Path) -> None:
    code = f"""
import runpy, sys, nuke
try:
    import nuke_plugin
    raise SystemExit('nuke_plugin importable before init.py: the test proves nothing')
except ImportError:
    pass
runpy.run_path({str(PLUGIN / 'init.py')!r})
import nuke_plugin.host
assert {str(REPO)!r} in sys.path, sys.path
assert not nuke.messages, 'init.py made a UI call'
nuke.GUI = True
runpy.run_path({str(PLUGIN / 'menu.py')!r})
(name, command), = nuke.menus['Nodes/vfx_double']
print(name, command.__module__, command.__name__, nuke.printed)
"""
    done = _nuke_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:3] == ["DigitalDouble", "nuke_plugin.host",
                                        "create_digital_double"]


def test_init_finds_its_folder_on_the_plugin_path_without_file(tmp_path: Path) -> None:
    code = f"""
import sys, nuke
nuke.plugin_paths.append({str(PLUGIN)!r})
exec(compile(open({str(PLUGIN / 'init.py')!r}).read(), 'init.py', 'exec'), {{'__name__': '__main__'}})
import nuke_plugin.host
print(nuke.printed)
"""
    done = _nuke_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_broken_plugin_prints_and_never_stops_nukes_startup(tmp_path: Path) -> None:
    # menu.py without init.py: the package is not importable, the entry is left out
    code = f"""
import runpy, nuke
nuke.GUI = True
runpy.run_path({str(PLUGIN / 'menu.py')!r})
exec(compile(open({str(PLUGIN / 'init.py')!r}).read(), 'init.py', 'exec'), {{'__name__': '__main__'}})
print(repr(nuke.printed), nuke.menus)
"""
    done = _nuke_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "menu.py: nuke_plugin.host does not import" in done.stdout
    assert "init.py failed" in done.stdout  # no __file__, nothing on the plugin path
    assert done.stdout.rstrip().endswith("{}")


# -- types ------------------------------------------------------------------------------

def test_the_adapter_type_checks(tmp_path: Path) -> None:
    """mypy --strict on the three modules that import ``nuke``, against types-nuke's stubs
    (``nuke-stubs``); the rest of the repo is followed silently (its own checks are not
    this test's)."""
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--cache-dir", str(tmp_path / "mypy"), "nuke_plugin/host.py", "nuke_plugin/init.py",
         "nuke_plugin/menu.py"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues found in 3 source files" in done.stdout


# -- the fake against a real Nuke --------------------------------------------------------

CHECK_KNOBS = """
import json, sys
import nuke
bad = {}
for cls, knobs in json.load(open(sys.argv[1])).items():
    node = nuke.root() if cls == "Root" else getattr(nuke.nodes, cls)()
    missing = sorted(set(knobs) - set(node.knobs()))
    if missing:
        bad[cls] = missing
print("RESULT " + json.dumps(bad))
"""


@pytest.mark.skipif(not os.environ.get("NUKE_EXECUTABLE"),
                    reason="needs Nuke: set NUKE_EXECUTABLE to its executable")
def test_the_fakes_allow_lists_are_knobs_a_real_nuke_has(fake: Any, tmp_path: Path) -> None:
    import json

    lists = {cls: sorted(knobs | fake.COMMON) for cls, (_, knobs) in fake.CLASSES.items()}
    lists["Root"] = sorted(fake.ROOT_KNOBS)
    (tmp_path / "lists.json").write_text(json.dumps(lists))
    (tmp_path / "check.py").write_text(CHECK_KNOBS)
    done = subprocess.run([os.environ["NUKE_EXECUTABLE"], "-t", str(tmp_path / "check.py"),
                           str(tmp_path / "lists.json")], capture_output=True, text=True,
                          timeout=600)
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and result, done.stdout + done.stderr
    assert json.loads(result[-1][len("RESULT "):]) == {}


# -- the oldest Python the plugin supports ------------------------------------------------

OLDEST = "3.9"  # Nuke 14's Python; README, Nuke plugin


def test_the_plugin_runs_on_the_oldest_nuke_python(tmp_path: Path) -> None:
    """init.py, the adapter, the .nk writer and the DigitalDouble group under Python 3.9,
    with the fake ``nuke`` (skips where no python3.9 is installed)."""
    import shutil

    pyenv = sorted((Path.home() / ".pyenv" / "versions").glob(f"{OLDEST}.*/bin/python{OLDEST}"))
    python = str(pyenv[-1]) if pyenv else shutil.which(f"python{OLDEST}")
    if python is None:
        pytest.skip(f"no python{OLDEST} on PATH")
    code = f"""
import runpy, sys
assert sys.version_info[:2] == {tuple(int(p) for p in OLDEST.split('.'))}, sys.version
runpy.run_path({str(PLUGIN / 'init.py')!r})
import nuke, nuke_plugin.host as h
from nuke_plugin.core import digital_double as dd, nk
inputs = dd.DoubleInputs(config='/s.yaml', render='v1', elements='/e.####.exr',
    frames=(1, 2), plate_colourspace='ACEScg', working='ACEScg', output='ACEScg',
    licence_id='L', model_hash='x', mix=1.0, erode=0.0, feather=0.0, colour_match='none',
    grain=False)
graph, root = dd.comp_script(inputs, '/p.####.exr', '/o.####.exr', ocio_config='x')
nk.to_nk(graph, root)
h.set_root(root)
print(sorted(h.build(graph))[:2])
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(FAKE)
    done = subprocess.run([python, "-S", "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['DigitalDouble1', 'DigitalDouble1.Changed']"


def test_the_double_with_its_live_branch_built_through_the_fake_equals_the_nk(
        fake: Any, host: Any, tmp_path: Path) -> None:
    """What `vfx-double nuke export` writes: the live Inference branch inside the group
    behind the FaceSource switch, its CatFileCreator beside: every class and knob is one
    the fake (Foundry's lists) knows, and the build equals the .nk read back."""
    from nuke_plugin.core.digital_double import comp_script
    from nuke_plugin.core.live import live_nodes
    from nuke_plugin.core.nk import to_nk
    from nuke_plugin.core.nkread import read_nk
    from tests.nuke.test_live import SIDECAR, synthetic_track

    dd = pytest.importorskip("nuke_plugin.core.digital_double")
    made_up = dd.DoubleInputs(
        config="/shots/s.yaml", render="v003", elements="/w/render/v003/face.####.exr",
        frames=(1001, 1004), plate_colourspace="ARRI LogC3 (EI800)", working="ACEScg",
        output="ARRI LogC3 (EI800)", licence_id="LIC-7", model_hash="abc", mix=1.0,
        erode=1.0, feather=3.0, colour_match="rct", grain=True,
        records={f: {"colour_match": {"multiply": [1.0, 1.0, 0.9], "add": [0.0, 0.0, 0.0]},
                     "grain": None} for f in range(1001, 1005)})
    live = live_nodes(synthetic_track(), SIDECAR, tmp_path, working="ACEScg",
                      plate_colourspace="ARRI LogC3 (EI800)", matte_channel=dd.MATTE)
    graph, root = comp_script(made_up, "/plates/p.####.exr", "/out/c.####.exr",
                              ocio_config="ocio://x", live=live)
    assert [n.name for n in graph.nodes][:3] == ["ReadPlate", "LiveCatFileCreator",
                                                 "DigitalDouble1"]
    host.set_root(root)
    host.build(graph)
    built = canonical(read_back(fake.root()))
    assert built == canonical(graph.nodes)
    assert built == canonical(read_nk(to_nk(graph, root)).graph.nodes)
