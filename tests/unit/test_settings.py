"""Typed settings: one precedence (flags > env > config.toml > defaults) and clear errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from vt_tui.cli import build_parser, settings_from
from vt_tui.core.profiles import PROFILES, Engine, ToolMode
from vt_tui.settings import FIELDS, Settings, SettingsError, choices, load


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_mean_embedded(tmp_path: Path) -> None:
    s = load(environ={}, config_path=tmp_path / "missing.toml")
    assert s.embedded and s.threads == 1 and s.tools is ToolMode.AUTO and s.engine is Engine.AUTO
    assert s.max_tokens is None, "unset: the persona's, else the one default (vt_tui.core.params)"


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", 'base_url = "http://file/v1"\nmodel = "from-file"\ntemperature = 0.1\n')
    env = {"VT_TUI_MODEL": "from-env", "OPENAI_BASE_URL": "http://openai-env/v1"}
    s = load(cli={"temperature": 0.9}, environ=env, config_path=config)
    assert s.model == "from-env" and s.base_url == "http://openai-env/v1" and s.temperature == 0.9
    s = load(environ={**env, "VT_TUI_BASE_URL": "http://vt-env/v1"}, config_path=config)
    assert s.base_url == "http://vt-env/v1", "VT_TUI_* wins over the OpenAI SDK's variable"


def test_cli_flags_are_typed(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["--config", str(tmp_path / "none.toml"), "--threads", "3", "--metrics-urls", "http://a/m, http://b/m"]
    )
    s = settings_from(args)
    assert s.threads == 3 and s.metrics_urls == ("http://a/m", "http://b/m")


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    config = write(tmp_path / "config.toml", 'base_url = "http://x/v1"\ntemprature = 0.5\n')
    with pytest.raises(SettingsError, match=r"config\.toml: unknown setting 'temprature'"):
        load(environ={}, config_path=config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("threads = 'many'", "threads in"),
        ("tools = 'sometimes'", "not one of auto, native, text, off"),
        ("max_tokens = 0", "max_tokens must be from 1 to"),
        ("engine = 'tgi'", "not one of auto, openai, vllm, llama-factory"),
        ("base_url = [", "not valid TOML"),
        ("metrics_urls = [1, 2]", "list of strings"),
        ("paste_chip_lines = -1", r"paste_chip_lines must be 0 \(never\) or more \(got -1\)"),
        ("paste_chip_lines = 'lots'", "paste_chip_lines in"),
    ],
)
def test_bad_values_are_clear(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(environ={}, config_path=write(tmp_path / "c.toml", text + "\n"))


def test_api_key_never_in_repr() -> None:
    s = Settings(api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(s) and "***" in repr(s)


def test_help_lists_every_setting_and_cli_reports_errors(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "vt_tui", "--help"], capture_output=True, text=True, check=True).stdout
    for name, f in FIELDS.items():
        assert ("--" + name.replace("_", "-") in out) != bool(f.metadata.get("file_only")), name
    bad = write(tmp_path / "c.toml", "nope = 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "vt_tui", "--config", str(bad), "ask", "hi"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "unknown setting 'nope'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("temperature", "9", "temperature must be from 0 to 2 (got 9.0)"),
        ("top_p", "0", "top_p must be above 0 and at most 1"),
        ("max_tokens", "2000000", "max_tokens must be from 1 to 1,000,000"),
    ],
)
def test_generation_parameters_are_checked_from_every_source(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    """The rule personas and the parameters dialog use (vt_tui.core.params.validate), and the source is named."""
    none = tmp_path / "none.toml"
    flag = "--" + name.replace("_", "-")
    message = re.escape(message)
    with pytest.raises(SettingsError, match=rf"^{flag}: {message}"):
        settings_from(build_parser().parse_args(["--config", str(none), flag, value]))
    with pytest.raises(SettingsError, match=rf"^\$VT_TUI_{name.upper()}: {message}"):
        load(environ={f"VT_TUI_{name.upper()}": value}, config_path=none)
    config = write(tmp_path / "c.toml", f"{name} = {value}\n")
    with pytest.raises(SettingsError, match=rf"c\.toml: {message}"):
        load(environ={}, config_path=config)
    assert load(environ={"VT_TUI_TEMPERATURE": "0.7"}, config_path=none).temperature == 0.7


def test_cli_refuses_a_temperature_out_of_range(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vt_tui", "--config", str(tmp_path / "none.toml"), "ask", "--temperature", "9", "hi"],
        capture_output=True,
        text=True,
    )
    assert (
        result.returncode == 2 and result.stderr == "vt-tui: --temperature: temperature must be from 0 to 2 (got 9.0)\n"
    )


def test_engine_and_tool_mode_choices_come_from_their_owners() -> None:
    assert set(choices("engine")) == {"auto", *PROFILES}
    assert choices("tools") == ("auto", "native", "text", "off")
    assert load(cli={"engine": "vllm"}, environ={}).engine is Engine.VLLM
    assert Settings(tools="text").tools is ToolMode.TEXT
