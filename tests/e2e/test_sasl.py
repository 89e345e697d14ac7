"""test_sasl.py - SASL through lib/saslserver and the real libsasl2.

testsvc runs under master in an instance whose sasldb2 tools/mkinstance.sh
made (admin "cyrus"); users are added with saslpasswd2 (inst.add_user).
The client side is written here by hand from the RFCs (PLAIN RFC 4616,
CRAM-MD5 RFC 2195, LOGIN), so the exchanges are checked byte by byte:
continuation "+ <base64>", responses one base64 line each, "*" cancels.
"""
import base64
import hmac

import pytest

import roost

USERS = {"test1": "Pw-test1-Secret-4711", "test2": "Pw-test2-Other-0815"}


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


def plain(authcid, password, authzid=""):
    return b64(f"{authzid}\0{authcid}\0{password}")


def make_sasl_instance(make_instance, extra_config=""):
    inst = make_instance(extra_config=extra_config, start=False)
    inst.port_ = roost.add_testsvc(inst)
    for user, password in USERS.items():
        inst.add_user(user, password)
    inst.start()
    return inst


@pytest.fixture
def sasl_inst(make_instance):
    return make_sasl_instance(make_instance)


def connect(inst, tls=False):
    c = roost.LineClient(inst.port_)
    c.greeting()
    if tls:
        assert c.cmd("STARTTLS") == "OK begin TLS"
        c.starttls(roost.tls_client_context(inst))
    return c


def mechs(c):
    words = c.cmd("CAPA").split()
    assert words[0] == "CAPA"
    return {w[len("AUTH="):] for w in words if w.startswith("AUTH=")}


def cram_md5(c, user, password):
    """A full CRAM-MD5 exchange; returns the final answer."""
    challenge_line = c.cmd("AUTH CRAM-MD5")
    assert challenge_line.startswith("+ "), challenge_line
    challenge = unb64(challenge_line[2:])
    assert challenge.startswith(b"<") and challenge.endswith(b">"), challenge
    digest = hmac.new(password.encode(), challenge, "md5").hexdigest()
    return c.cmd(b64(f"{user} {digest}"))


def test_plain_over_starttls_with_and_without_initial_response(sasl_inst):
    with connect(sasl_inst, tls=True) as c:
        assert {"PLAIN", "LOGIN", "CRAM-MD5"} <= mechs(c)
        assert c.cmd("WHOAMI") == "NO not authenticated"
        assert c.cmd("AUTH PLAIN " + plain("test1", USERS["test1"])) == \
            "OK authenticated as test1"
        assert c.cmd("WHOAMI") == "user=test1 authid=test1 mech=PLAIN"
        # One login per connection.
        assert c.cmd("AUTH PLAIN " + plain("test2", USERS["test2"])).startswith("BAD")
        assert c.cmd("WHOAMI") == "user=test1 authid=test1 mech=PLAIN"
    with connect(sasl_inst, tls=True) as c:
        assert c.cmd("AUTH PLAIN") == "+ "          # empty challenge
        assert c.cmd(plain("test2", USERS["test2"])) == "OK authenticated as test2"
        assert c.cmd("WHOAMI") == "user=test2 authid=test2 mech=PLAIN"
    with connect(sasl_inst, tls=True) as c:
        # Wrong password, unknown user: NO, and the client may try again.
        assert c.cmd("AUTH PLAIN " + plain("test1", "wrong")) == "NO authentication failed"
        assert c.cmd("AUTH PLAIN " + plain("nobody", "x")) == "NO authentication failed"
        assert c.cmd("AUTH PLAIN " + plain("test1", USERS["test1"])) == \
            "OK authenticated as test1"


def test_plain_without_tls_when_allowplaintext(make_instance):
    inst = make_sasl_instance(make_instance, "allowplaintext: yes")
    with connect(inst) as c:
        assert {"PLAIN", "LOGIN", "CRAM-MD5"} <= mechs(c)
        assert c.cmd("AUTH PLAIN " + plain("test1", USERS["test1"])) == \
            "OK authenticated as test1"
    with connect(inst) as c:
        assert c.cmd("AUTH PLAIN") == "+ "
        assert c.cmd(plain("test2", USERS["test2"])) == "OK authenticated as test2"


def test_plain_refused_without_tls(sasl_inst):
    with connect(sasl_inst) as c:
        offered = mechs(c)
        assert "PLAIN" not in offered and "LOGIN" not in offered
        assert "CRAM-MD5" in offered
        r = c.cmd("AUTH PLAIN " + plain("test1", USERS["test1"]))
        assert r.split()[0] in ("NO", "BAD"), r
        r = c.cmd("AUTH PLAIN")                     # no challenge either
        assert r.split()[0] in ("NO", "BAD"), r
        r = c.cmd("AUTH LOGIN")
        assert r.split()[0] in ("NO", "BAD"), r
        assert c.cmd("WHOAMI") == "NO not authenticated"
        # After STARTTLS the same connection may use them.
        assert c.cmd("STARTTLS") == "OK begin TLS"
        c.starttls(roost.tls_client_context(sasl_inst))
        assert {"PLAIN", "LOGIN"} <= mechs(c)
        assert c.cmd("AUTH PLAIN " + plain("test1", USERS["test1"])) == \
            "OK authenticated as test1"


