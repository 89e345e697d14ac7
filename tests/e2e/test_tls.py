"""test_tls.py - TLS of lib/tls + lib/stream, through testsvc under master.

Each test starts an instance (tools/mkinstance.sh: a self-signed
certificate in var/tls/server.pem for "localhost", tls_server_cert and
tls_server_key in imapd.conf) with two testsvc services: one plain with
STARTTLS, one with implicit TLS (-s).  Clients are Python's ssl module,
trusting only the instance's certificate and checking the host name.
"""
import socket
import ssl

import pytest

import roost


@pytest.fixture
def tls_inst(make_instance):
    inst = make_instance(start=False)
    inst.plain_port = roost.add_testsvc(inst, "testsvc")
    inst.tls_port = roost.add_testsvc(inst, "testsvcs", "-s")
    inst.start()
    return inst


def read_until_eof(client, limit=1 << 20):
    """Everything the server sends until it closes (None if it does not
    close within the socket timeout)."""
    data = bytes(client.buf)
    client.buf.clear()
    try:
        while len(data) < limit:
            chunk = client.sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data
    except TimeoutError:
        return None
    return None


def assert_serving(inst):
    """A fresh connection on each port is greeted and answers."""
    with roost.LineClient(inst.plain_port) as c:
        c.greeting()
        assert c.cmd("ECHO plain ok") == "plain ok"
    with roost.LineClient(inst.tls_port, tls=roost.tls_client_context(inst)) as c:
        c.greeting()
        assert c.cmd("ECHO tls ok") == "tls ok"


def test_implicit_tls_handshake_and_certificate(tls_inst):
    inst = tls_inst
    ctx = roost.tls_client_context(inst)
    with roost.LineClient(inst.tls_port, tls=ctx) as c:
        pid = c.greeting()
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        # The certificate is the instance's own (verified against it as the
        # only CA, for host name "localhost").
        pem = (inst.dir / "tls" / "server.pem").read_text()
        first = pem[:pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
        assert c.sock.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(first)
        assert c.cmd("PID") == str(pid)
        assert c.cmd("ECHO over tls") == "over tls"
        # Implicit TLS: nothing to start.
        capa = c.cmd("CAPA")
        assert capa.startswith("CAPA") and "STARTTLS" not in capa.split()
        assert c.cmd("STARTTLS") == "BAD TLS already active"
        assert c.cmd("ECHO still") == "still"

    # TLS 1.2 exactly is offered too.
    ctx12 = roost.tls_client_context(inst, min_version=ssl.TLSVersion.TLSv1_2,
                                     max_version=ssl.TLSVersion.TLSv1_2)
    with roost.LineClient(inst.tls_port, tls=ctx12) as c:
        c.greeting()
        assert c.sock.version() == "TLSv1.2"
        assert c.cmd("ECHO twelve") == "twelve"


def test_certificate_checks_fail_for_other_names_and_cas(tls_inst):
    inst = tls_inst
    with pytest.raises(ssl.SSLCertVerificationError):
        roost.LineClient(inst.tls_port, tls=roost.tls_client_context(inst),
                         server_hostname="not-this-host.example")
    # Not signed by any public CA.
    with pytest.raises(ssl.SSLCertVerificationError):
        roost.LineClient(inst.tls_port, tls=ssl.create_default_context())
    assert_serving(inst)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls11_client_refused(tls_inst):
    inst = tls_inst
    ctx = roost.tls_client_context(inst, max_version=ssl.TLSVersion.TLSv1_1)
    # OpenSSL 3 disables TLS 1.1 at the default security level: lower it so
    # that the client really offers TLS 1.1 and the refusal is the server's.
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError) as e:
        roost.LineClient(inst.tls_port, tls=ctx)
    assert e.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", e.value
    # The same through STARTTLS.
    with roost.LineClient(inst.plain_port) as c:
        c.greeting()
        assert c.cmd("STARTTLS") == "OK begin TLS"
        with pytest.raises(ssl.SSLError):
            c.starttls(ctx)
    roost.wait_for(lambda: inst.log().count("TLS handshake failed") >= 2, 10,
                   what="handshake failures logged")
    assert_serving(inst)


def test_starttls(tls_inst):
    inst = tls_inst
    with roost.LineClient(inst.plain_port) as c:
        pid = c.greeting()
        capa = c.cmd("CAPA").split()
        assert capa[0] == "CAPA" and "STARTTLS" in capa
        assert c.cmd("STARTTLS extra") == "BAD STARTTLS takes no argument"
        assert c.cmd("STARTTLS") == "OK begin TLS"
        c.starttls(roost.tls_client_context(inst))
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        capa = c.cmd("CAPA").split()
        assert capa[0] == "CAPA" and "STARTTLS" not in capa
        assert c.cmd("STARTTLS") == "BAD TLS already active"
        assert c.cmd("ECHO secret stuff") == "secret stuff"
        assert c.cmd("PID") == str(pid)             # the same session
        assert c.cmd("QUIT") == "* BYE"


def test_starttls_plaintext_injection_rejected(tls_inst):
    inst = tls_inst
    for injected in (b"ECHO injected\r\n", b"ECHO injected\r\nECHO injected2\r\n",
                     b"ECHO injected"):
        with roost.LineClient(inst.plain_port) as c:
            c.greeting()
            # The command and the injected line in one segment: the server
            # reads both before it starts TLS.
            c.send(b"STARTTLS\r\n" + injected)
            assert c.line() == "OK begin TLS"
            c.starttls(roost.tls_client_context(inst))
            c.send(b"ECHO after\r\n")
            assert c.line() == "after"
            assert c.cmd("ECHO next") == "next"     # nothing queued in between
            assert "injected" not in c.cmd("CAPA")


def test_garbage_instead_of_client_hello(tls_inst):
    inst = tls_inst
    garbage = b"GET / HTTP/1.0\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4
    with roost.LineClient(inst.tls_port, timeout=10) as c:
        c.send(garbage)
        data = read_until_eof(c)
        assert data is not None, "server did not close the connection"
        assert b"* OK" not in data                  # never greeted in plaintext
    with roost.LineClient(inst.plain_port, timeout=10) as c:
        c.greeting()
        assert c.cmd("STARTTLS") == "OK begin TLS"
        c.send(garbage)
        data = read_until_eof(c)
        assert data is not None, "server did not close the connection"
        assert b"after" not in data and b"BAD" not in data
    # A handshake record cut short by the client closing its side: EOF
    # in the middle of the handshake.
    with roost.LineClient(inst.tls_port, timeout=10) as c:
        c.send(b"\x16\x03\x01\x02\x00" + b"\x01" * 100)
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:                             # the server was faster
            pass
        assert read_until_eof(c) is not None
    roost.wait_for(lambda: inst.log().count("TLS handshake failed") >= 3, 10,
                   what="handshake failures logged")
    assert "killed by signal" not in inst.log()
    assert "exited with status" not in inst.log()
    assert_serving(inst)
