"""The SMTP transport against a real server (aiosmtpd): one connection reused, refusals
classified, a dropped connection reconnected once before a message is handed over and never
after."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from app.email.transport import (
    HardRefusal,
    OutboxTransport,
    SMTPTransport,
    SoftFailure,
    open_transport,
)
from tests.smtp_server import SMTPServer


def _mail(to: str, subject: str = "Hello") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Harbour Goods <hello@harbour.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Hi there")
    msg.add_alternative("<p>Hi there</p>", subtype="html")
    return msg


def _count_connections(server) -> list[tuple]:
    """The client address of every MAIL command: one (host, port) per connection."""
    peers: list[tuple] = []

    async def handle_MAIL(smtp, session, envelope, address, mail_options):
        peers.append(session.peer)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    server.handler.handle_MAIL = handle_MAIL
    return peers


def test_messages_share_one_connection(smtp_server):
    # given a transport and a server counting connections
    peers = _count_connections(smtp_server)
    transport = SMTPTransport(smtp_server.url)

    # when three messages are sent
    for n in range(3):
        transport.send(_mail(f"shopper{n}@example.com", f"Message {n}"))
    transport.close()

    # then the server got all three, over one connection
    assert [m["Subject"] for m in smtp_server.messages] == ["Message 0", "Message 1", "Message 2"]
    assert len(set(peers)) == 1
    assert transport.connections == 1
    assert smtp_server.messages[0].get_body(("html",)).get_content().strip() == "<p>Hi there</p>"


def test_a_5xx_is_a_hard_refusal_and_a_4xx_a_soft_failure_on_the_same_connection(smtp_server):
    peers = _count_connections(smtp_server)
    smtp_server.refuse.add("gone@example.com")
    smtp_server.defer.add("busy@example.com")
    transport = SMTPTransport(smtp_server.url)

    with pytest.raises(HardRefusal, match="550"):
        transport.send(_mail("gone@example.com"))
    with pytest.raises(SoftFailure, match="451"):
        transport.send(_mail("busy@example.com"))
    transport.send(_mail("fine@example.com"))

    # the refusals left the connection usable: the next message went on it
    assert [m["To"] for m in smtp_server.messages] == ["fine@example.com"]
    assert len(set(peers)) == 1 and transport.connections == 1


def test_a_connection_dropped_while_idle_is_reopened_once_and_the_message_sent_once(app):
    # given a transport that sent one message, then the server restarted (its connections
    # dropped) on the same port
    server = SMTPServer()
    server.controller.start()
    try:
        transport = SMTPTransport(server.url)
        transport.send(_mail("first@example.com"))
        server.controller.stop()
        server.controller = Controller(server.handler, hostname="127.0.0.1", port=server.port)
        server.controller.start()

        # when the next message is sent
        transport.send(_mail("second@example.com"))

        # then it was delivered, once, on a second connection
        assert [m["To"] for m in server.messages] == ["first@example.com", "second@example.com"]
        assert transport.connections == 2
        transport.close()
    finally:
        server.controller.stop()


def test_a_connection_lost_during_data_is_a_soft_failure_never_retried(smtp_server):
    # given a server that takes the message, then drops the connection without answering
    async def handle_DATA(smtp, session, envelope):
        smtp_server.handler.messages.append(envelope.content)
        smtp.transport.close()
        return "250 never said"

    smtp_server.handler.handle_DATA = handle_DATA
    transport = SMTPTransport(smtp_server.url)

    # when a message is sent, then it fails softly ...
    with pytest.raises(SoftFailure, match="may have it, so it is not resent"):
        transport.send(_mail("maya@example.com"))
    # ... and the server saw it exactly once: no second attempt
    assert len(smtp_server.messages) == 1
    assert transport.connections == 1


def test_an_unreachable_server_is_a_soft_failure():
    transport = SMTPTransport("smtp://127.0.0.1:1", timeout=2)
    with pytest.raises(SoftFailure, match="cannot reach the mail server"):
        transport.send(_mail("maya@example.com"))


class _Authenticator:
    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"mailer" and auth_data.password == b"p@ss:word/1"
        return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_the_url_credentials(app):
    server = SMTPServer()
    server.controller = Controller(server.handler, hostname="127.0.0.1", port=server.port,
                                   authenticator=_Authenticator(), auth_require_tls=False,
                                   auth_required=True)
    server.controller.start()
    try:
        good = SMTPTransport(f"smtp://mailer:p%40ss%3Aword%2F1@127.0.0.1:{server.port}")
        good.send(_mail("maya@example.com"))
        good.close()
        assert len(server.messages) == 1

        bad = SMTPTransport(f"smtp://mailer:wrong@127.0.0.1:{server.port}")
        with pytest.raises(SoftFailure, match="refused Sticky's login"):
            bad.send(_mail("maya@example.com"))
        assert "wrong" not in repr(bad)
    finally:
        server.controller.stop()


def test_without_smtp_url_mail_goes_to_the_outbox(app):
    previous = app.config.get("SMTP_URL")
    app.config["SMTP_URL"] = None
    try:
        transport = open_transport(app)
    finally:
        app.config["SMTP_URL"] = previous
    assert isinstance(transport, OutboxTransport) and transport.outbox


def test_smtps_and_a_bad_scheme():
    assert SMTPTransport("smtps://u:p@mail.example.com").port == 465
    assert SMTPTransport("smtps://u:p@mail.example.com").ssl
    assert SMTPTransport("smtp://mail.example.com").port == 25
    with pytest.raises(ValueError, match="smtp:// or smtps://"):
        SMTPTransport("http://mail.example.com")


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 and its key, as files (the server's), and a client
    context that trusts it."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def test_starttls_is_used_when_the_server_offers_it(app, tmp_path):
    # given a server that offers STARTTLS and refuses mail without it
    server_tls, client_tls = _self_signed(tmp_path)
    server = SMTPServer()
    server.controller = Controller(server.handler, hostname="127.0.0.1", port=server.port,
                                   tls_context=server_tls, require_starttls=True)
    server.controller.start()
    try:
        transport = SMTPTransport(server.url)
        transport.tls_context = client_tls

        transport.send(_mail("maya@example.com"))
        transport.send(_mail("ada@example.com"))
        transport.close()

        assert [m["To"] for m in server.messages] == ["maya@example.com", "ada@example.com"]
        assert transport.connections == 1
    finally:
        server.controller.stop()


def test_smtps_speaks_tls_from_the_first_byte(app, tmp_path):
    server_tls, client_tls = _self_signed(tmp_path)
    server = SMTPServer()
    server.controller = Controller(server.handler, hostname="127.0.0.1", port=server.port,
                                   ssl_context=server_tls)
    server.controller.start()
    try:
        transport = SMTPTransport(f"smtps://127.0.0.1:{server.port}")
        transport.tls_context = client_tls
        transport.send(_mail("maya@example.com"))
        transport.close()
        assert [m["To"] for m in server.messages] == ["maya@example.com"]

        # an untrusted certificate is refused, softly (a configuration problem)
        untrusted = SMTPTransport(f"smtps://127.0.0.1:{server.port}")
        with pytest.raises(SoftFailure, match="cannot reach the mail server"):
            untrusted.send(_mail("maya@example.com"))
    finally:
        server.controller.stop()


def test_a_5xx_to_the_content_is_a_hard_refusal_and_a_refused_sender_is_not(smtp_server):
    async def handle_DATA(smtp, session, envelope):
        return "554 5.7.1 Message rejected as spam"

    smtp_server.handler.handle_DATA = handle_DATA
    transport = SMTPTransport(smtp_server.url)
    with pytest.raises(HardRefusal, match="554"):
        transport.send(_mail("maya@example.com"))

    # a refused sender is the store's configuration, not the shopper's address
    async def handle_MAIL(smtp, session, envelope, address, mail_options):
        return "553 5.7.1 Sender address not allowed"

    smtp_server.handler.handle_MAIL = handle_MAIL
    transport = SMTPTransport(smtp_server.url)
    with pytest.raises(SoftFailure, match="refused the sender"):
        transport.send(_mail("maya@example.com"))
