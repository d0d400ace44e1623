"""Kafka transport security: the settings refuse what is incomplete or would be ignored, and
shared/kafka_security.py turns them into the arguments FastStream's broker and aiokafka's clients
take. The password never shows in a repr, a dump or an error."""

from __future__ import annotations

import datetime
import socket
import ssl
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import ValidationError

from shared.kafka_security import broker_security, client_options, connection_problem
from shared.messaging import create_broker
from shared.settings import Settings

PASSWORD = "s3cret-Pa55word"
SASL = {"kafka_sasl_mechanism": "SCRAM-SHA-512", "kafka_sasl_username": "benchmarks", "kafka_sasl_password": PASSWORD}


def _settings(**values: object) -> Settings:
    # nothing from the test run's own environment (a BENCH_KAFKA_* of the developer's shell)
    return Settings.model_validate(values)


def _refusal(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        _settings(**values)
    return str(caught.value)


# --------------------------------------------------------------------------- certificates


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey] | None = None
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(path: Path, *items: x509.Certificate | ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        b"".join(
            item.public_bytes(serialization.Encoding.PEM)
            if isinstance(item, x509.Certificate)
            else item.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            for item in items
        )
    )
    return path


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA (test-ca), a client certificate it signed, that certificate's key and another key."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key, client_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _certificate("test-ca", ca_key)
    client = _certificate("benchmarks", client_key, issuer=("test-ca", ca_key))
    return {
        "ca": _pem(folder / "ca.crt", ca),
        "cert": _pem(folder / "client.crt", client),
        "key": _pem(folder / "client.key", client_key),
        "other_key": _pem(folder / "other.key", other_key),
        "cert_and_key": _pem(folder / "client.pem", client, client_key),
    }


# --------------------------------------------------------------------------- settings


def test_plaintext_is_the_default_and_needs_nothing_more() -> None:
    settings = _settings()
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert broker_security(settings) is None and client_options(settings) == {}


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_a_sasl_protocol_names_each_missing_setting(protocol: str) -> None:
    message = _refusal(kafka_security_protocol=protocol, kafka_sasl_username="benchmarks")
    assert f"BENCH_KAFKA_SECURITY_PROTOCOL={protocol} needs BENCH_KAFKA_SASL_MECHANISM, BENCH_KAFKA_SASL_PASSWORD" in message
    assert "BENCH_KAFKA_SASL_USERNAME" not in message
    assert "needs BENCH_KAFKA_SASL_USERNAME" in _refusal(
        kafka_security_protocol=protocol, kafka_sasl_mechanism="PLAIN", kafka_sasl_username="", kafka_sasl_password=PASSWORD
    )


def test_credentials_without_a_sasl_protocol_are_refused_not_ignored() -> None:
    message = _refusal(kafka_sasl_username="benchmarks", kafka_sasl_password=PASSWORD)
    assert "BENCH_KAFKA_SASL_USERNAME, BENCH_KAFKA_SASL_PASSWORD set, but BENCH_KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in message
    assert "use SASL_SSL" in message
    assert "BENCH_KAFKA_SASL_MECHANISM set" in _refusal(kafka_security_protocol="SSL", kafka_sasl_mechanism="PLAIN")


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_tls_files_without_a_tls_protocol_are_refused(protocol: str) -> None:
    sasl = SASL if protocol.startswith("SASL") else {}
    message = _refusal(kafka_security_protocol=protocol, kafka_ssl_cafile="/etc/kafka/ca.crt", **sasl)
    assert f"BENCH_KAFKA_SSL_CAFILE set, but BENCH_KAFKA_SECURITY_PROTOCOL={protocol} uses no TLS" in message


def test_a_key_needs_its_certificate() -> None:
    message = _refusal(kafka_security_protocol="SSL", kafka_ssl_keyfile="/etc/kafka/client.key")
    assert "BENCH_KAFKA_SSL_KEYFILE needs BENCH_KAFKA_SSL_CERTFILE" in message


def test_unknown_protocols_and_mechanisms_are_refused_with_the_choices() -> None:
    assert "'PLAINTEXT', 'SSL', 'SASL_PLAINTEXT' or 'SASL_SSL'" in _refusal(kafka_security_protocol="TLS")
    message = _refusal(
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="GSSAPI", kafka_sasl_username="u", kafka_sasl_password=PASSWORD
    )
    assert "kafka_sasl_mechanism" in message and "'SCRAM-SHA-512'" in message


