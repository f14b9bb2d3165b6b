"""DSN parsing and redaction: the probe's password never appears in any text it produces."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum.adapters.pgdsn import parse_dsn, redact_text
from continuum.adapters.pgprobe import PgReplicationProbe, PgTls, ProbeUnavailable
from continuum.clock import FakeClock

passwords = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1
)


def test_uri_form_is_parsed_into_its_parts() -> None:
    dsn = parse_dsn(
        "postgresql://probe:p%40ss@db.acme.svc:6432/app?sslmode=verify-ca&sslrootcert=/ca.crt"
    )
    assert (dsn.host, dsn.port, dsn.user, dsn.password, dsn.database) == (
        "db.acme.svc",
        6432,
        "probe",
        "p@ss",
        "app",
    )
    assert (dsn.sslmode, dsn.sslrootcert) == ("verify-ca", "/ca.crt")
    assert dsn.target == "db.acme.svc:6432"


def test_keyword_form_with_quoted_values_is_parsed_into_its_parts() -> None:
    dsn = parse_dsn(r"host=10.0.0.1 port = 5433 user=probe password='it\'s a secret' dbname=x")
    assert (dsn.host, dsn.port, dsn.user, dsn.password, dsn.database) == (
        "10.0.0.1",
        5433,
        "probe",
        "it's a secret",
        "x",
    )


def test_defaults_follow_libpq() -> None:
    dsn = parse_dsn("user=probe")
    assert (dsn.host, dsn.port, dsn.database, dsn.sslmode) == ("localhost", 5432, "probe", None)


def test_ipv6_targets_are_bracketed() -> None:
    assert parse_dsn("postgresql://u@[::1]:5432/db").target == "[::1]:5432"


@pytest.mark.parametrize(
    "bad",
    [
        "host=a,b user=u",
        "port=http user=u",
        "port=70000",
        "sslmode=sometimes",
        "password='s3cr3tvalue",
        "password=abc defghi",
        "postgresql://u:pw@host:notaport/db",
    ],
)
def test_malformed_dsns_are_rejected_without_quoting_them(bad: str) -> None:
    with pytest.raises(ProbeUnavailable) as caught:
        PgReplicationProbe(bad, clock=FakeClock())
    for fragment in ("s3cr3tvalue", "defghi", "notaport", "pw", "sometimes", "http"):
        if fragment in bad:
            assert fragment not in str(caught.value)


@given(passwords)
def test_uri_passwords_round_trip_and_never_show_in_repr(suffix: str) -> None:
    password = "S3cr!" + suffix
    uri = f"postgresql://probe:{quote(password, safe='')}@db:5432/postgres"
    dsn = parse_dsn(uri)
    assert dsn.password == password
    assert "S3cr!" not in repr(dsn)
    assert "password=***" in repr(dsn)
    probe = PgReplicationProbe(uri, clock=FakeClock())
    assert "S3cr!" not in repr(probe)
    assert probe.target == "db:5432"


@given(passwords)
def test_keyword_passwords_round_trip_when_quoted(password: str) -> None:
    escaped = password.replace("\\", "\\\\").replace("'", "\\'")
    assert parse_dsn(f"host=db password='{escaped}'").password == password


@given(st.text(), passwords)
def test_redacted_text_never_contains_the_secret(text: str, secret: str) -> None:
    assert secret not in redact_text(text + secret + text, secret)


def test_tls_material_is_never_in_repr() -> None:
    tls = PgTls(ca_pem="-----CA-----", cert_pem="-----CERT-----", key_pem="-----KEY-----")
    assert "KEY" not in repr(tls)
    assert "CERT" not in repr(tls)
    assert repr(tls) == "PgTls(verify-ca, with client cert)"
