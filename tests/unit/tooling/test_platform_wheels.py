"""The platform-wheels check: one pip download for all files, pin by pin only to name what fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks import platform_wheels
from tests.helpers import ROOT

LAYER = ROOT / "requirements" / "layer.txt"
IMAGE = ROOT / "functions" / "analyse" / "requirements.txt"


def _pins(path: Path) -> list[platform_wheels.Pin]:
    return platform_wheels.read_pins(path)


def _fake_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, failing: str | None) -> list[list[str]]:
    """pip download recorded, failing on any run that asks for the pin `failing` (alone or in a file)."""
    calls: list[list[str]] = []

    def download(requirement: list[str]) -> str:
        calls.append(requirement)
        asked = set(requirement[1::2]) if requirement[0] == "--requirement" else set(requirement)
        pins = {f"{p.name}=={p.version}" for path in asked if path.endswith(".txt") for p in _pins(Path(path))}
        return "ERROR: No matching distribution found" if failing in asked | pins else ""

    monkeypatch.setattr(platform_wheels, "_download", download)
    monkeypatch.setattr(platform_wheels, "WHEELS", tmp_path / "wheels")
    monkeypatch.setattr(platform_wheels, "check_wheels", lambda pins, wheel_dir: [])
    return calls


def test_one_pip_run_covers_every_file_when_all_pins_download(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a pip that downloads every pin
    calls = _fake_pip(monkeypatch, tmp_path, failing=None)
    # When the check runs on the layer's and the image's requirements
    code = platform_wheels.main([str(LAYER), str(IMAGE)])
    # Then one pip run read both files and the check passed
    assert calls == [["--requirement", str(LAYER), "--requirement", str(IMAGE)]]
    assert code == 0
    assert "platform wheels: OK" in capsys.readouterr().out


def test_a_pin_without_a_wheel_is_named_and_only_its_file_is_retried_pin_by_pin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the image's numpy pin has no wheel for the platform
    numpy = next(f"{p.name}=={p.version}" for p in platform_wheels.read_pins(IMAGE) if p.key == "numpy")
    calls = _fake_pip(monkeypatch, tmp_path, failing=numpy)
    # When the check runs
    code = platform_wheels.main([str(LAYER), str(IMAGE)])
    # Then it fails naming that pin, after retrying the image's file pin by pin and the layer's as a whole
    assert code == 1
    assert f"functions/analyse/requirements.txt: {numpy}: ERROR" in capsys.readouterr().err
    single_pins = [call[0] for call in calls if call[0] != "--requirement"]
    assert sorted(single_pins) == sorted(f"{p.name}=={p.version}" for p in platform_wheels.read_pins(IMAGE))
    assert ["--requirement", str(LAYER)] in calls
