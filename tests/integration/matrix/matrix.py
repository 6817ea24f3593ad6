#!/usr/bin/env python3
"""The hostile-principal matrix for test_matrix.sh.

Principals (who asks) x actions (every EST label and operation, every
admin API endpoint, secret minting for each profile, tokens) x names (own
id, another device's, case variants, SANs outside the template, extra
subject attributes) x origins (same-site JSON, an empty cross-site POST
as navigator.sendBeacon sends it). Every cell is a row of a table below
with the answer the policy gives (issue 10). After each cell:

- the HTTP code is the one the table says;
- after a refusal, every table of the store but the audit is exactly as
  it was (row by row);
- every certificate handed out is checked against the rule that allowed
  it: issued by tessera's issuing CA, subject = the authorised device id
  and nothing the CSR smuggled in, SANs inside the profile's template
  for that id, EKU of its profile, the key of the CSR (or the key
  tessera generated), its row in the store for that device and profile.

Cells whose feature has not landed yet are listed in PENDING with the
feature they wait for: they are printed and counted as skipped, not run
(MATRIX_RUN_PENDING=1 runs them too, to see which pass already).

Usage: matrix.py --data DIR --port TLSPORT --tessera BIN --work DIR
           --counts FILE
"""
import argparse
import base64
import http.client
import json
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# ---------------------------------------------------------------------------
# Cells waiting for a feature that has not landed on main yet (issue 10's
# have all landed):
# id -> the feature (branch) it waits for. Emptied as the features land.
PENDING = {
}

# ---------------------------------------------------------------------------
# Names used below.
STATION_PATTERN = "^line-[0-9]{4}$"  # the test policy's station role
GW_SUFFIX = "gw.tessera.invalid"  # the default policy's gateway names
CROSS = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
JSON_CT = {"Content-Type": "application/json"}


class Principal:
    """Who asks: a client certificate (cert, key), HTTP Basic (user,
    secret), or nothing."""

    def __init__(self, name, cert=None, key=None, basic=None, remint=None):
        self.name = name
        self.cert = cert
        self.key = key
        self.basic = basic
        self.remint = remint  # a new secret when a wrong answer used it
        self._ctx = None


class Names:
    """What a CSR asks for: subject RDNs (each a list of (oid, value)),
    SANs as (type, value) with type uri, dns or ip, and the key."""

    def __init__(self, cn=None, rdns=None, extra=(), sans=(), key="ec256"):
        if rdns is None:
            rdns = [[(NameOID.COMMON_NAME, cn)]] if cn is not None else []
            rdns += [[a] for a in extra]
        self.rdns = rdns
        self.sans = list(sans)
        self.key = key


def own(i):
    """The names a device profile's template gives device i."""
    return Names(i, sans=[("uri", "urn:dev:" + i)])


def gw_own(i):
    return Names(i, sans=[("dns", i + "." + GW_SUFFIX)])


O = NameOID.ORGANIZATION_NAME
OU = NameOID.ORGANIZATIONAL_UNIT_NAME
L = NameOID.LOCALITY_NAME
CN = NameOID.COMMON_NAME
SN = NameOID.SERIAL_NUMBER

SUBJECT_OIDS = {"CN": CN, "O": O, "OU": OU, "L": L, "serialNumber": SN,
                "C": NameOID.COUNTRY_NAME,
                "ST": NameOID.STATE_OR_PROVINCE_NAME}

KEYS = {}


def new_key(kind):
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind.startswith("rsa"):
        # RSA keys are slow to make: one per size for the whole run.
        if kind not in KEYS:
            KEYS[kind] = rsa.generate_private_key(65537, int(kind[3:]))
        return KEYS[kind]
    raise ValueError(kind)


def make_csr(names):
    """(key, CSR DER) for names; values are written unvalidated, so that
    NULs, control bytes and look-alikes reach the server as asked."""
    key = new_key(names.key)
    rdns = [x509.RelativeDistinguishedName(
        [x509.NameAttribute(o, v, _validate=False) for o, v in rdn])
        for rdn in names.rdns]
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(rdns))
    gns = []
    for t, v in names.sans:
        if t == "uri":
            gns.append(x509.UniformResourceIdentifier(v))
        elif t == "dns":
            gns.append(x509.DNSName(v))
        elif t == "ip":
            import ipaddress
            gns.append(x509.IPAddress(ipaddress.ip_address(v)))
    if gns:
        b = b.add_extension(x509.SubjectAlternativeName(gns), False)
    csr = b.sign(key, hashes.SHA256())
    return key, csr.public_bytes(serialization.Encoding.DER)


def pub_der(k):
    return k.public_bytes(serialization.Encoding.DER,
                          serialization.PublicFormat.SubjectPublicKeyInfo)


