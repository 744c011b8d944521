"""KafkaSettings: environment mapping, what kafka-python and Faust get, secrets kept out of sight, clear errors."""

from __future__ import annotations

import datetime
import logging
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from planewatch.kafka import KafkaSettings
from planewatch.kafka.settings import ENV_VARS

PASSWORD = "s3cr3t-Öl-\\-'quoted'"  # non-ASCII, a backslash and quotes: shows up differently in reprs


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """A throwaway CA and a client certificate it signed (PEM files)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "planewatch test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "collector")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(ca_key, hashes.SHA256()))
    files = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.pem", "key": tmp_path / "client.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return files


def sasl_ssl_env(password_file: Path, tls: dict[str, Path]) -> dict[str, str]:
    return {
        "PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "PLANEWATCH_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "PLANEWATCH_KAFKA_SASL_USERNAME": "collector-7",
        "PLANEWATCH_KAFKA_SASL_PASSWORD_FILE": str(password_file),
        "PLANEWATCH_KAFKA_CA_FILE": str(tls["ca"]),
        "PLANEWATCH_KAFKA_CERT_FILE": str(tls["cert"]),
        "PLANEWATCH_KAFKA_KEY_FILE": str(tls["key"]),
    }


# -- mapping --------------------------------------------------------------------------


def test_every_environment_variable_maps_to_its_setting(password_file: Path, tls_files: dict[str, Path]):
    settings = KafkaSettings.from_env("kafka-1:9093, kafka-2:9093", sasl_ssl_env(password_file, tls_files))
    assert settings.bootstrap_servers == ("kafka-1:9093", "kafka-2:9093")
    assert settings.security_protocol == "SASL_SSL"
    assert settings.sasl_mechanism == "SCRAM-SHA-512"
    assert settings.sasl_username == "collector-7"
    assert settings.sasl_password is not None and settings.sasl_password.get_secret_value() == PASSWORD  # newline stripped
    assert (settings.ca_file, settings.cert_file, settings.key_file) == (tls_files["ca"], tls_files["cert"], tls_files["key"])
    assert set(ENV_VARS.values()) == set(sasl_ssl_env(password_file, tls_files))


def test_kafka_python_gets_the_same_settings(password_file: Path, tls_files: dict[str, Path]):
    config = KafkaSettings.from_env("kafka-1:9093,kafka-2:9093", sasl_ssl_env(password_file, tls_files)).client_config()
    assert config == {
        "bootstrap_servers": ["kafka-1:9093", "kafka-2:9093"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "collector-7",
        "sasl_plain_password": PASSWORD,
        "ssl_check_hostname": True,
        "ssl_cafile": str(tls_files["ca"]),
        "ssl_certfile": str(tls_files["cert"]),
        "ssl_keyfile": str(tls_files["key"]),
    }
    from kafka import KafkaProducer

    unknown = set(config) - set(KafkaProducer.DEFAULT_CONFIG)
    assert not unknown, f"kafka-python does not know {unknown}"


def test_faust_gets_the_same_settings(password_file: Path, tls_files: dict[str, Path]):
    import faust
    from faust.types.auth import AuthProtocol

    settings = KafkaSettings.from_env("kafka-1:9093,kafka-2:9093", sasl_ssl_env(password_file, tls_files))
    credentials = settings.faust_credentials()
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol == AuthProtocol.SASL_SSL
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("collector-7", PASSWORD)
    assert isinstance(credentials.ssl_context, ssl.SSLContext)
    assert credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED and credentials.ssl_context.check_hostname
    assert PASSWORD not in repr(credentials)
    assert settings.faust_broker() == "kafka://kafka-1:9093;kafka://kafka-2:9093"

    tls_only = KafkaSettings.from_env("kafka-1:9093", {"PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "ssl",
                                                       "PLANEWATCH_KAFKA_CA_FILE": str(tls_files["ca"])})
    assert isinstance(tls_only.faust_credentials(), faust.SSLCredentials)
    assert tls_only.client_config()["ssl_cafile"] == str(tls_files["ca"])
    assert KafkaSettings.from_env("127.0.0.1:9092", {}).faust_credentials() is None


def test_plaintext_is_the_default_and_asks_for_nothing_else():
    settings = KafkaSettings.from_env("127.0.0.1:9092", {})
    assert settings.security_protocol == "PLAINTEXT"
    assert settings.client_config() == {"bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "PLAINTEXT"}
    assert settings.ssl_context() is None
    assert settings.describe() == "127.0.0.1:9092 (PLAINTEXT)"


# -- secrets ----------------------------------------------------------------------------


def test_the_password_is_never_shown(password_file: Path, tls_files: dict[str, Path]):
    settings = KafkaSettings.from_env("kafka-1:9093", sasl_ssl_env(password_file, tls_files))
    shown = [repr(settings), str(settings), settings.describe(), settings.model_dump_json(),
             str(settings.model_dump()), f"{settings!r}"]
    for text in shown:
        assert PASSWORD not in text
    assert "collector-7" in settings.describe() and "SCRAM-SHA-512" in settings.describe()


def test_a_validation_error_never_echoes_the_password():
    """pydantic prints the input of a failed model validator, password included, unless told not to."""
    with pytest.raises(ValueError) as error:
        KafkaSettings(bootstrap_servers="127.0.0.1:9092", security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                      sasl_password="hunter2-secret")  # no username
    assert "PLANEWATCH_KAFKA_SASL_USERNAME" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_kafka_python_debug_logs_never_carry_the_password(password_file: Path, caplog: pytest.LogCaptureFixture):
    """kafka-python logs SASL/PLAIN requests, password included, at DEBUG; the settings guard its loggers."""
    settings = KafkaSettings.from_env("127.0.0.1:9092", {
        "PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "PLANEWATCH_KAFKA_SASL_MECHANISM": "PLAIN",
        "PLANEWATCH_KAFKA_SASL_USERNAME": "u", "PLANEWATCH_KAFKA_SASL_PASSWORD_FILE": str(password_file)})
    settings.client_config()
    caplog.set_level(logging.DEBUG)
    auth_bytes = b"u\x00u\x00" + PASSWORD.encode()
    logging.getLogger("kafka.net.connection").debug("Request 3: SaslAuthenticateRequest(auth_bytes=%r)", auth_bytes)
    logging.getLogger("kafka.net.connection").debug("Send: %r", bytearray(auth_bytes))
    logging.getLogger("kafka").debug("plain %s", PASSWORD)
    assert len(caplog.records) == 3
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert repr(PASSWORD.encode())[2:-1] not in record.getMessage()
        assert "quoted" not in record.getMessage()
        assert "**********" in record.getMessage()


# -- errors that say what to fix ---------------------------------------------------------------


@pytest.mark.parametrize(("bootstrap", "environ", "expected"), [
    ("kafka-1", {}, "'kafka-1': use HOST:PORT"),
    ("kafka-1:99999", {}, "'kafka-1:99999': use HOST:PORT"),
    ("127.0.0.1:9092,kafka-2", {}, "'kafka-2'"),
    (" , ", {}, "no Kafka bootstrap server given"),
    ("k:9092", {"PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "TLS"}, "PLANEWATCH_KAFKA_SECURITY_PROTOCOL: Input should be 'PLAINTEXT'"),
    ("k:9092", {"PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "set PLANEWATCH_KAFKA_SASL_MECHANISM"),
    ("k:9092", {"PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "PLANEWATCH_KAFKA_SASL_MECHANISM": "GSSAPI"},
     "PLANEWATCH_KAFKA_SASL_MECHANISM: Input should be 'PLAIN'"),
    ("k:9092", {"PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "PLANEWATCH_KAFKA_SASL_MECHANISM": "PLAIN"},
     "SASL needs a username: set PLANEWATCH_KAFKA_SASL_USERNAME"),
    ("k:9092", {"PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "PLANEWATCH_KAFKA_SASL_MECHANISM": "PLAIN",
                "PLANEWATCH_KAFKA_SASL_USERNAME": "u"}, "set PLANEWATCH_KAFKA_SASL_PASSWORD_FILE to a file"),
    ("k:9092", {"PLANEWATCH_KAFKA_SASL_PASSWORD": "x"}, "put the password in a file"),
    ("k:9092", {"PLANEWATCH_KAFKA_SASL_USERNAME": "u"}, "set PLANEWATCH_KAFKA_SECURITY_PROTOCOL to SASL_SSL"),
    ("k:9092", {"PLANEWATCH_KAFKA_CA_FILE": "/etc/hostname"}, "set PLANEWATCH_KAFKA_SECURITY_PROTOCOL to SSL"),
    ("k:9092", {"PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SSL", "PLANEWATCH_KAFKA_CA_FILE": "/nonexistent/ca.pem"},
     "CA file '/nonexistent/ca.pem' does not exist"),
])
def test_bad_settings_say_what_to_fix(bootstrap: str, environ: dict[str, str], expected: str):
    with pytest.raises(ValueError) as error:
        KafkaSettings.from_env(bootstrap, environ)
    assert expected in str(error.value)
    assert "Traceback" not in str(error.value) and "pydantic" not in str(error.value)


def test_password_file_problems_are_named(tmp_path: Path, tls_files: dict[str, Path]):
    base = {"PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "PLANEWATCH_KAFKA_SASL_MECHANISM": "PLAIN",
            "PLANEWATCH_KAFKA_SASL_USERNAME": "u"}
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, expected in [(tmp_path / "missing", "does not exist or is not a file"), (tmp_path, "is not a file"),
                           (empty, "is empty")]:
        with pytest.raises(ValueError) as error:
            KafkaSettings.from_env("k:9092", {**base, "PLANEWATCH_KAFKA_SASL_PASSWORD_FILE": str(path)})
        assert expected in str(error.value) and "PLANEWATCH_KAFKA_SASL_PASSWORD_FILE" in str(error.value)
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="cannot be read"):
        KafkaSettings.from_env("k:9092", {**base, "PLANEWATCH_KAFKA_SASL_PASSWORD_FILE": str(binary)})
    with pytest.raises(ValueError, match="set both PLANEWATCH_KAFKA_CERT_FILE and PLANEWATCH_KAFKA_KEY_FILE"):
        KafkaSettings.from_env("k:9092", {"PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SSL",
                                          "PLANEWATCH_KAFKA_CERT_FILE": str(tls_files["cert"])})


def test_only_the_trailing_line_break_is_taken_off_the_password(tmp_path: Path):
    path = tmp_path / "pw"
    path.write_bytes(b"  spaced pw \r\n")
    settings = KafkaSettings.from_env("k:9092", {
        "PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", "PLANEWATCH_KAFKA_SASL_MECHANISM": "scram-sha-256",
        "PLANEWATCH_KAFKA_SASL_USERNAME": "u", "PLANEWATCH_KAFKA_SASL_PASSWORD_FILE": str(path)})
    assert settings.sasl_password is not None and settings.sasl_password.get_secret_value() == "  spaced pw "
    assert settings.sasl_mechanism == "SCRAM-SHA-256" and settings.security_protocol == "SASL_PLAINTEXT"