def test_cram_md5(sasl_inst):
    with connect(sasl_inst) as c:                   # no TLS needed
        assert cram_md5(c, "test1", USERS["test1"]) == "OK authenticated as test1"
        assert c.cmd("WHOAMI") == "user=test1 authid=test1 mech=CRAM-MD5"
    with connect(sasl_inst) as c:
        assert cram_md5(c, "test1", "wrong password") == "NO authentication failed"
        assert cram_md5(c, "test2", USERS["test1"]) == "NO authentication failed"
        assert cram_md5(c, "nobody", "x") == "NO authentication failed"
        assert c.cmd("WHOAMI") == "NO not authenticated"
        # Each exchange has a fresh challenge.
        first = c.cmd("AUTH CRAM-MD5")
        assert c.cmd("*") == "BAD authentication cancelled"
        assert c.cmd("AUTH CRAM-MD5") != first
        assert c.cmd("*") == "BAD authentication cancelled"
        assert cram_md5(c, "test2", USERS["test2"]) == "OK authenticated as test2"


def test_login(sasl_inst):
    with connect(sasl_inst, tls=True) as c:
        r = c.cmd("AUTH LOGIN")
        assert r.startswith("+ ") and unb64(r[2:]).lower().startswith(b"username"), r
        r = c.cmd(b64("test1"))
        assert r.startswith("+ ") and unb64(r[2:]).lower().startswith(b"password"), r
        assert c.cmd(b64(USERS["test1"])) == "OK authenticated as test1"
        assert c.cmd("WHOAMI") == "user=test1 authid=test1 mech=LOGIN"
    with connect(sasl_inst, tls=True) as c:
        c.cmd("AUTH LOGIN")
        c.cmd(b64("test2"))
        assert c.cmd(b64("bad")) == "NO authentication failed"


def test_cancel_and_bad_base64(sasl_inst):
    with connect(sasl_inst, tls=True) as c:
        assert c.cmd("AUTH PLAIN") == "+ "
        assert c.cmd("*") == "BAD authentication cancelled"
        assert c.cmd("AUTH LOGIN").startswith("+ ")
        assert c.cmd("*") == "BAD authentication cancelled"
        # Not base64, in a response and as an initial response.
        assert c.cmd("AUTH PLAIN") == "+ "
        assert c.cmd("!!!notbase64") == "BAD invalid SASL exchange"
        assert c.cmd("AUTH CRAM-MD5").startswith("+ ")
        assert c.cmd("dGVzdA") == "BAD invalid SASL exchange"   # missing padding
        assert c.cmd("AUTH PLAIN @@@@").startswith("BAD")
        assert c.cmd("AUTH PLAIN " + b64("no separators")).split()[0] in ("NO", "BAD")
        assert c.cmd(b"AUTH PLAIN\r\nAAAA\x00AAAA").startswith("+ ")
        assert c.line() == "BAD invalid SASL exchange"
        # Over-long response: refused, the session goes on.
        assert c.cmd("AUTH PLAIN") == "+ "
        assert c.cmd("A" * 20000) == "BAD response too long"
        # Unknown and malformed mechanism names.
        assert c.cmd("AUTH NO-SUCH-MECH").startswith("NO")
        assert c.cmd("AUTH").startswith("BAD")
        assert c.cmd("AUTH PL/AIN").split()[0] in ("NO", "BAD")
        assert c.cmd("WHOAMI") == "NO not authenticated"
        # Still fine afterwards.
        assert c.cmd("AUTH PLAIN " + plain("test1", USERS["test1"])) == \
            "OK authenticated as test1"


def test_admin_may_authorize_as_another_user(sasl_inst):
    admin_pw = sasl_inst.admin_password
    with connect(sasl_inst, tls=True) as c:
        assert c.cmd("AUTH PLAIN " + plain("cyrus", admin_pw, authzid="test1")) == \
            "OK authenticated as test1"
        assert c.cmd("WHOAMI") == "user=test1 authid=cyrus mech=PLAIN"
    with connect(sasl_inst, tls=True) as c:
        assert c.cmd("AUTH PLAIN " + plain("cyrus", admin_pw)) == "OK authenticated as cyrus"
    with connect(sasl_inst, tls=True) as c:
        # A normal user may not, with the right password or not.
        assert c.cmd("AUTH PLAIN " + plain("test2", USERS["test2"], authzid="test1")) == \
            "NO authentication failed"
        assert c.cmd("AUTH PLAIN " + plain("test2", USERS["test2"], authzid="cyrus")) == \
            "NO authentication failed"
        assert c.cmd("WHOAMI") == "NO not authenticated"
        # Authorizing as oneself is fine.
        assert c.cmd("AUTH PLAIN " + plain("test2", USERS["test2"], authzid="test2")) == \
            "OK authenticated as test2"


def test_passwords_never_logged(make_instance):
    inst = make_sasl_instance(make_instance, "loglevel: debug\nsasl_log_level: 6")
    secrets = list(USERS.values()) + [inst.admin_password, "Wrong-Pw-9999"]
    with connect(inst, tls=True) as c:
        assert c.cmd("AUTH PLAIN " + plain("test1", "Wrong-Pw-9999")).startswith("NO")
        assert c.cmd("AUTH PLAIN " + plain("test1", USERS["test1"])).startswith("OK")
    with connect(inst, tls=True) as c:
        c.cmd("AUTH LOGIN")
        c.cmd(b64("test2"))
        assert c.cmd(b64("Wrong-Pw-9999")).startswith("NO")
        assert c.cmd("AUTH PLAIN " + plain("cyrus", inst.admin_password, "test2")).startswith("OK")
    with connect(inst) as c:
        assert cram_md5(c, "test2", "Wrong-Pw-9999").startswith("NO")
        assert cram_md5(c, "test2", USERS["test2"]).startswith("OK")
    with connect(inst) as c:
        assert c.cmd("AUTH PLAIN " + plain("test1", USERS["test1"])).startswith("NO")
    roost.wait_for(lambda: inst.log().count("login:") >= 3, 10, what="logins logged")
    log = inst.log()
    for secret in secrets:
        for form in (secret, b64(secret), plain("test1", secret), plain("test2", secret)):
            assert form not in log, f"{form!r} in the log"