def test_protocol_and_mechanism_are_case_insensitive() -> None:
    settings = _settings(
        kafka_security_protocol=" sasl_ssl",
        kafka_sasl_mechanism="scram-sha-256",
        kafka_sasl_username="u",
        kafka_sasl_password=PASSWORD,
    )
    assert (settings.kafka_security_protocol, settings.kafka_sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")


def test_the_password_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(kafka_security_protocol="SASL_PLAINTEXT", **SASL)
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert PASSWORD not in text
    # a refusal of settings read from the environment names the setting, never echoes the inputs
    monkeypatch.setenv("BENCH_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("BENCH_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("BENCH_MONGO_URL", f"mongodb://admin:{PASSWORD}@db:27017/")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "needs BENCH_KAFKA_SASL_MECHANISM, BENCH_KAFKA_SASL_USERNAME" in str(caught.value)
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)  # what a traceback shows


# --------------------------------------------------------------------------- connection arguments


@pytest.mark.parametrize(
    ("mechanism", "security_type"),
    [("PLAIN", SASLPlaintext), ("SCRAM-SHA-256", SASLScram256), ("SCRAM-SHA-512", SASLScram512)],
)
def test_sasl_plaintext_gives_the_mechanism_and_credentials_without_tls(mechanism: str, security_type: type) -> None:
    settings = _settings(kafka_security_protocol="SASL_PLAINTEXT", **{**SASL, "kafka_sasl_mechanism": mechanism})
    assert type(broker_security(settings)) is security_type
    assert client_options(settings) == {
        "security_protocol": "SASL_PLAINTEXT",
        "ssl_context": None,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "benchmarks",
        "sasl_plain_password": PASSWORD,
    }


def test_sasl_ssl_checks_the_brokers_against_the_configured_ca(tls_files: dict[str, Path]) -> None:
    settings = _settings(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=tls_files["ca"], **SASL)
    options = client_options(settings)
    assert {k: v for k, v in options.items() if k != "ssl_context"} == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "benchmarks",
        "sasl_plain_password": PASSWORD,
    }
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [dict(entry[0] for entry in ca["subject"])["commonName"] for ca in context.get_ca_certs()] == ["test-ca"]


def test_ssl_without_a_ca_file_trusts_the_system_cas_and_sends_no_credentials() -> None:
    security = broker_security(_settings(kafka_security_protocol="SSL"))
    assert type(security) is BaseSecurity and security.use_ssl
    options = client_options(_settings(kafka_security_protocol="SSL"))
    assert set(options) == {"security_protocol", "ssl_context"} and options["security_protocol"] == "SSL"
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize("files", [("cert", "key"), ("cert_and_key", None)])
def test_a_client_certificate_is_loaded_for_mutual_tls(tls_files: dict[str, Path], files: tuple[str, str | None]) -> None:
    cert, key = files
    settings = _settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=tls_files["ca"],
        kafka_ssl_certfile=tls_files[cert],
        kafka_ssl_keyfile=tls_files[key] if key else None,
    )
    assert isinstance(client_options(settings)["ssl_context"], ssl.SSLContext)


def test_unreadable_tls_files_are_named(tls_files: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.crt"
    with pytest.raises(ValueError, match=rf"BENCH_KAFKA_SSL_CAFILE={missing}: not a readable PEM CA bundle"):
        client_options(_settings(kafka_security_protocol="SSL", kafka_ssl_cafile=missing))
    mismatched = _settings(
        kafka_security_protocol="SSL", kafka_ssl_certfile=tls_files["cert"], kafka_ssl_keyfile=tls_files["other_key"]
    )
    with pytest.raises(ValueError, match=r"BENCH_KAFKA_SSL_CERTFILE=.*BENCH_KAFKA_SSL_KEYFILE=.*belong together"):
        client_options(mismatched)


async def test_the_broker_and_aiokafkas_clients_take_the_same_arguments() -> None:
    settings = _settings(kafka_security_protocol="SASL_PLAINTEXT", **SASL)
    broker = create_broker(settings, client_id="test")
    # the broker's producer, consumers and admin client (its readiness ping) connect with these
    assert {k: broker._connection_kwargs[k] for k in client_options(settings)} == client_options(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:1", **client_options(settings))  # aiokafka accepts them
    assert admin._client._sasl_mechanism == "SCRAM-SHA-512"
    await admin.close()


async def test_a_connection_problem_names_the_server_and_user_but_not_the_password() -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = _settings(kafka_bootstrap=f"127.0.0.1:{port},127.0.0.2:9092", kafka_security_protocol="SASL_PLAINTEXT", **SASL)
    problem = await connection_problem(settings, timeout_s=5)
    assert problem.startswith(f"127.0.0.1:{port} (SASL_PLAINTEXT, SCRAM-SHA-512 as user 'benchmarks'): ")
    assert "Connect" in problem and PASSWORD not in problem
