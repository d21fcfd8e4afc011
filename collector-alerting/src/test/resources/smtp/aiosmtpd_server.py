#!/usr/bin/env python3
"""A real SMTP server for EmailAiosmtpdTest, on aiosmtpd (Debian package python3-aiosmtpd, 1.4.3 in Debian 12).

Listens on 127.0.0.1:--port. With --cert and --key it offers STARTTLS and requires it before anything but EHLO,
NOOP and QUIT (aiosmtpd's require_starttls); without them it offers no STARTTLS. AUTH (aiosmtpd's built-in PLAIN
and LOGIN, --auth to offer fewer) accepts one --user/--password and is offered only after STARTTLS
(auth_require_tls). --refuse ADDRESS=REPLY answers RCPT for ADDRESS with REPLY (e.g. a 550) every time;
--refuse-once ADDRESS=REPLY only the first time (greylisting).

Prints JSON lines on stdout: {"event": "ready", ...} once listening, then one {"event": "session", ...} per SMTP
connection when it closes: the command verbs received in order, whether each came over TLS, the AUTH attempts
(mechanism, login, accepted: never the password) and the mails accepted (envelope and raw content, base64).
Stops when stdin closes (the test's process ends) or on SIGTERM.
"""
import argparse
import base64
import functools
import json
import ssl
import sys
import threading

from aiosmtpd import __version__ as AIOSMTPD_VERSION
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

_out = threading.Lock()


def emit(event):
    with _out:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


class RecordingSMTP(SMTP):
    """aiosmtpd's SMTP, recording each connection's commands and mails, reported when the connection closes."""

    def __init__(self, handler, **kwargs):
        super().__init__(handler, **kwargs)
        self.transcript = {"event": "session", "commands": [], "auth": [], "messages": []}
        self._reported = False

    def tls_active(self):
        return self.session is not None and self.session.ssl is not None

    def connection_lost(self, error):
        try:
            super().connection_lost(error)
        finally:
            # Called once more by aiosmtpd after a failed TLS handshake; report once. The controller's own probe
            # connection at start sends no command and is not reported.
            if not self._reported and self.transcript["commands"]:
                self._reported = True
                emit(self.transcript)


def _recorded(verb):
    base = getattr(SMTP, "smtp_" + verb)

    @functools.wraps(base)  # keeps aiosmtpd's syntax attributes (HELP, STARTTLS's availability)
    async def method(self, arg):
        entry = {"verb": verb, "tls": self.tls_active()}
        if verb == "AUTH":
            # the mechanism only: an initial response holds the credentials
            entry["mechanism"] = (arg or "").split(" ")[0].upper()
        self.transcript["commands"].append(entry)
        return await base(self, arg)

    return method


for _verb in ("HELO", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "VRFY", "QUIT"):
    setattr(RecordingSMTP, "smtp_" + _verb, _recorded(_verb))


class RecordingController(Controller):
    def factory(self):
        return RecordingSMTP(self.handler, **self.SMTP_kwargs)


class Handler:
    def __init__(self, refuse, refuse_once):
        self.refuse = refuse
        self.refuse_once = refuse_once
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        key = address.lower()
        with self.lock:
            reply = self.refuse.get(key) or self.refuse_once.pop(key, None)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        server.transcript["messages"].append({
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": server.tls_active(),
            "login": (session.auth_data.login.decode("utf-8", "replace")
                      if isinstance(session.auth_data, LoginPassword) else None),
            "content_b64": base64.b64encode(envelope.original_content).decode("ascii"),
        })
        return "250 2.0.0 OK: queued"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode("utf-8")
              and auth_data.password == password.encode("utf-8"))
        login = auth_data.login.decode("utf-8", "replace") if isinstance(auth_data, LoginPassword) else None
        server.transcript["auth"].append({"mechanism": mechanism, "login": login, "accepted": ok,
                                          "tls": server.tls_active()})
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


def replies(pairs):
    out = {}
    for p in pairs:
        address, sep, reply = p.partition("=")
        if not sep or not reply[:3].isdigit():
            raise SystemExit("expected ADDRESS=REPLY (e.g. nobody@example.org=550 5.1.1 no such user), was " + p)
        out[address.lower()] = reply
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", help="PEM certificate for STARTTLS")
    ap.add_argument("--key", help="PEM private key for STARTTLS")
    ap.add_argument("--user", default="alerts")
    ap.add_argument("--password", required=True)
    ap.add_argument("--auth", default="PLAIN,LOGIN", help="mechanisms offered, of PLAIN and LOGIN")
    ap.add_argument("--auth-required", action="store_true", help="no MAIL before AUTH")
    ap.add_argument("--refuse", action="append", default=[], metavar="ADDRESS=REPLY")
    ap.add_argument("--refuse-once", action="append", default=[], metavar="ADDRESS=REPLY")
    a = ap.parse_args()

    tls = None
    if a.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(a.cert, a.key)
    offered = {m.strip().upper() for m in a.auth.split(",") if m.strip()}
    controller = RecordingController(
        Handler(replies(a.refuse), replies(a.refuse_once)),
        hostname="127.0.0.1", port=a.port, server_hostname="localhost", ready_timeout=30,
        tls_context=tls, require_starttls=tls is not None,
        authenticator=authenticator(a.user, a.password), auth_require_tls=True, auth_required=a.auth_required,
        auth_exclude_mechanism=sorted({"PLAIN", "LOGIN"} - offered))
    controller.start()
    emit({"event": "ready", "port": a.port, "aiosmtpd": AIOSMTPD_VERSION, "starttls": tls is not None,
          "auth": sorted(offered)})
    try:
        sys.stdin.read()  # until the test closes it or ends
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
