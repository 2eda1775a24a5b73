"""The deployment files name commands, paths and settings that exist (they rot silently otherwise)."""

from __future__ import annotations

import configparser
import re

import pytest
import typer

from cli import main as cli
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _commands() -> set[str]:
    group = typer.main.get_command(cli.app)
    return set(getattr(group, "commands", {}))


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_unit_runs_an_existing_aduan_command(unit) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit)
    service = parser["Service"]
    assert service["User"] == "aduan"
    assert (
        "Environment=ADUAN_CONFIG=/etc/aduan/config.toml" in unit.read_text()
    )  # repeated keys: not in parser
    command = re.search(r"aduan (\S+)", service["ExecStart"])
    assert command and command.group(1) in _commands(), service["ExecStart"]


def test_web_unit_listens_on_loopback_only() -> None:
    text = (DEPLOY / "systemd" / "aduan-web@.service").read_text()
    assert "--host 127.0.0.1 --port %i" in text


def test_containerfile_copies_what_exists() -> None:
    for line in (DEPLOY / "Containerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists() or source == "README.md", source


def test_nginx_example_sets_the_headers_trust_proxy_reads_and_limits_bodies() -> None:
    text = (DEPLOY / "nginx" / "aduan.conf").read_text()
    assert "proxy_set_header X-Forwarded-Host $host;" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "client_max_body_size" in text and "location = /metrics" in text


def test_env_example_lists_every_secret_a_channel_needs_and_no_values() -> None:
    import channels

    text = (DEPLOY / "env.example").read_text()
    for entry in channels.REGISTRY.values():
        for name in entry.secrets:
            assert f"{name}=" in text, name
    for line in text.splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            assert value in ("", "INFO", "json") or "CHANGE-ME" in value or value.startswith("https://"), key


def test_nginx_overwrites_forwarded_for_and_the_app_trusts_that_proxy_only() -> None:
    # The rate limits count per real client: nginx must overwrite (not append) X-Forwarded-For with
    # the peer, and config.toml must trust the address nginx reaches the web processes from.
    import ipaddress
    import tomllib

    text = (DEPLOY / "nginx" / "aduan.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    directives = [line.split("#")[0] for line in text.splitlines()]
    assert not any("$proxy_add_x_forwarded_for" in line for line in directives)
    upstreams = re.findall(r"server (127\.0\.0\.1):\d+", text)
    trusted = tomllib.loads((ROOT / "config.toml").read_text())["security"]["trusted_proxies"]
    assert upstreams and all(ipaddress.ip_address(u).is_loopback for u in upstreams)
    assert "127.0.0.1" in trusted
