"""Office profiles of a province deployment and the routing of inbound messages (no database)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app import settings as config
from app.container import Container
from app.routing import office_for
from channels import email as email_channel
from channels import sms, whatsapp
from channels.base import InboundMessage, RawRequest
from tests.conftest import JAKARTA, ROOT, TEST_ENV, read_fixture
from tests.integration.province.conftest import PUBLIC


def province(config_data: dict[str, Any], env: dict[str, str] | None = None) -> Container:
    """A container of the two offices on an engine never connected (routing reads no table)."""
    settings = config.from_dict(config_data, env=env if env is not None else dict(TEST_ENV))
    return Container(settings=settings, engine=sa.create_engine("postgresql+psycopg://"))


def test_shipped_example_profile_is_a_second_office_with_its_own_rules(config_data: dict[str, Any]) -> None:
    settings = config.from_dict(config_data, env={})
    assert list(settings.offices) == ["pwk", "bdg"]
    pwk, bdg = settings.offices["pwk"], settings.offices["bdg"]
    assert settings.office is pwk
    assert (bdg.name, bdg.tracking_prefix) == ("DPMPTSP Kabupaten Bandung", "BDG")
    # R4 on each office's calendar: Bandung's local closure on Thursday 12 March moves its due date.
    received = dt.datetime(2026, 3, 10, 10, 0, tzinfo=JAKARTA)
    assert pwk.calendar.due_date(received, 14) == dt.date(2026, 4, 7)
    assert bdg.calendar.due_date(received, 14) == dt.date(2026, 4, 8)
    assert [s.code for s in bdg.services] == ["pbg", "nib", "reklame"]
    # A table the profile leaves out comes from config.toml; one it gives lies over config.toml's.
    assert bdg.problem_types == pwk.problem_types
    assert settings.office_channel(bdg, "sms")["from_number"] == "+6281100000222"
    assert settings.office_channel(bdg, "sms")["enabled"] is True
    assert settings.office_section(bdg, "escalation")["ladder"] == ["officer", "section_head", "head"]
    assert settings.office_section(bdg, "alerts")["email"]["smtp_host"] == "127.0.0.1"


def test_default_config_serves_one_office() -> None:
    settings = config.load(ROOT / "config.toml", env={})
    assert list(settings.offices) == ["pwk"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('tracking_prefix = "BDG"', "tracking_prefix = 5"),
        ('[channels.sms]\nfrom_number = "+6281100000222"', '[channels.sms]\nfrom_number = "+6281809898222"'),
        ("[rules]", "[database]\nurl = 'postgresql+psycopg://other/aduan'\n\n[rules]"),
        ('code = "bdg"', 'code = "pwk"'),
        ('tracking_prefix = "BDG"', 'tracking_prefix = "PWK"'),
        ("[channels.email]", "[channels.email]\nenabled = true"),
        ('code = "bdg"', 'code = "Bandung Raya"'),
        ('timezone = "Asia/Jakarta"', 'timezone = "Asia/Bandung"'),
    ],
)
def test_a_bad_profile_is_one_line_naming_the_file(
    config_data: dict[str, Any], offices_dir: Path, change: str, message: str
) -> None:
    path = offices_dir / "bdg.toml"
    text = path.read_text(encoding="utf-8")
    assert change in text
    path.write_text(text.replace(change, message, 1), encoding="utf-8")
    with pytest.raises(config.ConfigError) as info:
        config.from_dict(config_data, env={})
    error = str(info.value)
    assert "\n" not in error
    assert "bdg" in error


def test_bad_profile_stops_the_command_line_with_one_line(
    offices_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    (offices_dir / "bdg.toml").write_text('[office]\ncode = "bdg"\nname = "Bandung"\n', encoding="utf-8")
    text = (ROOT / "config.toml").read_text(encoding="utf-8") + f'\n[offices]\ndir = "{offices_dir}"\n'
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as done:
        main(["--config", str(path), "calendar", "due", "2026-03-10T09:30"])
    _, err = capsys.readouterr()
    assert done.value.code == 2
    assert err.strip().count("\n") == 0
    assert "bdg.toml" in err and "office.tracking_prefix is missing" in err


def test_offices_folder_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "kantor").mkdir()
    shutil.copy(ROOT / "offices" / "bdg.toml", tmp_path / "kantor" / "bdg.toml")
    text = (ROOT / "config.toml").read_text(encoding="utf-8") + '\n[offices]\ndir = "kantor"\n'
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    assert list(config.load(tmp_path / "config.toml", env={}).offices) == ["pwk", "bdg"]


# -- routing --------------------------------------------------------------------------------------


def test_sms_to_the_second_office_number_is_routed_there(config_data: dict[str, Any]) -> None:
    container = province(config_data)
    raw = RawRequest(read_fixture("sms", "message__to_second_office.form"), url=PUBLIC + "/hooks/sms")
    [message] = sms.parse(raw)
    assert office_for(container, "sms", message, raw=raw).code == "bdg"
    assert office_for(container, "sms", raw).code == "bdg"  # from the stored payload alone, too
    plain = RawRequest(read_fixture("sms", "message__plain.form"), url=PUBLIC + "/hooks/sms")
    assert office_for(container, "sms", sms.parse(plain)[0], raw=plain).code == "pwk"


def test_whatsapp_cloud_delivery_is_routed_by_phone_number_id(config_data: dict[str, Any]) -> None:
    container = province(config_data)
    raw = RawRequest(read_fixture("whatsapp", "cloud_message__to_second_office.json"))
    [message] = whatsapp.parse_cloud(raw)
    assert office_for(container, "whatsapp", message, raw=raw).code == "bdg"
    assert office_for(container, "whatsapp", raw).code == "bdg"
    # the phone number id alone decides when the display number is not one of ours
    other = raw.body.replace(b'"6281100000222"', b'"6289999999999"')
    assert office_for(container, "whatsapp", RawRequest(other)).code == "bdg"


def test_email_is_routed_by_the_mailbox_it_was_delivered_to(config_data: dict[str, Any]) -> None:
    container = province(config_data)
    raw = RawRequest(read_fixture("email", "new__delivered_to_second_office.eml"))
    [message] = email_channel.parse(raw)
    assert office_for(container, "email", message, raw=raw).code == "bdg"
    pwk = RawRequest(read_fixture("email", "new__plain_utf8.eml"))
    assert office_for(container, "email", email_channel.parse(pwk)[0], raw=pwk).code == "pwk"


def test_webhook_path_and_host_name_the_office(config_data: dict[str, Any]) -> None:
    container = province(config_data)
    tg = InboundMessage(channel="telegram", external_id="1", sender="telegram:5550001", text="halo")
    assert (
        office_for(container, "telegram", tg, raw=RawRequest(b"{}", url=PUBLIC + "/hooks/bdg/telegram")).code
        == "bdg"
    )
    assert (
        office_for(container, "telegram", tg, raw=RawRequest(b"{}", url=PUBLIC + "/hooks/telegram")).code
        == "pwk"
    )
    # an unknown code in the path is not an office
    assert (
        office_for(container, "telegram", tg, raw=RawRequest(b"{}", url=PUBLIC + "/hooks/xyz/telegram")).code
        == "pwk"
    )
    form = InboundMessage(channel="web", external_id="2", sender="mailto:a@example.test", text="halo")
    host = RawRequest(b"{}", url="https://lapor.dpmptsp.bandungkab.example/lapor")
    assert office_for(container, "web", form, raw=host).code == "bdg"


def test_current_office_is_a_context_defaulting_to_the_primary(config_data: dict[str, Any]) -> None:
    container = province(config_data)
    assert container.office.code == "pwk"
    with container.using_office("bdg") as bdg:
        assert container.office is bdg
        assert container.channel_config("sms").table["from_number"] == "+6281100000222"
        with container.using_office("pwk"):
            assert container.office.code == "pwk"
        assert container.office.code == "bdg"
    assert container.office.code == "pwk"
    assert container.channel_config("sms").table["from_number"] == "+6281809898222"
    assert container.office_of("default").code == "pwk"  # a record from before the profiles
    with (
        pytest.raises(LookupError, match="unknown office 'xyz'; known: pwk, bdg"),
        container.using_office("xyz"),
    ):
        pass


def test_an_office_secret_replaces_the_deployment_one_for_that_office_only(
    config_data: dict[str, Any],
) -> None:
    container = province(config_data, dict(TEST_ENV) | {"ADUAN_BDG_TWILIO_AUTH_TOKEN": "bandung-token"})
    with container.using_office("bdg"):
        assert container.channel_config("sms").secret("ADUAN_TWILIO_AUTH_TOKEN") == "bandung-token"
    assert (
        container.channel_config("sms").secret("ADUAN_TWILIO_AUTH_TOKEN")
        == TEST_ENV["ADUAN_TWILIO_AUTH_TOKEN"]
    )