# ---------------------------------------------------------------------------
class Matrix:
    def __init__(self, a):
        self.data = a.data
        self.port = a.port
        self.tessera = a.tessera
        self.work = a.work
        self.run_pending = os.environ.get("MATRIX_RUN_PENDING") == "1"
        self.passed = self.failed = self.skipped = 0
        self.cells = 0
        self.seen = set()
        self.db = os.path.join(self.data, "tessera.db")
        self.chain = os.path.join(self.data, "ca", "chain.pem")
        self.issuing = x509.load_pem_x509_certificate(
            open(os.path.join(self.data, "ca", "issuing.pem"), "rb").read())
        self.same = {"Origin": "https://localhost:%d" % self.port,
                     "Sec-Fetch-Site": "same-origin"}
        self.p = {}
        self.snap = None
        self.policy = None
        self.issued = []  # (cell, profile, certificate) handed out

    # --- reporting ------------------------------------------------------
    def ok(self, cid, what):
        self.passed += 1
        print("ok    %-34s %s" % (cid, what))

    def bad(self, cid, what):
        self.failed += 1
        print("FAIL  %-34s %s" % (cid, what))
        sys.stdout.flush()

    def skip(self, cid, why):
        self.skipped += 1
        print("skip  %-34s pending: %s" % (cid, why))

    # --- the store ------------------------------------------------------
    def snapshot(self):
        """Every table but the audit, row by row, and the schema. A CRL is
        taken as what it says (shard, issuer, revoked serials and
        reasons): CRLs are signed again on their own schedule, which is
        no change of state."""
        c = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True,
                            timeout=10)
        try:
            out = {"schema": sorted(c.execute(
                "SELECT type, name, sql FROM sqlite_master").fetchall(),
                key=repr)}
            for (t,) in c.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'audit%' AND name NOT LIKE 'sqlite_%'"):
                if t == "crls":
                    out[t] = sorted(crl_content(r) for r in c.execute(
                        "SELECT shard, der FROM crls"))
                    continue
                out[t] = sorted(c.execute(
                    'SELECT * FROM "%s"' % t).fetchall(), key=repr)
            return out
        finally:
            c.close()

    def q(self, sql, *args):
        c = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True,
                            timeout=10)
        try:
            return c.execute(sql, args).fetchall()
        finally:
            c.close()

    def settle(self):
        """After a change: wait (30 s at most, for a loaded machine)
        until the CRLs list every revoked certificate (rebuilt in the
        background after a revocation), then take the store as the new
        reference."""
        deadline = time.time() + 30
        while time.time() < deadline:
            revoked = {int(x, 16) for (x,) in self.q(
                "SELECT serial FROM certificates WHERE status = 'revoked' "
                "AND profile NOT IN ('root-ca', 'issuing-ca')")}
            listed = set()
            issuer = self.issuing.subject.rfc4514_string()
            for row in self.q("SELECT shard, der FROM crls"):
                c = crl_content(row)
                if c[1] == issuer:  # the issuing CA's CRLs, any shard
                    listed |= {e[0] for e in c[2]}
            if revoked <= listed:
                break
            time.sleep(0.1)
        else:
            self.bad("settle", "30 s after a revocation the issuing CA's "
                     "CRLs still lack %s" % sorted(
                         "%X" % x for x in revoked - listed))
        self.snap = self.snapshot()

    def diff(self, before, after):
        out = []
        for t in sorted(set(before) | set(after)):
            b, a = before.get(t, []), after.get(t, [])
            if b != a:
                gone = [r for r in b if r not in a]
                new = [r for r in a if r not in b]
                out.append("%s: -%s +%s" % (t, short(gone), short(new)))
        return "; ".join(out)

    # --- HTTP -----------------------------------------------------------
    def ctx(self, who):
        if who._ctx is None:
            c = ssl.create_default_context(cafile=self.chain)
            if who.cert:
                c.load_cert_chain(who.cert, who.key)
            who._ctx = c
        return who._ctx

    def http(self, who, method, path, body=None, headers=None):
        """(code, headers, body) of one request on a new connection."""
        h = {}
        if who.basic:
            h["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % who.basic).encode()).decode()
        h.update(headers or {})
        last = None
        t0 = time.time()
        for _ in range(3):
            conn = http.client.HTTPSConnection(
                "localhost", self.port, context=self.ctx(who), timeout=60)
            try:
                conn.request(method, path, body=body, headers=h)
                r = conn.getresponse()
                data = r.read()
                if time.time() - t0 > 5:
                    print("slow  %s %s %s took %.1f s" % (
                        who.name, method, path, time.time() - t0))
                return r.status, {k.lower(): v for k, v in
                                  r.getheaders()}, data
            except (ConnectionResetError, BrokenPipeError,
                    http.client.RemoteDisconnected, ssl.SSLError,
                    socket.timeout) as e:
                # A closed connection before any answer: nothing was done
                # (every change is committed before its answer is sent).
                last = e
                print("retry %s %s %s after %.1f s: %r" % (
                    who.name, method, path, time.time() - t0, e))
                time.sleep(0.2)
            finally:
                conn.close()
        return 0, {}, ("no answer: %r" % last).encode()

    # --- one cell -------------------------------------------------------
    def pending(self, cid):
        if cid in self.seen:
            raise SystemExit("duplicate cell id " + cid)
        self.seen.add(cid)
        self.cells += 1
        if cid in PENDING and not self.run_pending:
            self.skip(cid, PENDING[cid])
            return True
        return False

    def judge(self, cid, what, want, code, body, changed_ok):
        """The answer's code against want ('200', '401|403'); a refusal
        must leave the store as it was and say why."""
        wants = want.split("|")
        tag = " [pending: %s]" % PENDING[cid] if cid in PENDING else ""
        if str(code) not in wants:
            self.bad(cid, "%s: HTTP %s, want %s%s -- %s" % (
                what, code, want, tag, body[:240].decode("utf-8", "replace")
                .replace("\n", " ")))
            self.settle()  # whatever the wrong answer set off
            return False
        if code >= 400:
            after = self.snapshot()
            if after != self.snap:
                self.bad(cid, "%s: refused (%s) but the store changed: %s"
                         % (what, code, self.diff(self.snap, after)))
                self.snap = after
                return False
            if not body.strip():
                self.bad(cid, "%s: %s without a word of why" % (what, code))
                return False
        elif not changed_ok:
            after = self.snapshot()
            if after != self.snap:
                self.bad(cid, "%s: a read changed the store: %s"
                         % (what, self.diff(self.snap, after)))
                self.snap = after
                return False
        self.ok(cid, "%s -> %s%s" % (what, code, tag))
        return True

    # --- EST ------------------------------------------------------------
    def est(self, cid, who, op, label, names, want, rule=None, says=None):
        """One EST cell: who asks op (simpleenroll, simplereenroll,
        serverkeygen) under label (None: none) for names. rule: what an
        issued certificate must be ({"id", "profile", "sans"})."""
        if self.pending(cid):
            return None
        path = "/.well-known/est/" + (label + "/" if label else "") + op
        key, der = make_csr(names)
        code, hdr, body = self.http(
            who, "POST", path, base64.b64encode(der),
            {"Content-Type": "application/pkcs10"})
        what = "%s %s%s %s" % (who.name, (label + "/") if label else "", op,
                               describe(names))
        if not self.judge(cid, what, want, code, body, True):
            if code == 200 and who.remint:
                # Wrongly issued: the secret is used up; a new one keeps
                # the next cells about their own question.
                who.basic = (who.basic[0], who.remint())
                self.settle()
            return None
        text = body.decode("utf-8", "replace").lower()
        if says and code >= 400 and not any(w.lower() in text
                                            for w in says):
            self.bad(cid + ".says", "%s: the refusal names none of %s: %s"
                     % (what, says, body[:200]))
        if code != 200:
            return None
        try:
            if op == "serverkeygen":
                key, cert = parse_keygen(hdr, body)
            else:
                cert = parse_certs(body)
        except Exception as e:
            self.bad(cid + ".parse", "%s: answer unreadable: %s" % (what, e))
            return None
        self.check_cert(cid, cert, key, rule, names)
        self.settle()
        return cert, key

    def check_cert(self, cid, cert, key, rule, names):
        """The certificate against the rule that allowed it."""
        errs = []
        ident, profile = rule["id"], rule["profile"]
        try:
            cert.verify_directly_issued_by(self.issuing)
        except Exception as e:
            errs.append("not signed by the issuing CA (%s)" % e)
        rdns = list(cert.subject.rdns)
        types = []
        for rdn in rdns:
            if len(rdn) != 1:
                errs.append("multi-valued RDN %s" % rdn.rfc4514_string())
            for a in rdn:
                types.append(a.oid)
                if not all(0x20 <= ord(ch) < 0x7f for ch in a.value):
                    errs.append("non-ASCII or control in %r" % a.value)
        if len(types) != len(set(types)):
            errs.append("repeated subject attributes")
        # Every attribute by its rule in the policy (a template of the
        # id, a fixed value or a pattern); a policy without rules (the
        # CN-only schema before them) gives the CN = the id and copies
        # nothing else of the CSR.
        rules = self.subject_rules(profile)
        asked = {(o, v) for rdn in names.rdns for o, v in rdn if o != CN}
        seen = set()
        for rdn in rdns:
            for a in rdn:
                seen.add(a.oid)
                r = rules.get(a.oid)
                if rules and r is None:
                    errs.append("subject attribute %s has no rule" %
                                a.oid._name)
                elif isinstance(r, str) and a.value != r.replace(
                        "{id}", ident):
                    errs.append("subject %s=%r, the rule makes %r" % (
                        a.oid._name, a.value, r.replace("{id}", ident)))
                elif isinstance(r, dict) and "value" in r and \
                        a.value != r["value"]:
                    errs.append("subject %s=%r, the rule fixes %r" % (
                        a.oid._name, a.value, r["value"]))
                elif isinstance(r, dict) and "pattern" in r and \
                        not re.search(r["pattern"], a.value):
                    errs.append("subject %s=%r outside its pattern" % (
                        a.oid._name, a.value))
                elif not rules and a.oid == CN and a.value != ident:
                    errs.append("CN %r, authorised id %r" % (a.value, ident))
                elif not rules and (a.oid, a.value) in asked:
                    errs.append("subject %s=%s copied from the CSR" % (
                        a.oid._name, a.value))
        if CN not in seen:
            errs.append("no CN")
        try:
            san = cert.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            san = []
        got = set()
        for g in san:
            if isinstance(g, x509.UniformResourceIdentifier):
                got.add(("uri", g.value))
            elif isinstance(g, x509.DNSName):
                got.add(("dns", g.value))
            elif isinstance(g, x509.IPAddress):
                got.add(("ip", str(g.value)))
            else:
                got.add(("other", repr(g)))
        allowed = self.san_template(profile, ident, rule["sans"])
        if not got <= allowed:
            errs.append("SANs %s outside the template %s" % (
                sorted(got - allowed), sorted(allowed)))
        try:
            eku = set(cert.extensions.get_extension_for_class(
                x509.ExtendedKeyUsage).value)
        except x509.ExtensionNotFound:
            eku = set()
        want_eku = {ExtendedKeyUsageOID.CLIENT_AUTH}
        if profile == "gateway":
            want_eku.add(ExtendedKeyUsageOID.SERVER_AUTH)
        if eku != want_eku:
            errs.append("EKU %s, profile %s has %s" % (
                sorted(e._name for e in eku), profile,
                sorted(e._name for e in want_eku)))
        if ExtendedKeyUsageOID.SERVER_AUTH in eku:
            for t, v in got:
                if t == "ip" or v.rstrip(".").lower() == "localhost" or \
                        v.rstrip(".").lower().endswith(".localhost"):
                    errs.append("serverAuth certificate for %s" % v)
        try:
            bc = cert.extensions.get_extension_for_class(
                x509.BasicConstraints).value
            if bc.ca:
                errs.append("CA:TRUE")
        except x509.ExtensionNotFound:
            errs.append("no basicConstraints")
        if key is not None and pub_der(cert.public_key()) != pub_der(
                key.public_key()):
            errs.append("the certificate's key is not the one asked for")
        if "key" in rule:
            k = cert.public_key()
            desc = ("rsa%d" % k.key_size if isinstance(k, rsa.RSAPublicKey)
                    else "ec%d" % k.curve.key_size)
            if desc != rule["key"]:
                errs.append("generated key %s, want %s" % (desc, rule["key"]))
        # Issue 10 §6: the profile in a certificatePolicies OID under
        # tessera's arc, the one source of the holder's role.
        got_oids = profile_oids(cert)
        want_oid = profile_oid(profile)
        if got_oids and got_oids != [want_oid]:
            errs.append("tessera profile OIDs %s, want %s (%s)" % (
                got_oids, want_oid, profile))
        self.issued.append((cid, profile, cert))
        serial = "%032X" % cert.serial_number
        rows = self.q("SELECT device_id, profile, status FROM certificates "
                      "WHERE upper(serial) = ? OR upper(serial) = ?",
                      serial, "%X" % cert.serial_number)
        if rows != [(ident, profile, "valid")]:
            errs.append("store row %s, want %s" % (
                rows, [(ident, profile, "valid")]))
        if errs:
            self.bad(cid + ".cert", "; ".join(errs))
        else:
            self.ok(cid + ".cert", "issued %s %s %s" % (
                profile, cert.subject.rfc4514_string(),
                sorted(v for _, v in got)))

    def profile_policy(self, profile):
        if self.policy is None:
            self.policy = json.load(open(os.path.join(self.data,
                                                      "policy.json")))
        return self.policy["profiles"][profile]

    def subject_rules(self, profile):
        """{oid: template string or {"value"|"pattern": ...}} from the
        profile's subject rules; {} for a policy without them."""
        subj = self.profile_policy(profile).get("subject", {})
        out = {}
        for k, v in subj.items():
            if k in SUBJECT_OIDS and isinstance(v, (str, dict)):
                out[SUBJECT_OIDS[k]] = v
        return out

    def san_template(self, profile, ident, fallback):
        """The SANs the profile's templates give ident (the fallback for
        a policy without templates)."""
        san = self.profile_policy(profile).get("san", {})
        out = set()
        for t in ("uri", "dns"):
            for tpl in san.get(t, []) if isinstance(san.get(t), list) \
                    else []:
                out.add((t, tpl.replace("{id}", ident)))
        return out if any(isinstance(san.get(t), list)
                          for t in ("uri", "dns")) else set(fallback)

    # --- plain requests -------------------------------------------------
    def req(self, cid, who, method, path, want, body=None, headers=None,
            changed_ok=None):
        """One request cell; the JSON answer (or None)."""
        if self.pending(cid):
            return None
        if changed_ok is None:
            changed_ok = method == "POST"
        hh = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hh.setdefault("Content-Type", "application/json")
        code, hdr, data = self.http(who, method, path, body, hh)
        extra = []
        if body:
            extra.append("body")
        if "Origin" in hh or "Sec-Fetch-Site" in hh:
            extra.append("%s/%s" % (hh.get("Origin", "-"),
                                    hh.get("Sec-Fetch-Site", "-")))
        what = "%s %s %s%s" % (who.name, method, path,
                               " (%s)" % ", ".join(extra) if extra else "")
        if not self.judge(cid, what, want, code, data, changed_ok):
            return None
        if code < 400 and changed_ok:
            self.settle()
        try:
            return json.loads(data) if data else {}
        except ValueError:
            return {}

    def api(self, cid, who, method, path, want, **kw):
        return self.req(cid, who, method, "/api/v1/" + path, want, **kw)

    def mint(self, cid, who, device, want, profile=None, ttl=None,
             headers=None):
        body = {"device": device}
        if profile:
            body["profile"] = profile
        if ttl:
            body["ttl"] = ttl
        j = self.api(cid, who, "POST", "enrollment-secrets", want,
                     body=body, headers=headers)
        return j.get("secret") if j else None

    def token(self, cid, who, want):
        return self.req(cid, who, "POST", "/token", want,
                        body=b"grant_type=client_credentials",
                        headers={"Content-Type":
                                 "application/x-www-form-urlencoded"},
                        changed_ok=False)

    # --- principals -----------------------------------------------------
    def keep(self, name, cert, key):
        """Write a certificate and its key for a principal."""
        cp = os.path.join(self.work, name + ".pem")
        kp = os.path.join(self.work, name + ".key")
        with open(cp, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(kp, "wb") as f:
            f.write(key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        os.chmod(kp, 0o600)
        return Principal(name, cp, kp)

    def cli_issue(self, name, ident, profile):
        """A certificate from `tessera issue` (the local operator)."""
        key, der = make_csr(Names(ident))
        csr = os.path.join(self.work, name + ".csr")
        with open(csr, "wb") as f:
            f.write(der)
        out = os.path.join(self.work, name + ".pem")
        r = subprocess.run([self.tessera, "issue", "--data", self.data,
                            "--csr", csr, "--profile", profile, "--out",
                            out], capture_output=True)
        if r.returncode != 0:
            raise SystemExit("tessera issue %s: %s" % (name, r.stderr))
        cert = x509.load_pem_x509_certificate(open(out, "rb").read())
        return self.keep(name, cert, key)


# tessera's arc for profile OIDs, one arc per byte of the profile's name
# ("device" is ...1.100.101.118.105.99.101; ca/certpolicy.h).
PROFILE_ARC = "1.3.6.1.4.1.32473.1.1"


def profile_oid(name):
    return ".".join([PROFILE_ARC] + [str(b) for b in name.encode()])


def profile_oids(cert):
    """The certificate's policy OIDs under tessera's profile arc."""
    try:
        cp = cert.extensions.get_extension_for_class(
            x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return []
    return [p.policy_identifier.dotted_string for p in cp
            if p.policy_identifier.dotted_string.startswith(
                PROFILE_ARC + ".")]


def crl_content(row):
    shard, der = row
    crl = x509.load_der_x509_crl(der)
    entries = []
    for e in crl:
        try:
            why = e.extensions.get_extension_for_class(
                x509.CRLReason).value.reason.value
        except x509.ExtensionNotFound:
            why = None
        entries.append((e.serial_number, why))
    return (shard, crl.issuer.rfc4514_string(), tuple(sorted(entries)))


def short(rows):
    s = repr(rows)
    return s if len(s) < 300 else s[:300] + "..."


def describe(n):
    parts = []
    for rdn in n.rdns:
        parts.append("+".join("%s=%r" % (o._name, v) for o, v in rdn))
    if n.sans:
        parts.append("SAN " + ",".join("%s:%s" % s for s in n.sans))
    if n.key != "ec256":
        parts.append(n.key)
    return "[" + "; ".join(parts) + "]"


def parse_certs(body):
    der = base64.b64decode(b"".join(body.split()))
    certs = pkcs7.load_der_pkcs7_certificates(der)
    if len(certs) != 1:
        raise ValueError("%d certificates in the answer" % len(certs))
    return certs[0]


def parse_keygen(hdr, body):
    """RFC 7030 §4.4.2: multipart/mixed, the PKCS#8 key then the
    certificate, each base64."""
    ct = hdr.get("content-type", "")
    if "boundary=" not in ct:
        raise ValueError("no multipart boundary in %r" % ct)
    b = ct.split("boundary=", 1)[1].strip().strip('"').encode()
    key = cert = None
    for part in body.split(b"--" + b)[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.partition(b"\r\n\r\n")
        raw = base64.b64decode(b"".join(content.split()))
        if b"application/pkcs8" in head:
            key = serialization.load_der_private_key(raw, None)
        elif b"pkcs7-mime" in head:
            cert = pkcs7.load_der_pkcs7_certificates(raw)[0]
    if key is None or cert is None:
        raise ValueError("key or certificate part missing")
    return key, cert


# ---------------------------------------------------------------------------
def run(m):
    none = Principal("none")
    admin = Principal("admin", os.path.join(m.data, "admin", "admin.pem"),
                      os.path.join(m.data, "admin", "admin.key"))
    m.settle()

    def dev_rule(i, profile="device", **kw):
        r = {"id": i, "profile": profile, "sans": [("uri", "urn:dev:" + i)]}
        r.update(kw)
        return r

    def gw_rule(i):
        return {"id": i, "profile": "gateway",
                "sans": [("dns", i + "." + GW_SUFFIX)]}

    # --- set-up: the principals, each a cell of its own -----------------
    # The admin enrolls the stations, the gateway and the devices over
    # EST; operator and auditor come from `tessera issue` (no role may
    # enroll their profiles).
    def admin_enroll(cid, ident, label, names, rule):
        r = m.est(cid, admin, "simpleenroll", label, names, "200", rule)
        if r is None:
            raise SystemExit("set-up cell %s failed" % cid)
        return m.keep(ident, r[0], r[1])

    station = admin_enroll("setup.station-1", "station-1", "station",
                           Names("station-1"),
                           {"id": "station-1", "profile": "station",
                            "sans": []})
    station2 = admin_enroll("setup.station-2", "station-2", "station",
                            Names("station-2"),
                            {"id": "station-2", "profile": "station",
                             "sans": []})
    gateway = admin_enroll("setup.gw-1", "gw-1", "gateway", gw_own("gw-1"),
                           gw_rule("gw-1"))
    devb = admin_enroll("setup.dev-b", "dev-b", None, own("dev-b"),
                        dev_rule("dev-b"))
    devr = admin_enroll("setup.dev-r", "dev-r", None, own("dev-r"),
                        dev_rule("dev-r"))
    devblk = admin_enroll("setup.dev-blk", "dev-blk", None, own("dev-blk"),
                          dev_rule("dev-blk"))
    s0 = admin_enroll("setup.dev-s", "dev-s-0", None, own("dev-s"),
                      dev_rule("dev-s"))
    victims = {}
    for v in ("v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8"):
        victims[v] = admin_enroll("setup.dev-" + v, "dev-" + v, None,
                                  own("dev-" + v), dev_rule("dev-" + v))
    operator = m.cli_issue("operator", "operator-1", "operator")
    auditor = m.cli_issue("auditor", "auditor-1", "auditor")
    m.settle()

    def serial(p):
        c = x509.load_pem_x509_certificate(open(p.cert, "rb").read())
        return "%032X" % c.serial_number

    # dev-s renews once: its first certificate is the superseded one.
    r = m.est("setup.dev-s.renew", s0, "simplereenroll", None, own("dev-s"),
              "200", dev_rule("dev-s"))
    s1 = m.keep("dev-s-1", r[0], r[1]) if r else None
    superseded = Principal("superseded", s0.cert, s0.key)
    # Secrets minted before their principal is refused: by station-2
    # (revoked next), for dev-blk (blocked next) and dev-pre (blocked
    # before it ever enrolled).
    sec_st2 = m.mint("setup.mint.station-2", station2, "line-0099", "201")
    sec_blk = m.mint("setup.mint.dev-blk", admin, "dev-blk", "201")
    sec_pre = m.mint("setup.mint.dev-pre", admin, "dev-pre", "201")
    m.api("setup.revoke.dev-r", admin, "POST",
          "certificates/%s/revoke" % serial(devr), "200",
          body={"reason": "keyCompromise"}, headers=m.same)
    m.api("setup.revoke.station-2", admin, "POST",
          "certificates/%s/revoke" % serial(station2), "200",
          body={"reason": "keyCompromise"}, headers=m.same)
    m.api("setup.block.dev-blk", admin, "POST", "devices/dev-blk/revoke",
          "200", body={"reason": "keyCompromise"}, headers=m.same)
    # Issue 10 §10: blocking an id that never enrolled creates the block.
    m.api("setup.block.dev-pre", admin, "POST", "devices/dev-pre/revoke",
          "200", body={"reason": "keyCompromise"}, headers=m.same)
    m.api("setup.block.dev-v5", admin, "POST", "devices/dev-v5/revoke",
          "200", body={"reason": "keyCompromise"}, headers=m.same)
    revoked = Principal("revoked-device", devr.cert, devr.key)
    revoked_station = Principal("revoked-station", station2.cert,
                                station2.key)
    blocked_cert = Principal("blocked-device", devblk.cert, devblk.key)
    sec_a = m.mint("setup.mint.dev-a", admin, "dev-a", "201")
    sec_k = m.mint("setup.mint.dev-k", admin, "dev-k", "201")
    sec_k2 = m.mint("setup.mint.dev-k2", admin, "dev-k2", "201")
    sec_k3 = m.mint("setup.mint.dev-k3", admin, "dev-k3", "201")
    sec_k4 = m.mint("setup.mint.dev-k4", admin, "dev-k4", "201")
    sec_gw = m.mint("setup.mint.gw-2", admin, "gw-2", "201",
                    profile="gateway")
    def remint(ident, profile=None):
        def f():
            return m.mint("remint.%s.%d" % (ident, len(m.seen)), admin,
                          ident, "201", profile=profile) or "x"
        return f

    secret_a = Principal("secret(dev-a)", basic=("dev-a", sec_a or "x"),
                         remint=remint("dev-a"))

    # --- public EST resources: every principal, every label -------------
    everyone = [none, secret_a, superseded, revoked, revoked_station,
                station, gateway, operator, auditor, admin, devb]
    for who in everyone:
        for label in (None, "device", "gateway", "station", "operator"):
            for op in ("cacerts", "csrattrs"):
                m.req("est.%s.%s.%s" % (who.name, label or "-", op), who,
                      "GET", "/.well-known/est/" +
                      (label + "/" if label else "") + op, "200")
        m.req("est.%s.nolabel.cacerts" % who.name, who, "GET",
              "/.well-known/est/no-such-profile/cacerts", "404")
        m.req("est.%s.fullcmc" % who.name, who, "POST",
              "/.well-known/est/fullcmc", "501", body=b"AA==",
              headers={"Content-Type": "application/pkcs7-mime"})

    # --- the secret for dev-a: every hostile name first (none may use
    # the secret up), then its own names once, then never again --------
    A = "dev-a"
    SECRET_A = [
        # id, op, label, names, want
        ("sa.other-id", "simpleenroll", None, own("dev-b"), "403"),
        ("sa.case-cn", "simpleenroll", None, own("Dev-A"), "400|403"),
        ("sa.san-localhost", "simpleenroll", None,
         Names(A, sans=[("dns", "localhost")]), "403"),
        ("sa.san-127", "simpleenroll", None,
         Names(A, sans=[("ip", "127.0.0.1")]), "403"),
        ("sa.san-other-urn", "simpleenroll", None,
         Names(A, sans=[("uri", "urn:dev:dev-b")]), "403"),
        ("sa.san-extra-urn", "simpleenroll", None,
         Names(A, sans=[("uri", "urn:dev:dev-a"),
                        ("uri", "urn:dev:dev-a-admin")]), "403"),
        ("sa.san-case-urn", "simpleenroll", None,
         Names(A, sans=[("uri", "urn:dev:DEV-A")]), "403"),
        ("sa.attr-L", "simpleenroll", None, Names(A, extra=[(L, "Berlin")]),
         "403"),
        ("sa.attr-O", "simpleenroll", None,
         Names(A, extra=[(O, "Evil Corp")]), "403"),
        ("sa.attr-OU", "simpleenroll", None, Names(A, extra=[(OU, "ops")]),
         "403"),
        ("sa.attr-serial", "simpleenroll", None,
         Names(A, extra=[(SN, "0001")]), "403"),
        ("sa.multi-rdn", "simpleenroll", None,
         Names(rdns=[[(CN, A), (O, "Evil Corp")]]), "400"),
        ("sa.repeat-cn", "simpleenroll", None,
         Names(rdns=[[(CN, A)], [(CN, A)]]), "400"),
        ("sa.lookalike", "simpleenroll", None, Names("dev-\u0430"), "400"),
        ("sa.control", "simpleenroll", None, Names("dev-a\x07"), "400"),
        ("sa.nul", "simpleenroll", None, Names("dev-a\x00"), "400"),
        ("sa.trailing-dot", "simpleenroll", None, Names("dev-a."),
         "400|403"),
        ("sa.label-gateway", "simpleenroll", "gateway", own(A), "401"),
        ("sa.label-station", "simpleenroll", "station", own(A), "401|403"),
        ("sa.reenroll", "simplereenroll", None, own(A), "403"),
        ("sa.keygen-other", "serverkeygen", None, own("dev-b"), "403"),
        ("sa.own", "simpleenroll", None, own(A), "200"),
        ("sa.replay", "simpleenroll", None, own(A), "401"),
    ]
    deva = None
    for cid, op, label, names, want in SECRET_A:
        if cid == "sa.own":
            # dev-a's secret under another spelling of dev-a (a user
            # that is no canonical device id is 400).
            m.est("sa.case-user", Principal(
                "secret(Dev-A)", basic=("Dev-A", secret_a.basic[1])),
                "simpleenroll", None, own("Dev-A"), "400|401|403")
        # A 403 for a name names the field it refuses (§3).
        says = (("SAN", "subjectAltName") if ".san-" in cid else
                ("attribute", "subject") if ".attr-" in cid else None)
        r = m.est(cid, secret_a, op, label, names, want, dev_rule(A),
                  says=says)
        if cid == "sa.own" and r:
            deva = m.keep("dev-a", r[0], r[1])
    if deva is None:
        deva = Principal("dev-a", devb.cert, devb.key)  # keeps going
    deva.name = "device(dev-a)"

    # --- serverkeygen with one-time secrets: the key tessera makes -------
    KEYGEN = [
        # id, device, secret, CSR key, want, generated key
        ("kg.ec256", "dev-k", sec_k, "ec256", "200", "ec256"),
        ("kg.rsa3072", "dev-k2", sec_k2, "rsa3072", "200", "rsa3072"),
        # Issue 10 §5: the CSR's family; RSA at the profile's smallest
        # size whatever size the CSR's key has (a bigger one could take
        # minutes to make). EC stays on the CSR's curve when the profile
        # allows it: any curve is made in microseconds, and the bound is
        # about the cost.
        ("kg.rsa-over", "dev-k3", sec_k3, "rsa4160", "200", "rsa3072"),
        ("kg.ec384", "dev-k4", sec_k4, "ec384", "200", "ec384"),
    ]
    for cid, ident, sec, kind, want, gen in KEYGEN:
        who = Principal("secret(%s)" % ident, basic=(ident, sec or "x"))
        m.est(cid, who, "serverkeygen", None,
              Names(ident, sans=[("uri", "urn:dev:" + ident)], key=kind),
              want, dev_rule(ident, key=gen))
    # One secret, one key.
    m.est("kg.replay", Principal("secret(dev-k)", basic=("dev-k", sec_k)),
          "serverkeygen", None, own("dev-k"), "401")

    # --- the gateway secret (admin-minted, profile gateway) -------------
    sg = Principal("secret(gw-2)", basic=("gw-2", sec_gw or "x"),
                   remint=remint("gw-2", "gateway"))
    GW = [
        ("sg.localhost", Names("gw-2", sans=[("dns", "localhost")]), "403"),
        ("sg.localhost-dot", Names("gw-2", sans=[("dns", "localhost.")]),
         "403|400"),
        ("sg.127", Names("gw-2", sans=[("ip", "127.0.0.1")]), "403"),
        ("sg.other-gw", Names("gw-2", sans=[("dns", "gw-1." + GW_SUFFIX)]),
         "403"),
        ("sg.other-urn", Names("gw-2", sans=[("uri", "urn:dev:dev-b")]),
         "403"),
        ("sg.foreign-dns", Names("gw-2", sans=[("dns", "www.example.com")]),
         "403"),
        ("sg.cn-localhost", Names("localhost"), "403"),
        ("sg.own", gw_own("gw-2"), "200"),
    ]
    for cid, names, want in GW:
        m.est(cid, sg, "simpleenroll", "gateway", names, want, gw_rule("gw-2"))

    # --- device A's certificate ------------------------------------------
    m.est("da.enroll-other", deva, "simpleenroll", None, own("dev-x1"), "403")
    m.est("da.enroll-self", deva, "simpleenroll", None, own(A), "403")
    m.est("da.keygen", deva, "serverkeygen", None, own(A), "403")
    m.est("da.renew-other-id", deva, "simplereenroll", None, own("dev-b"),
          "403")
    m.est("da.renew-case", deva, "simplereenroll", None, own("Dev-A"),
          "400|403")
    m.est("da.renew-san-localhost", deva, "simplereenroll", None,
          Names(A, sans=[("uri", "urn:dev:" + A), ("dns", "localhost")]),
          "403")
    m.est("da.renew-attr", deva, "simplereenroll", None,
          Names(A, extra=[(O, "Evil Corp")],
                sans=[("uri", "urn:dev:" + A)]), "403")
    m.est("da.renew-gateway", deva, "simplereenroll", "gateway", own(A),
          "403")
    m.token("da.token", deva, "200")

    # --- the superseded certificate (dev-s renewed once) -----------------
    m.est("ss.renew", superseded, "simplereenroll", None, own("dev-s"),
          "403")
    m.token("ss.token", superseded, "400|401")
    m.est("ss.enroll", superseded, "simpleenroll", None, own("dev-s"), "403")
    if s1:
        m.token("ss.successor-token", s1, "200")

    # --- revoked device, blocked device, their secrets --------------------
    m.est("rv.renew", revoked, "simplereenroll", None, own("dev-r"), "403")
    m.token("rv.token", revoked, "401")
    m.est("bk.renew", blocked_cert, "simplereenroll", None, own("dev-blk"),
          "403")
    m.token("bk.token", blocked_cert, "401")
    m.est("bk.secret", Principal("secret(dev-blk)",
                                 basic=("dev-blk", sec_blk or "x")),
          "simpleenroll", None, own("dev-blk"), "401|403")
    m.est("bk.secret-case", Principal("secret(Dev-Blk)",
                                      basic=("Dev-Blk", sec_blk or "x")),
          "simpleenroll", None, own("Dev-Blk"), "400|401|403")
    m.est("bk.pre-secret", Principal("secret(dev-pre)",
                                     basic=("dev-pre", sec_pre or "x")),
          "simpleenroll", None, own("dev-pre"), "401|403")
    # A secret minted by station-2 before it was revoked died with it.
    m.est("rs.minted-secret", Principal("secret(line-0099)",
                                        basic=("line-0099", sec_st2 or "x")),
          "simpleenroll", None, own("line-0099"), "401")
    m.est("rs.enroll", revoked_station, "simpleenroll", None,
          own("line-0098"), "403")

    # --- the station (device_pattern ^line-[0-9]{4}$) --------------------
    STATION = [
        # id, op, label, names, want, rule id
        ("st.own", "simpleenroll", None, own("line-0001"), "200"),
        ("st.other-id", "simpleenroll", None, own("dev-b"), "403"),
        ("st.new-outside", "simpleenroll", None, own("dev-x2"), "403"),
        ("st.case", "simpleenroll", None, own("LINE-0002"), "400|403"),
        ("st.again", "simpleenroll", None, own("line-0001"), "403|409"),
        ("st.san-other-urn", "simpleenroll", None,
         Names("line-0003", sans=[("uri", "urn:dev:dev-b")]), "403"),
        ("st.san-localhost", "simpleenroll", None,
         Names("line-0003", sans=[("dns", "localhost")]), "403"),
        ("st.attr-O", "simpleenroll", None,
         Names("line-0003", extra=[(O, "Evil Corp")]), "403"),
        ("st.label-device", "simpleenroll", "device", own("line-0004"),
         "200"),
        ("st.label-gateway", "simpleenroll", "gateway", gw_own("line-0005"),
         "403"),
        ("st.label-station", "simpleenroll", "station", Names("line-0005"),
         "403"),
        ("st.keygen", "serverkeygen", None, own("line-0006"), "200"),
        ("st.keygen-gateway", "serverkeygen", "gateway", gw_own("line-0008"),
         "403"),
        ("st.keygen-outside", "serverkeygen", None, own("dev-x14"), "403"),
        ("st.renew-other", "simplereenroll", None, Names("line-0007"),
         "403"),
    ]
    for cid, op, label, names, want in STATION:
        ident = names.rdns[0][0][1] if names.rdns else None
        m.est(cid, station, op, label, names, want, dev_rule(ident))

    # --- the gateway's certificate ----------------------------------------
    m.est("gw.enroll", gateway, "simpleenroll", None, own("dev-x3"), "403")
    m.est("gw.enroll-gw", gateway, "simpleenroll", "gateway",
          gw_own("gw-9"), "403")
    m.est("gw.renew-localhost", gateway, "simplereenroll", "gateway",
          Names("gw-1", sans=[("dns", "gw-1." + GW_SUFFIX),
                              ("dns", "localhost")]), "403")
    m.token("gw.token", gateway, "400")

    # --- operator, auditor, admin over EST --------------------------------
    m.est("op.enroll", operator, "simpleenroll", None, own("op-dev-1"),
          "200", dev_rule("op-dev-1"))
    m.est("op.enroll-gateway", operator, "simpleenroll", "gateway",
          gw_own("op-gw-1"), "403")
    m.est("op.enroll-family", operator, "simpleenroll", None,
          own("station-1"), "403|409")
    m.token("op.token", operator, "400")
    m.est("au.enroll", auditor, "simpleenroll", None, own("au-dev-1"), "403")
    m.token("au.token", auditor, "400")
    ADMIN_EST = [
        ("ad.own", "simpleenroll", None, own("dev-c"), "200",
         dev_rule("dev-c")),
        ("ad.case-existing", "simpleenroll", None, own("DEV-B"),
         "400|403|409", None),
        ("ad.blocked", "simpleenroll", None, own("dev-blk"), "403", None),
        ("ad.blocked-case", "simpleenroll", None, own("Dev-Blk"),
         "400|403|409", None),
        ("ad.family-gateway", "simpleenroll", None, own("gw-1"), "403|409",
         None),
        ("ad.family-station", "simpleenroll", None, own("station-1"),
         "403|409", None),
        ("ad.gw-localhost", "simpleenroll", "gateway",
         Names("gw-3", sans=[("dns", "localhost")]), "403", None),
        ("ad.gw-127", "simpleenroll", "gateway",
         Names("gw-3", sans=[("ip", "127.0.0.1")]), "403", None),
        ("ad.gw-own", "simpleenroll", "gateway", gw_own("gw-3"), "200",
         gw_rule("gw-3")),
        ("ad.label-operator", "simpleenroll", "operator",
         Names("operator-2"), "403", None),
        ("ad.keygen", "serverkeygen", None, own("dev-d"), "200",
         dev_rule("dev-d")),
        ("ad.keygen-gateway", "serverkeygen", "gateway", gw_own("gw-4"),
         "200", gw_rule("gw-4")),
        ("ad.keygen-gw-localhost", "serverkeygen", "gateway",
         Names("gw-5", sans=[("dns", "localhost")]), "403", None),
        ("ad.renew", "simplereenroll", None, Names("admin"), "403|404",
         None),
    ]
    for cid, op, label, names, want, rule in ADMIN_EST:
        m.est(cid, admin, op, label, names, want, rule)
    m.token("ad.token", admin, "400")
    m.token("st.token", station, "400")
    m.token("rs.token", revoked_station, "401")
    m.token("no.token", none, "401")
    m.token("sa.token", Principal("secret(dev-k4)",
                                  basic=("dev-k4", sec_k4 or "x")), "401")
    m.est("no.enroll", none, "simpleenroll", None, own("dev-x4"), "401")
    m.est("no.renew", none, "simplereenroll", None, own("dev-x4"), "401")
    m.est("no.keygen", none, "serverkeygen", None, own("dev-x4"), "401")

    # --- minting secrets: who may mint what, for whom ---------------------
    MINT = [
        # id, minter, device, profile, want
        ("mt.admin-device", admin, "mx-new-1", None, "201"),
        ("mt.admin-gateway", admin, "gw-new-1", "gateway", "201"),
        ("mt.admin-station", admin, "station-9", "station", "403"),
        ("mt.admin-operator", admin, "op-9", "operator", "403"),
        ("mt.admin-auditor", admin, "au-9", "auditor", "403"),
        ("mt.admin-nosuch", admin, "x-1", "no-such-profile", "404"),
        ("mt.admin-blocked", admin, "dev-blk", None, "403"),
        ("mt.admin-blocked-case", admin, "Dev-Blk", None, "400|403|409"),
        ("mt.admin-blocked-pre", admin, "dev-pre", None, "403"),
        ("mt.admin-case-existing", admin, "DEV-A", None, "400|403|409"),
        ("mt.admin-family-station", admin, "station-1", None, "403|409"),
        ("mt.admin-family-gateway", admin, "gw-1", None, "403|409"),
        ("mt.station-own", station, "line-0100", None, "201"),
        ("mt.station-outside", station, "dev-x5", None, "403"),
        ("mt.station-case", station, "LINE-0101", None, "400|403"),
        ("mt.station-gateway", station, "line-0102", "gateway", "403"),
        ("mt.station-gateway-outside", station, "gw-x", "gateway", "403"),
        ("mt.station-station", station, "line-0103", "station", "403"),
        ("mt.operator-device", operator, "op-dev-2", None, "201"),
        ("mt.operator-gateway", operator, "op-gw-2", "gateway", "403"),
        ("mt.auditor", auditor, "au-dev-2", None, "403"),
        ("mt.device", deva, "dev-a", None, "403"),
        ("mt.device-other", deva, "dev-x6", None, "403"),
        ("mt.gateway", gateway, "dev-x7", None, "403"),
        ("mt.superseded", superseded, "dev-x8", None, "403"),
        ("mt.revoked-device", revoked, "dev-x9", None, "403"),
        ("mt.revoked-station", revoked_station, "line-0104", None, "403"),
        ("mt.none", none, "dev-x10", None, "401"),
        ("mt.secret", secret_a, "dev-x11", None, "401"),
    ]
    minted = {}
    for cid, who, device, profile, want in MINT:
        minted[cid] = m.mint(cid, who, device, want, profile=profile)
    m.mint("mt.ttl-over", admin, "mx-new-2", "400", ttl=10 ** 9)
    # What the station minted enrolls exactly what the station could.
    sw = Principal("secret(line-0100)",
                   basic=("line-0100", minted.get("mt.station-own") or "x"))
    m.est("mt.station-secret-gateway", sw, "simpleenroll", "gateway",
          gw_own("line-0100"), "401")
    m.est("mt.station-secret-own", sw, "simpleenroll", None,
          own("line-0100"), "200", dev_rule("line-0100"))

    # --- the admin API: every endpoint x every principal ------------------
    sb = serial(devb)
    keep_cert = "certificates/%s/revoke" % sb
    ENDPOINTS = {
        # name: method, path, body, allowed principals -> code
        "list": ("GET", "certificates?limit=2", None),
        "get": ("GET", "certificates/" + sb, None),
        "device": ("GET", "devices/dev-b", None),
        "feed": ("GET", "revocations?since=0", None),
        "audit": ("GET", "audit?since=0&limit=5", None),
        "secrets": ("GET", "enrollment-secrets", None),
        "revoke": ("POST", keep_cert, {"reason": "keyCompromise"}),
        "block": ("POST", "devices/dev-b/revoke",
                  {"reason": "keyCompromise"}),
        "reinstate": ("POST", "devices/dev-blk/reinstate", {}),
        "rotate": ("POST", "token-keys", {}),
        "cancel": ("POST", "enrollment-secrets/cancel",
                   {"minter": serial(station)}),
        "cancel-one": ("POST", "enrollment-secrets/1/cancel", {}),
    }
    who_api = [none, secret_a, deva, gateway, superseded, revoked,
               blocked_cert, station, revoked_station, operator, auditor]
    # Rows: endpoint; columns as who_api. The operator's allowed
    # state-changing cells (None) run below with targets of their own; the
    # admin's with the origins. A superseded certificate is valid during
    # the overlap, and the issue takes only renewal and tokens from it:
    # the feed may answer either way.
    API = {
        #              none  sec   dev   gw    sup   rev   blk   sta   rst   opr   aud
        "list":      ("401", "401", "403", "403", "403", "403", "403", "403", "403", "200", "200"),
        "get":       ("401", "401", "403", "403", "403", "403", "403", "403", "403", "200", "200"),
        "device":    ("401", "401", "403", "403", "403", "403", "403", "403", "403", "200", "200"),
        "feed":      ("401", "401", "200", "200", "200|403", "403", "403", "403", "403", "200", "200"),
        "audit":     ("401", "401", "403", "403", "403", "403", "403", "403", "403", "403", "200"),
        "secrets":   ("401", "401", "403", "403", "403", "403", "403", "403", "403", "200", "200"),
        "revoke":    ("401", "401", "403", "403", "403", "403", "403", "403", "403", None, "403"),
        "block":     ("401", "401", "403", "403", "403", "403", "403", "403", "403", None, "403"),
        "reinstate": ("401", "401", "403", "403", "403", "403", "403", "403", "403", "403", "403"),
        "rotate":    ("401", "401", "403", "403", "403", "403", "403", "403", "403", "403", "403"),
        "cancel":    ("401", "401", "403", "403", "403", "403", "403", "403", "403", None, "403"),
        "cancel-one":("401", "401", "403", "403", "403", "403", "403", "403", "403", None, "403"),
    }
    for ep, (method, path, body) in ENDPOINTS.items():
        for who, want in zip(who_api, API[ep]):
            if want is None:
                continue
            m.api("api.%s.%s" % (ep, who.name), who, method, path, want,
                  body=body, changed_ok=want.startswith("2"))
    # The admin reads everything.
    for ep in ("list", "get", "device", "feed", "audit", "secrets"):
        method, path, body = ENDPOINTS[ep]
        m.api("api.%s.admin" % ep, admin, method, path, "200")
    # Reads are not state-changing: a cross-site GET is answered.
    m.api("api.list.admin-cross-site", admin, "GET", "certificates?limit=1",
          "200", headers=CROSS)
    # The secret list names the minter and never a secret.
    j = m.api("api.secrets.by-minter", admin, "GET",
              "enrollment-secrets?status=any&minter=" + serial(station),
              "200")
    if j is not None:
        text = json.dumps(j)
        items = j.get("secrets", [])
        leak = [x for x in minted.values() if x and x in text]
        devs = {x.get("device") for x in items}
        minters = {(x.get("minter") or {}).get("serial") for x in items}
        if leak or "line-0100" not in devs or minters != {serial(station)}:
            m.bad("api.secrets.by-minter.content",
                  "want the station's secrets (line-0100 among them), its "
                  "serial as minter and no secret: %s" % text[:300])
        else:
            m.ok("api.secrets.by-minter.content",
                 "the station's %d secrets, no secret in them" % len(items))

    # --- origins: state-changing calls from a browser ---------------------
    # The admin's certificate in a browser; navigator.sendBeacon sends an
    # empty POST without Content-Type, cross-site, without a preflight.
    # Refused targets: dev-b (its certificate and the device), dev-blk
    # (stays blocked). Allowed calls get victims of their own.
    sv = {k: serial(v) for k, v in victims.items()}
    ORIGIN = [
        # id, path, body, headers, want
        ("or.revoke.beacon", keep_cert, None, CROSS, "403"),
        ("or.revoke.nobody", keep_cert, None, {}, "400|415"),
        ("or.revoke.form", keep_cert, b"reason=keyCompromise",
         {"Content-Type": "text/plain"}, "415"),
        ("or.revoke.json-cross", keep_cert, {"reason": "keyCompromise"},
         CROSS, "403"),
        ("or.revoke.json-fetch-site", keep_cert, {"reason": "keyCompromise"},
         {"Sec-Fetch-Site": "cross-site"}, "403"),
        ("or.revoke.json-origin", keep_cert, {"reason": "keyCompromise"},
         {"Origin": "https://evil.example"}, "403"),
        ("or.revoke.json-same", "certificates/%s/revoke" % sv["v1"],
         {"reason": "keyCompromise"}, m.same, "200"),
        ("or.revoke.json-plain", "certificates/%s/revoke" % sv["v2"],
         {"reason": "keyCompromise"}, {}, "200"),
        ("or.block.beacon", "devices/dev-b/revoke", None, CROSS, "403"),
        ("or.block.nobody", "devices/dev-b/revoke", None, {}, "400|415"),
        ("or.block.json-cross", "devices/dev-b/revoke",
         {"reason": "keyCompromise"}, CROSS, "403"),
        ("or.block.json-same", "devices/dev-v3/revoke",
         {"reason": "keyCompromise"}, m.same, "200"),
        ("or.reinstate.beacon", "devices/dev-blk/reinstate", None, CROSS,
         "403"),
        ("or.reinstate.nobody", "devices/dev-blk/reinstate", None, {},
         "400|415"),
        ("or.reinstate.json-cross", "devices/dev-blk/reinstate", {}, CROSS,
         "403"),
        ("or.reinstate.json-same", "devices/dev-v5/reinstate", {}, m.same,
         "200"),
        ("or.rotate.beacon", "token-keys", None, CROSS, "403"),
        ("or.rotate.nobody", "token-keys", None, {}, "400|415"),
        ("or.rotate.json-cross", "token-keys", {}, CROSS, "403"),
        ("or.rotate.json-same", "token-keys", {}, m.same, "201"),
        ("or.mint.beacon", "enrollment-secrets", None, CROSS, "403"),
        ("or.mint.nobody", "enrollment-secrets", None, {}, "400|415"),
        ("or.mint.json-cross", "enrollment-secrets", {"device": "dev-x12"},
         CROSS, "403"),
        ("or.mint.json-same", "enrollment-secrets", {"device": "dev-x13"},
         m.same, "201"),
        ("or.cancel.beacon", "enrollment-secrets/cancel", None, CROSS,
         "403"),
        ("or.cancel.json-cross", "enrollment-secrets/cancel",
         {"minter": serial(station)},
         CROSS, "403"),
    ]
    for cid, path, body, headers, want in ORIGIN:
        m.api(cid, admin, "POST", path, want, body=body, headers=headers,
              changed_ok=want.startswith("2"))
    # The operator revokes and blocks with targets of its own.
    m.api("api.revoke.operator", operator, "POST",
          "certificates/%s/revoke" % sv["v4"], "200",
          body={"reason": "keyCompromise"}, headers=m.same)
    m.api("api.block.operator", operator, "POST", "devices/dev-v6/revoke",
          "200", body={"reason": "keyCompromise"}, headers=m.same)
    # Cancelling: all a minter's outstanding secrets, or one by its id;
    # a cancelled secret enrolls nothing (401, like a used one).
    sec_c = m.mint("cx.station-mint", station, "line-0105", "201")
    sec_o = m.mint("cx.operator-mint", operator, "op-dev-3", "201")
    sec_1 = m.mint("cx.admin-mint", admin, "mx-new-3", "201")
    m.api("api.cancel.operator", operator, "POST",
          "enrollment-secrets/cancel", "200",
          body={"minter": serial(operator)}, headers=m.same)
    m.api("api.cancel.admin", admin, "POST", "enrollment-secrets/cancel",
          "200", body={"minter": serial(station)}, headers=m.same)
    j = m.api("cx.find-one", admin, "GET",
              "enrollment-secrets?device=mx-new-3", "200")
    sid = None
    if j and j.get("secrets"):
        sid = j["secrets"][0].get("id")
    m.api("api.cancel-one.admin", admin, "POST",
          "enrollment-secrets/%s/cancel" % sid, "200", body={},
          headers=m.same)
    for cid, ident, sec in (("cx.station-secret", "line-0105", sec_c),
                            ("cx.operator-secret", "op-dev-3", sec_o),
                            ("cx.one-secret", "mx-new-3", sec_1)):
        m.est(cid, Principal("secret(%s)" % ident, basic=(ident, sec or "x")),
              "simpleenroll", None, own(ident), "401")

    # --- last: device A renews with its own names (its old certificate is
    # superseded from now on) -------------------------------------------
    r = m.est("da.renew", deva, "simplereenroll", None, own(A), "200",
              dev_rule(A))
    if r:
        m.est("da.renew-again-old", deva, "simplereenroll", None, own(A),
              "403")
        m.token("da.token-old", deva, "400|401")
        m.token("da.token-new", m.keep("dev-a-2", r[0], r[1]), "200")
    # The audit names every principal unambiguously (issue 10 §10): kind,
    # quoted id, then what tessera vouches for (serial, profile, role).
    if not m.pending("au.actor"):
        adm = m.q("SELECT DISTINCT actor FROM audit WHERE action = 'issue' "
                  "AND instr(detail, 'device=dev-c') > 0")
        dev = m.q("SELECT DISTINCT actor FROM audit WHERE "
                  "instr(actor, ?) > 0", "serial=" + serial(deva))
        want_a = ["cert", 'id="admin"', "serial=" + serial(admin),
                  "profile=admin", "role=admin"]
        want_d = ["cert", 'id="dev-a"', "serial=" + serial(deva),
                  "profile=device", "role=device"]
        errs = []
        for rows, want in ((adm, want_a), (dev, want_d)):
            if not rows or not all(all(w in a for w in want)
                                   for (a,) in rows):
                errs.append("%s lacks %s" % (rows, want))
        if errs:
            m.bad("au.actor", "; ".join(errs))
        else:
            m.ok("au.actor", "audit actors %s and %s" % (adm[0][0],
                                                        dev[0][0]))
    # Every certificate handed out names its profile in its policy OID.
    if not m.pending("cert.profile-oid"):
        bad = ["%s: %s" % (c, profile_oids(x)) for c, p, x in m.issued
               if profile_oids(x) != [profile_oid(p)]]
        if bad or not m.issued:
            m.bad("cert.profile-oid", "certificates without their profile "
                  "OID: %s" % bad[:5])
        else:
            m.ok("cert.profile-oid", "all %d certificates name their "
                 "profile in certificatePolicies" % len(m.issued))
    unknown = sorted(set(PENDING) - m.seen)
    if unknown:
        m.bad("pending.unknown", "PENDING names cells that do not exist: %s"
              % unknown)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tessera", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--counts", required=True)
    a = ap.parse_args()
    m = Matrix(a)
    t0 = time.time()
    try:
        run(m)
    except BaseException as e:  # a set-up cell failed, or a bug here
        import traceback
        traceback.print_exc()
        m.bad("driver", "the matrix stopped: %r" % e)
    finally:
        print("matrix: %d cells, %d checks passed, %d failed, %d skipped "
              "(pending), %.1f s" % (m.cells, m.passed, m.failed, m.skipped,
                                     time.time() - t0))
        with open(a.counts, "w") as f:
            f.write("%d %d %d\n" % (m.passed, m.failed, m.skipped))


if __name__ == "__main__":
    main()
