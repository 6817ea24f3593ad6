"""Checks every artifact a running tessera produced with parsers other than
OpenSSL: Python's cryptography (its strict DER parsers) and GnuTLS
(certtool, ocsptool), rule by rule against RFC 5280, RFC 6960, RFC 5652,
RFC 7030 and X.690 DER.

Usage: check.py MANIFEST.json

The manifest (written by test_conformance.sh) names each artifact's file
and what it must be. Every check prints one line, "PASS name: check" or
"FAIL name: check: why"; the shell counts them.
"""
import datetime
import hashlib
import json
import os
import subprocess
import sys
import warnings

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.oid import (AuthorityInformationAccessOID,
                                   CRLEntryExtensionOID, ExtendedKeyUsageOID,
                                   ExtensionOID, NameOID)

OID_OCSP_NOCHECK = x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.5")
OID_OCSP_NONCE = x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.2")
OID_EXTENDED_REVOKE = x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.9")
# DER of the OIDs the raw checks look for.
DER_ID_DATA = bytes.fromhex("06092a864886f70d010701")
DER_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")
DER_BC = bytes.fromhex("0603551d13")
DER_ECDSA = bytes.fromhex("06082a8648ce3d0403")
DER_RSA = bytes.fromhex("06092a864886f70d010101")
# X.520 attributes whose syntax is PrintableString: countryName,
# serialNumber, dnQualifier.
PRINTABLE_ONLY = {"2.5.4.6", "2.5.4.5", "2.5.4.46"}

failures = 0


def result(name, what, ok, why=""):
    global failures
    if ok:
        print("PASS %s: %s" % (name, what))
    else:
        failures += 1
        print("FAIL %s: %s: %s" % (name, what, why))
    sys.stdout.flush()


def check(name, what, fn):
    """Run fn(); a falsy return, an exception or a parser's warning (such
    as cryptography falling back from DER to BER) is a failure whose
    message is the parser's own."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            r = fn()
        except Exception as e:  # the parser's message is the finding
            result(name, what, False, "%s: %s" % (type(e).__name__, e))
            return
    said = [str(w.message) for w in seen
            if w.category.__name__ != "CryptographyDeprecationWarning"]
    if said:
        result(name, what, False, "warning: " + " / ".join(said))
    elif r is None or r is True:
        result(name, what, True)
    elif isinstance(r, str):
        result(name, what, False, r)
    else:
        result(name, what, bool(r), "false")


# ---- DER, read strictly -----------------------------------------------------

class Der(Exception):
    pass


def tlv(buf, i):
    """(tag, header length, content length) of the TLV at buf[i]."""
    if i + 2 > len(buf):
        raise Der("truncated at %d" % i)
    tag = buf[i]
    if tag & 0x1F == 0x1F:
        raise Der("high tag number at %d" % i)
    n = buf[i + 1]
    hdr = 2
    if n == 0x80:
        raise Der("indefinite length at %d (X.690 §10.1)" % i)
    if n > 0x80:
        k = n & 0x7F
        if k > 4 or i + 2 + k > len(buf):
            raise Der("bad length at %d" % i)
        if buf[i + 2] == 0:
            raise Der("length not minimal at %d (X.690 §10.1)" % i)
        n = int.from_bytes(buf[i + 2:i + 2 + k], "big")
        if n < 0x80:
            raise Der("long form for a short length at %d" % i)
        hdr = 2 + k
    if i + hdr + n > len(buf):
        raise Der("contents past the end at %d" % i)
    return tag, hdr, n


def children(buf):
    """The TLVs of buf as (tag, whole encoding, contents); all of buf."""
    out, i = [], 0
    while i < len(buf):
        tag, hdr, n = tlv(buf, i)
        out.append((tag, buf[i:i + hdr + n], buf[i + hdr:i + hdr + n]))
        i += hdr + n
    return out


def one(buf):
    """The single TLV that is all of buf."""
    c = children(buf)
    if len(c) != 1:
        raise Der("%d TLVs where one was expected" % len(c))
    return c[0]


def holds_der(kids, idx):
    """The DER inside the primitive kids[idx], by where it stands: an
    extnValue or responseBytes (the OCTET STRING that ends a SEQUENCE
    opening with an OID), a PKCS#8 privateKey, an ECDSA signature or an
    RSA public key (the BIT STRING after its AlgorithmIdentifier). Never
    guessed from the bytes: a nonce or an EC point may look like DER."""
    tag, _, c = kids[idx]
    if tag == 0x04:
        if kids[0][0] == 0x06 and idx == len(kids) - 1 and idx > 0:
            return c
        if idx == 2 and [k[0] for k in kids[:3]] == [0x02, 0x30, 0x04]:
            return c
    if tag == 0x03 and idx > 0 and kids[idx - 1][0] == 0x30 and c[:1] == \
            b"\0":
        alg = children(kids[idx - 1][2])
        if alg and alg[0][0] == 0x06 and (
                alg[0][1].startswith(DER_ECDSA) or alg[0][1] == DER_RSA):
            return c[1:]
    return None


PRINTABLE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                b"0123456789 '()+,-./:=?")


def der_walk(buf, at="", empty_ok=False):
    """X.690 DER rules on every TLV, also inside OCTET STRINGs and BIT
    STRINGs that hold DER. Raises Der with where and what."""
    kids = children(buf)
    for idx, (tag, whole, c) in enumerate(kids):
        where = "%s/%02x" % (at, tag)
        if tag & 0x20:
            if not c and not empty_ok and tag in (0x30, 0x31):
                raise Der("empty SEQUENCE/SET at %s (RFC 5280: SIZE "
                          "(1..MAX))" % where)
            # BasicConstraints with cA FALSE and no pathLen is rightly an
            # empty SEQUENCE (DEFAULT omitted, X.690 §11.5).
            der_walk(c, where, empty_ok or c.startswith(DER_BC))
            if tag == 0x31:
                elems = [w for _, w, _ in children(c)]
                for a, b in zip(elems, elems[1:]):
                    n = max(len(a), len(b))
                    if a.ljust(n, b"\0") > b.ljust(n, b"\0"):
                        raise Der("SET OF not sorted at %s (X.690 §11.6)"
                                  % where)
            continue
        if tag == 0x01 and (len(c) != 1 or c[0] not in (0, 0xFF)):
            raise Der("BOOLEAN %s at %s, DER wants 00 or FF (X.690 §11.1)"
                      % (c.hex(), where))
        if tag in (0x02, 0x0A):
            if not c or (len(c) > 1 and (
                    (c[0] == 0 and c[1] < 0x80) or
                    (c[0] == 0xFF and c[1] >= 0x80))):
                raise Der("INTEGER not minimal at %s (X.690 §8.3.2)" % where)
        if tag == 0x03:
            if not c or c[0] > 7 or (len(c) == 1 and c[0]) or \
                    (len(c) > 1 and c[-1] & ((1 << c[0]) - 1)):
                raise Der("BIT STRING padding at %s (X.690 §11.2)" % where)
        inner = holds_der(kids, idx)
        if inner is not None:
            der_walk(inner, where, empty_ok)
        if tag == 0x05 and c:
            raise Der("NULL with contents at %s" % where)
        if tag == 0x13 and not set(c) <= PRINTABLE:
            raise Der("PrintableString with %r at %s" % (c, where))
        if tag == 0x0C:
            c.decode("utf-8")
        if tag in (0x17, 0x18):
            n = 13 if tag == 0x17 else 15
            if len(c) != n or not c[:-1].isdigit() or c[-1:] != b"Z":
                raise Der("time %r at %s not in the DER form "
                          "(X.690 §11.7, §11.8)" % (c, where))


def time_rule(tag, c):
    """RFC 5280 §4.1.2.5 / §5.1.2.4: UTCTime through 2049,
    GeneralizedTime from 2050."""
    if tag == 0x17:
        yy = int(c[:2])
        year = 1900 + yy if yy >= 50 else 2000 + yy
        return year < 2050 or "UTCTime for %d" % year
    if tag == 0x18:
        year = int(c[:4])
        return year >= 2050 or "GeneralizedTime for %d" % year
    return "time with tag %02x" % tag


def name_strings(name_der):
    """RFC 5280 §4.1.2.6 and App. A: DirectoryString values as
    PrintableString or UTF8String, and tessera's rule (issue 11, item 4):
    UTF8String whatever the CSR sent; C, serialNumber, dnQualifier as
    PrintableString; no empty RDN."""
    _, _, rdns = one(name_der)
    for _, _, rdn in children(rdns):
        atvs = children(rdn)
        if not atvs:
            return "empty RDN"
        for _, _, atv in atvs:
            (t1, oid, _), (t2, _, val) = children(atv)[:2]
            dotted = x509.ObjectIdentifier(decode_oid(oid)).dotted_string
            if dotted in PRINTABLE_ONLY and t2 != 0x13:
                return "%s as tag %02x, not PrintableString" % (dotted, t2)
            if dotted not in PRINTABLE_ONLY and t2 != 0x0C:
                return "%s as tag %02x, not UTF8String" % (dotted, t2)
            if not val:
                return "%s empty" % dotted
    return True


def decode_oid(tlv_bytes):
    _, _, c = one(tlv_bytes)
    arcs, v = [], 0
    for b in c:
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(v)
            v = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])


# ---- helpers -----------------------------------------------------------------

def utc(obj, attr):
    v = getattr(obj, attr + "_utc", None)
    if v is None:
        v = getattr(obj, attr)
        if v is not None:
            v = v.replace(tzinfo=datetime.timezone.utc)
    return v


def read(path):
    with open(path, "rb") as f:
        return f.read()


def pem_der(path):
    text = read(path)
    if b"-----BEGIN" not in text:
        return text
    return x509.load_pem_x509_certificate(text).public_bytes(
        serialization.Encoding.DER)


def verify_sig(pub, sig, data, hash_alg):
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(sig, data, ec.ECDSA(hash_alg))
    elif isinstance(pub, rsa.RSAPublicKey):
        pub.verify(sig, data, padding.PKCS1v15(), hash_alg)
    else:
        raise InvalidSignature("unexpected key type %r" % type(pub))


def md_pairs(pub, alg):
    """RFC 5480 §4: an EC key signs with its curve's hash (P-256 with
    SHA-256, P-384 with SHA-384); RSA with SHA-256 or stronger."""
    if isinstance(pub, ec.EllipticCurvePublicKey):
        want = {256: "sha256", 384: "sha384", 521: "sha512"}.get(
            pub.curve.key_size)
        return alg.name == want or "%s with %s" % (pub.curve.name, alg.name)
    return alg.name in ("sha256", "sha384", "sha512") or alg.name


def ext(obj, oid):
    try:
        return obj.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def ski_of(cert):
    e = ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    return e.value.digest if e else None


def tbs_fields(cert):
    """The TBSCertificate's fields after the version, as TLVs."""
    der = cert.public_bytes(serialization.Encoding.DER)
    fields = children(children(one(der)[2])[0][2])
    return fields[1:] if fields[0][0] == 0xA0 else fields


def key_bits(cert):
    """The subjectPublicKey BIT STRING's value (RFC 6960 §4.1.1)."""
    _, _, bits = children(tbs_fields(cert)[5][2])[1]
    return bits[1:]


def gnutls(args):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def gnutls_ok(args, want=None, refuse=("warning", "error")):
    rc, out = gnutls(args)
    if rc != 0:
        return "exit %d: %s" % (rc, out.strip()[-400:])
    low = out.lower()
    for w in refuse:
        for line in low.splitlines():
            if w in line and "errors: 0" not in line:
                return "says %r" % line.strip()
    if want is not None and want not in out:
        return "no %r in: %s" % (want, out.strip()[-400:])
    return True


# ---- certificates --------------------------------------------------------------

KEYS = {"ec:P-256": ("ec", "secp256r1"), "ec:P-384": ("ec", "secp384r1"),
        "rsa:3072": ("rsa", 3072)}
EKUS = {"device": [ExtendedKeyUsageOID.CLIENT_AUTH],
        "gateway": [ExtendedKeyUsageOID.SERVER_AUTH,
                    ExtendedKeyUsageOID.CLIENT_AUTH],
        "station": [ExtendedKeyUsageOID.CLIENT_AUTH],
        "admin": [ExtendedKeyUsageOID.CLIENT_AUTH],
        "tls": [ExtendedKeyUsageOID.SERVER_AUTH],
        "responder": [ExtendedKeyUsageOID.OCSP_SIGNING]}


def check_cert(m, c, certs, files):
    name, kind = c["name"], c["kind"]
    der = pem_der(files[name])
    is_ca = kind in ("root", "issuing")
    cert = None

    def load():
        nonlocal cert
        cert = x509.load_der_x509_certificate(der)
    check(name, "cryptography loads the certificate", load)
    if cert is None:
        return
    certs[name] = cert
    issuer = certs.get(c["issuer"])

    def every_extension():
        for e in cert.extensions:
            v = e.value
            if isinstance(v, x509.UnrecognizedExtension) and e.critical:
                return "unrecognised critical extension %s" % e.oid
        return True
    check(name, "cryptography reads every extension", every_extension)
    check(name, "DER (X.690) throughout", lambda: der_walk(der))
    _, _, body = one(der)
    (_, tbs_whole, tbs), (_, alg_outer, _), _ = children(body)
    fields = children(tbs)
    check(name, "version is v3", lambda: fields[0][1] ==
          bytes.fromhex("a003020102") or "version %s" % fields[0][1].hex())
    f = fields[1:]
    serial = f[0][2]
    check(name, "serial positive, at most 20 octets (RFC 5280 §4.1.2.2)",
          lambda: (serial[0] < 0x80 and any(serial) and len(serial) <= 20)
          or "serial %s" % serial.hex())
    check(name, "signature algorithm inside and outside agree "
          "(RFC 5280 §4.1.1.2)", lambda: f[1][1] == alg_outer)
    check(name, "ECDSA algorithm identifier without parameters "
          "(RFC 5758 §3.2)", lambda: len(children(f[1][2])) == 1
          if cert.signature_algorithm_oid.dotted_string.startswith(
              "1.2.840.10045.4.3") else True)
    validity = children(f[3][2])
    for label, (tag, _, v) in zip(("notBefore", "notAfter"), validity):
        check(name, "%s encoding by year (RFC 5280 §4.1.2.5)" % label,
              lambda tag=tag, v=v: time_rule(tag, v))
    check(name, "subject strings (RFC 5280 §4.1.2.6)",
          lambda: name_strings(f[4][1]))
    check(name, "issuer strings (RFC 5280 §4.1.2.4)",
          lambda: name_strings(f[2][1]))
    check(name, "subject is not empty", lambda: len(cert.subject) > 0)
    if issuer is not None:
        check(name, "issuer name is %s's subject, byte for byte "
              "(RFC 5280 §7.1)" % c["issuer"],
              lambda: f[2][1] == tbs_fields(issuer)[4][1])
        check(name, "signature verifies with %s's key" % c["issuer"],
              lambda: verify_sig(issuer.public_key(), cert.signature,
                                 cert.tbs_certificate_bytes,
                                 cert.signature_hash_algorithm))
        check(name, "signature hash pairs with %s's key (RFC 5480 §4)" %
              c["issuer"], lambda: md_pairs(issuer.public_key(),
                                            cert.signature_hash_algorithm))
    nb, na = utc(cert, "not_valid_before"), utc(cert, "not_valid_after")
    now = datetime.datetime.now(datetime.timezone.utc)
    check(name, "valid now", lambda: nb <= now <= na or
          "%s .. %s" % (nb, na))

    ski = ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    aki = ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    check(name, "SKI present, not critical (RFC 5280 §4.2.1.2)",
          lambda: ski is not None and not ski.critical)
    check(name, "AKI present, not critical (RFC 5280 §4.2.1.1)",
          lambda: aki is not None and not aki.critical)
    if aki is not None and issuer is not None:
        check(name, "AKI keyIdentifier is %s's SKI" % c["issuer"],
              lambda: aki.value.key_identifier == ski_of(issuer) or
              "%s != %s" % (aki.value.key_identifier and
                            aki.value.key_identifier.hex(),
                            ski_of(issuer) and ski_of(issuer).hex()))
    bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    check(name, "basicConstraints critical, cA %s (RFC 5280 §4.2.1.9)"
          % is_ca, lambda: bc is not None and bc.critical and
          bc.value.ca == is_ca)
    if kind == "issuing":
        check(name, "pathLenConstraint 0", lambda: bc.value.path_length == 0)
    ku = ext(cert, ExtensionOID.KEY_USAGE)
    check(name, "keyUsage present and critical (RFC 5280 §4.2.1.3)",
          lambda: ku is not None and ku.critical)
    if ku is not None:
        if is_ca:
            check(name, "keyUsage keyCertSign and cRLSign",
                  lambda: ku.value.key_cert_sign and ku.value.crl_sign)
        else:
            check(name, "keyUsage digitalSignature, no keyCertSign/cRLSign",
                  lambda: ku.value.digital_signature and
                  not ku.value.key_cert_sign and not ku.value.crl_sign)
    if kind in EKUS:
        eku = ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
        check(name, "extendedKeyUsage is %s" % ", ".join(
            o._name for o in EKUS[kind]),
            lambda: eku is not None and sorted(
                o.dotted_string for o in eku.value) == sorted(
                o.dotted_string for o in EKUS[kind]))
    if kind == "responder":
        nc = ext(cert, OID_OCSP_NOCHECK)
        check(name, "id-pkix-ocsp-nocheck, NULL, not critical "
              "(RFC 6960 §4.2.2.2.1)", lambda: nc is not None and
              not nc.critical)
    san = ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if san is not None:
        check(name, "SAN not empty, critical only with an empty subject "
              "(RFC 5280 §4.2.1.6)", lambda: len(san.value) > 0 and
              san.critical == (len(cert.subject) == 0))
    if ExtendedKeyUsageOID.SERVER_AUTH in EKUS.get(kind, []):
        def cn_in_san():
            if san is None:
                return "serverAuth without a SAN (RFC 9525 §6)"
            cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            names = san.value.get_values_for_type(x509.DNSName) + [
                str(i) for i in san.value.get_values_for_type(x509.IPAddress)]
            return all(a.value in names for a in cns) or \
                "CN %s not among the SANs %s" % (
                    [a.value for a in cns], names)
        check(name, "serverAuth: a SAN, the CN among them (RFC 9525 §6)",
              cn_in_san)
    if kind != "root":
        publish = c.get("publish", m["publish"])
        cdp = ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS)
        if kind == "responder":
            # RFC 6960 §4.2.2.2.1: ocsp-nocheck tells clients not to check
            # the responder; tessera gives it no CRL pointer.
            pass
        else:
            def cdp_ok():
                if cdp is None:
                    return "no CRL distribution point"
                uris = [n.value for dp in cdp.value for n in dp.full_name]
                if not uris or not all(u.startswith(publish + "/crl/")
                                       for u in uris):
                    return "CDP %s not under %s/crl/" % (uris, publish)
                return not cdp.critical
            check(name, "CDP present, http, not critical "
                  "(RFC 5280 §4.2.1.13)", cdp_ok)
        aia = ext(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)

        def aia_ok():
            if aia is None:
                return "no authorityInfoAccess"
            got = {d.access_method.dotted_string: d.access_location.value
                   for d in aia.value}
            o = got.get(AuthorityInformationAccessOID.OCSP.dotted_string)
            i = got.get(
                AuthorityInformationAccessOID.CA_ISSUERS.dotted_string)
            if o != publish + "/ocsp":
                return "OCSP URL %s, want %s/ocsp" % (o, publish)
            if not i or not i.startswith(publish + "/ca/"):
                return "caIssuers URL %s" % i
            return not aia.critical
        check(name, "AIA with the OCSP URL and caIssuers, http "
              "(RFC 5280 §4.2.2.1)", aia_ok)
    if "key" in c:
        want = KEYS[c["key"]]

        def key_ok():
            k = cert.public_key()
            if want[0] == "ec":
                return isinstance(k, ec.EllipticCurvePublicKey) and \
                    k.curve.name == want[1] or "key %s" % type(k).__name__
            if not isinstance(k, rsa.RSAPublicKey):
                return "not an RSA key"
            return k.key_size == want[1] and k.public_numbers().e == 65537 \
                or "RSA-%d with exponent %d (NIST SP 800-89: 65537)" % (
                    k.key_size, k.public_numbers().e)
        check(name, "public key is %s" % c["key"], key_ok)

    # GnuTLS: the DER, the chain up to the root (without it for
    # --verify, which is given the root as the trust anchor).
    with open(files[name] + ".der", "wb") as out:
        out.write(der)
    up, n = [], c["issuer"]
    by_name = {x["name"]: x for x in m["certs"]}
    while by_name[n]["kind"] != "root" and n in certs:
        up.append(certs[n])
        n = by_name[n]["issuer"]
    root = n
    pem = b"".join(x.public_bytes(serialization.Encoding.PEM)
                   for x in [cert] + up)
    with open(files[name] + ".chain.pem", "wb") as out:
        out.write(pem)
    with open(files[name] + ".full.pem", "wb") as out:
        out.write(pem + certs[root].public_bytes(
            serialization.Encoding.PEM))
    check(name, "certtool -i reads it without a warning",
          lambda: gnutls_ok(["certtool", "-i", "--inder", "--infile",
                             files[name] + ".der"]))
    if kind != "root":
        chain = files[name] + ".chain.pem"
        check(name, "certtool --verify-chain up to the root",
              lambda: gnutls_ok(["certtool", "--verify-chain", "--infile",
                                 files[name] + ".full.pem"], want="Chain verification output: "
                                 "Verified", refuse=("warning",)))
        purpose = {"tls": "1.3.6.1.5.5.7.3.1", "gateway": "1.3.6.1.5.5.7.3.1",
                   "device": "1.3.6.1.5.5.7.3.2",
                   "station": "1.3.6.1.5.5.7.3.2",
                   "admin": "1.3.6.1.5.5.7.3.2"}.get(kind)
        # Profile "high": 128-bit security throughout (GnuTLS's levels).
        args = ["certtool", "--verify", "--verify-profile", "high",
                "--load-ca-certificate", files[root], "--infile", chain]
        if purpose:
            args += ["--verify-purpose", purpose]
        check(name, "certtool --verify, profile high, against the root%s" % (
            " for " + purpose if purpose else ""),
            lambda: gnutls_ok(args, want="Chain verification output: "
                              "Verified", refuse=("warning",)))


# ---- CRLs -------------------------------------------------------------------

def check_crl(m, c, certs, files):
    name = c["name"]
    der = read(files[name])
    issuer = certs[c["issuer"]]
    crl = None

    def load():
        nonlocal crl
        crl = x509.load_der_x509_crl(der)
    check(name, "cryptography loads the CRL", load)
    if crl is None:
        return

    def every_extension():
        for e in crl.extensions:
            e.value
        for r in crl:
            for e in r.extensions:
                e.value
        return True
    check(name, "cryptography reads every extension, entries too",
          every_extension)
    check(name, "DER (X.690) throughout", lambda: der_walk(der))
    check(name, "signature verifies with %s's key" % c["issuer"],
          lambda: crl.is_signature_valid(issuer.public_key()))
    check(name, "issuer is %s's subject" % c["issuer"],
          lambda: crl.issuer.public_bytes() == issuer.subject.public_bytes())
    _, _, body = one(der)
    (_, _, tbs), _, _ = children(body)
    f = children(tbs)
    check(name, "version is v2 (RFC 5280 §5.1.2.1)",
          lambda: f[0][1] == bytes.fromhex("020101"))
    times = [x for x in f[3:5] if x[0] in (0x17, 0x18)]
    check(name, "nextUpdate present (RFC 5280 §5.1.2.5)",
          lambda: len(times) == 2 and utc(crl, "next_update") is not None)
    for label, (tag, _, v) in zip(("thisUpdate", "nextUpdate"), times):
        check(name, "%s encoding by year (RFC 5280 §5.1.2.4)" % label,
              lambda tag=tag, v=v: time_rule(tag, v))
    now = datetime.datetime.now(datetime.timezone.utc)
    check(name, "thisUpdate <= now < nextUpdate",
          lambda: utc(crl, "last_update") <= now + datetime.timedelta(
              seconds=60) and now < utc(crl, "next_update"))
    has_list = len(f) > 5 and f[5][0] == 0x30
    check(name, "revokedCertificates absent when empty "
          "(RFC 5280 §5.1.2.6)", lambda: has_list == (len(crl) > 0))
    aki = ext(crl, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    check(name, "AKI is %s's SKI (RFC 5280 §5.2.1)" % c["issuer"],
          lambda: aki is not None and not aki.critical and
          aki.value.key_identifier == ski_of(issuer))
    num = ext(crl, ExtensionOID.CRL_NUMBER)
    check(name, "cRLNumber present, not critical, 0..2^159 "
          "(RFC 5280 §5.2.3)", lambda: num is not None and not num.critical
          and 0 <= num.value.crl_number < 2 ** 159)
    idp = ext(crl, ExtensionOID.ISSUING_DISTRIBUTION_POINT)
    if c.get("shard") is not None:
        def idp_ok():
            if idp is None:
                return "a shard CRL without issuingDistributionPoint"
            v = idp.value
            uris = [n.value for n in (v.full_name or [])]
            if not idp.critical:
                return "IDP not critical (RFC 5280 §5.2.5)"
            if uris != [c["url"]]:
                return "IDP names %s, not %s" % (uris, c["url"])
            return v.only_contains_user_certs or "not onlyContainsUserCerts"
        check(name, "issuingDistributionPoint: critical, its URL, user "
              "certificates only (RFC 5280 §5.2.5)", idp_ok)
    else:
        check(name, "no issuingDistributionPoint on a whole CRL",
              lambda: idp is None)
    got = {format(r.serial_number, "X") for r in crl}
    for s in c.get("revoked", []):
        check(name, "lists %s" % s, lambda s=s: s.upper().lstrip("0") in got
              or "serials %s" % sorted(got))
    for s in c.get("not_revoked", []):
        check(name, "does not list %s" % s,
              lambda s=s: s.upper().lstrip("0") not in got)

    def reasons_ok():
        for r in crl:
            e = ext(r, CRLEntryExtensionOID.CRL_REASON)
            if e is None:
                continue
            if e.critical:
                return "reasonCode critical for %x" % r.serial_number
            if e.value.reason == x509.ReasonFlags.unspecified:
                return "reasonCode unspecified for %x (RFC 5280 §5.3.1: " \
                    "omit it)" % r.serial_number
        return True
    check(name, "reasonCode not critical, never unspecified "
          "(RFC 5280 §5.3.1)", reasons_ok)
    check(name, "certtool --crl-info reads it without a warning",
          lambda: gnutls_ok(["certtool", "--crl-info", "--inder",
                             "--infile", files[name]]))
    check(name, "certtool --verify-crl with %s" % c["issuer"],
          lambda: gnutls_ok(["certtool", "--verify-crl", "--inder",
                             "--infile", files[name],
                             "--load-ca-certificate",
                             files[c["issuer"]] + ".der"], want="Verified",
                            refuse=("warning", "not verified")))


# ---- OCSP -------------------------------------------------------------------

def check_ocsp_error(c, files):
    """An OCSP refusal: responseStatus only, no responseBytes, unsigned
    (RFC 6960 §4.2.1)."""
    name = c["name"]
    der = read(files[name])
    check(name, "DER (X.690) throughout", lambda: der_walk(der))
    check(name, "just an ENUMERATED responseStatus, no responseBytes",
          lambda: len(children(one(der)[2])) == 1 and
          children(one(der)[2])[0][0] == 0x0A)
    check(name, "cryptography reads responseStatus %s" % c["status"],
          lambda: ocsp.load_der_ocsp_response(der).response_status ==
          getattr(ocsp.OCSPResponseStatus, c["status"]) or "%s" %
          ocsp.load_der_ocsp_response(der).response_status)
    check(name, "ocsptool -j reads it",
          lambda: gnutls_ok(["ocsptool", "-j", "--infile", files[name]],
                            refuse=("warning",)))


def check_ocsp(m, c, certs, files):
    name = c["name"]
    if "status" in c:
        return check_ocsp_error(c, files)
    der = read(files[name])
    issuer = certs[c["issuer"]]
    responder = certs[c["responder"]]
    resp = None
    # What was asked: the serial, the CertID hash, the nonce.
    req = ocsp.load_der_ocsp_request(
        read(os.path.join(os.path.dirname(files[name]), c["request"])))
    asked_serial = format(req.serial_number, "X")
    asked_nonce = ext(req, OID_OCSP_NONCE)
    asked_nonce = asked_nonce.value.nonce if asked_nonce else None

    def load():
        nonlocal resp
        resp = ocsp.load_der_ocsp_response(der)
    check(name, "cryptography loads the response", load)
    if resp is None:
        return
    check(name, "responseStatus successful",
          lambda: resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
          or "%s" % resp.response_status)
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return

    def every_extension():
        for e in resp.extensions:
            e.value
        for e in resp.single_extensions:
            e.value
        return True
    check(name, "cryptography reads every extension", every_extension)
    check(name, "DER (X.690) throughout", lambda: der_walk(der))
    check(name, "the responder certificate is included once",
          lambda: [x.public_bytes(serialization.Encoding.DER)
                   for x in resp.certificates] ==
          [responder.public_bytes(serialization.Encoding.DER)])
    check(name, "signature verifies with the responder's key",
          lambda: verify_sig(responder.public_key(), resp.signature,
                             resp.tbs_response_bytes,
                             resp.signature_hash_algorithm))
    check(name, "signature hash pairs with the responder's key (RFC 5480 "
          "§4)", lambda: md_pairs(responder.public_key(),
                                  resp.signature_hash_algorithm))
    check(name, "responderID byKey is SHA-1 of its key (RFC 6960 "
          "§4.2.2.3)", lambda: resp.responder_key_hash ==
          hashlib.sha1(key_bits(responder)).digest() if
          resp.responder_name is None else
          resp.responder_name == responder.subject)
    want_md = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}[c["hash"]]
    check(name, "CertID hash is the request's (%s)" % c["hash"],
          lambda: isinstance(resp.hash_algorithm, want_md) or
          "%s" % resp.hash_algorithm.name)
    h = hashlib.new(c["hash"])
    h.update(issuer.subject.public_bytes())
    check(name, "issuerNameHash is of %s's name" % c["issuer"],
          lambda: resp.issuer_name_hash == h.digest())
    check(name, "issuerKeyHash is of %s's key" % c["issuer"],
          lambda: resp.issuer_key_hash ==
          hashlib.new(c["hash"], key_bits(issuer)).digest())
    check(name, "the request's CertID hash is %s" % c["hash"],
          lambda: isinstance(req.hash_algorithm, want_md))
    check(name, "serial is the one asked for (%s)" % asked_serial,
          lambda: format(resp.serial_number, "X") == asked_serial or
          format(resp.serial_number, "X"))
    st = resp.certificate_status
    if c["expect"] == "never-issued":
        def never():
            if st == ocsp.OCSPCertStatus.UNKNOWN:
                return True
            if st != ocsp.OCSPCertStatus.REVOKED:
                return "%s for a serial never issued (RFC 6960 §2.2)" % st
            if ext(resp, OID_EXTENDED_REVOKE) is None:
                return "revoked without id-pkix-ocsp-extended-revoke " \
                    "(RFC 6960 §4.4.8)"
            return resp.revocation_reason == \
                x509.ReasonFlags.certificate_hold and \
                utc(resp, "revocation_time").year == 1970 or \
                "reason %s at %s" % (resp.revocation_reason,
                                     resp.revocation_time)
        check(name, "never issued: unknown, or revoked certificateHold "
              "1970 with extended-revoke (RFC 6960 §2.2)", never)
    else:
        want = {"good": ocsp.OCSPCertStatus.GOOD,
                "revoked": ocsp.OCSPCertStatus.REVOKED}[c["expect"]]
        check(name, "certStatus %s" % c["expect"], lambda: st == want or
              "%s" % st)
    if c["expect"] == "revoked":
        check(name, "revocationReason %s" % c["reason"],
              lambda: resp.revocation_reason is not None and
              resp.revocation_reason.name == c["reason"] or
              "%s" % resp.revocation_reason)
    now = datetime.datetime.now(datetime.timezone.utc)
    skew = datetime.timedelta(seconds=300)
    check(name, "thisUpdate <= now < nextUpdate (RFC 5019 §2.2.4)",
          lambda: utc(resp, "next_update") is not None and
          utc(resp, "this_update") <= now + skew and
          now < utc(resp, "next_update"))
    check(name, "producedAt not in the future",
          lambda: utc(resp, "produced_at") <= now + skew)
    nonce = ext(resp, OID_OCSP_NONCE)
    if asked_nonce is not None:
        check(name, "the request's nonce echoed (RFC 8954)",
              lambda: nonce is not None and
              nonce.value.nonce == asked_nonce or
              "nonce %s, asked %s" % (nonce and nonce.value.nonce.hex(),
                                      asked_nonce.hex()))
    else:
        check(name, "no nonce when none was asked",
              lambda: nonce is None)
    check(name, "ocsptool -i reads the request",
          lambda: gnutls_ok(["ocsptool", "-i", "--infile",
                             os.path.join(os.path.dirname(files[name]),
                                          c["request"])],
                            want="OCSP Request Information",
                            refuse=("warning",)))
    check(name, "ocsptool -j reads it",
          lambda: gnutls_ok(["ocsptool", "-j", "--infile", files[name]],
                            want="Response Status: Successful",
                            refuse=("warning",)))
    check(name, "ocsptool --verify-response with the issuer as trust",
          lambda: gnutls_ok(["ocsptool", "--verify-response",
                             "--load-trust", files[c["issuer"]],
                             "--infile", files[name]],
                            want="Verifying OCSP Response: Success",
                            refuse=("warning", "failure")))


# ---- PKCS#7, csrattrs, keys, metadata -----------------------------------------

def p7_shape(der):
    """A certs-only SignedData as RFC 7030 §4.1.3 and RFC 5652 §5.2 want
    it, its certificates in DER order."""
    (_, oid, _), (tag0, _, explicit) = children(one(der)[2])
    if oid != DER_SIGNED_DATA or tag0 != 0xA0:
        return "not ContentInfo{signedData, [0]}"
    sd = children(one(explicit)[2])
    if sd[0][1] != bytes.fromhex("020101"):
        return "version %s, want 1 (RFC 5652 §5.1)" % sd[0][1].hex()
    if sd[1][1] != b"\x31\x00":
        return "digestAlgorithms not empty"
    if sd[2][1] != b"\x30" + bytes([len(DER_ID_DATA)]) + DER_ID_DATA:
        return "encapContentInfo %s: want id-data with the eContent " \
            "omitted (RFC 5652 §5.2)" % sd[2][1].hex()
    rest = [t for t, _, _ in sd[3:]]
    if rest != [0xA0, 0x31] or sd[-1][1] != b"\x31\x00":
        return "after encapContentInfo: tags %s, want [0] certificates " \
            "and an empty signerInfos" % rest
    # certificates is [0] IMPLICIT SET OF: DER order (X.690 §11.6).
    elems = [w for _, w, _ in children(sd[3][2])]
    for a, b in zip(elems, elems[1:]):
        n = max(len(a), len(b))
        if a.ljust(n, b"\0") > b.ljust(n, b"\0"):
            return "certificates not in DER SET OF order (X.690 §11.6)"
    return True


def check_p7(m, c, certs, files):
    name = c["name"]
    der = read(files[name])
    got = None

    def load():
        nonlocal got
        got = pkcs7.load_der_pkcs7_certificates(der)
    check(name, "cryptography loads the certs-only PKCS#7", load)
    if got is not None:
        want = [certs[n] for n in c["certs"] if n in certs]
        check(name, "holds %s" % ", ".join(c["certs"]),
              lambda: sorted(x.public_bytes(serialization.Encoding.DER)
                             for x in got) ==
              sorted(x.public_bytes(serialization.Encoding.DER)
                     for x in want) or "%d certificates" % len(got))
    check(name, "DER (X.690) throughout",
          lambda: der_walk(der, empty_ok=True))

    check(name, "SignedData v1, no digests, id-data without eContent, no "
          "signers (RFC 7030 §4.1.3, RFC 5652 §5.2)", lambda: p7_shape(der))
    check(name, "certtool --p7-info reads it",
          lambda: gnutls_ok(["certtool", "--p7-info", "--inder", "--infile",
                             files[name]], refuse=("warning",)))


def check_csrattrs(m, c, certs, files):
    name = c["name"]
    der = read(files[name])
    check(name, "DER (X.690) throughout", lambda: der_walk(der))

    def shape():
        tag, _, body = one(der)
        if tag != 0x30:
            return "not a SEQUENCE"
        items = children(body)
        if not items:
            return "empty: answer 204 instead (RFC 7030 §4.5.2)"
        seen = []
        for t, w, v in items:
            if t == 0x06:
                seen.append(decode_oid(w))
            elif t == 0x30:
                parts = children(v)
                if len(parts) != 2 or parts[0][0] != 0x06 or \
                        parts[1][0] != 0x31 or not children(parts[1][2]):
                    return "Attribute not {type, SET SIZE(1..MAX)}"
                seen.append(decode_oid(parts[0][1]))
            else:
                return "AttrOrOID with tag %02x" % t
        return set(c["want"]) <= set(seen) or "OIDs %s" % seen
    check(name, "CsrAttrs: OIDs and Attributes %s (RFC 7030 §4.5.2, "
          "RFC 8951 §4)" % ", ".join(c["want"]), shape)


def check_key(m, c, certs, files):
    name = c["name"]
    der = read(files[name])
    key = None

    def load():
        nonlocal key
        key = serialization.load_der_private_key(der, password=None)
    check(name, "cryptography loads the PKCS#8 key", load)
    check(name, "DER (X.690) throughout", lambda: der_walk(der))
    if key is not None and c["cert"] in certs:
        check(name, "the key is the certificate's",
              lambda: key.public_key().public_bytes(
                  serialization.Encoding.DER,
                  serialization.PublicFormat.SubjectPublicKeyInfo) ==
              certs[c["cert"]].public_key().public_bytes(
                  serialization.Encoding.DER,
                  serialization.PublicFormat.SubjectPublicKeyInfo))
    check(name, "certtool -k reads it",
          lambda: gnutls_ok(["certtool", "-k", "--inder", "--infile",
                             files[name]], refuse=("warning",)))


def check_metadata(m, c, certs, files):
    name = c["name"]
    doc = None

    def load():
        nonlocal doc
        with open(files[name]) as f:
            doc = json.load(f)
    check(name, "JSON", load)
    if doc is None:
        return
    for k in c["required"]:
        check(name, "has %s" % k, lambda k=k: k in doc)
    check(name, "response_types_supported is an array (RFC 8414 §2)",
          lambda: isinstance(doc.get("response_types_supported"), list))
    check(name, "no authorization_endpoint, so no authorization grant",
          lambda: "authorization_endpoint" in doc or not
          ({"authorization_code", "implicit"} &
           set(doc.get("grant_types_supported", ["authorization_code"]))))
    check(name, "endpoints under the issuer",
          lambda: doc["token_endpoint"].startswith(doc["issuer"]) and
          doc["jwks_uri"].startswith(doc["issuer"]))


def enc(tag, content):
    """One DER TLV."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(b)]) + b + content


def self_test(files):
    """The checks catch what they are for: each known violation, made by
    hand or by changing a real artifact, must be refused."""
    def refused(what, fn):
        try:
            r = fn()
        except Der:
            r = False
        result("self-test", "refuses " + what, r is not None and r is not
               True, "accepted")

    cert = pem_der(files["tls"])
    refused("a BOOLEAN TRUE written 0x01 (the shard IDP's old bug)",
            lambda: der_walk(cert.replace(b"\x01\x01\xff", b"\x01\x01\x01",
                                          1)))
    refused("a long-form length for a short one",
            lambda: der_walk(bytes.fromhex("3081030201 05".replace(" ", ""))))
    refused("an indefinite length",
            lambda: der_walk(bytes.fromhex("308002010500 00".replace(" ", ""))))
    refused("a non-minimal INTEGER",
            lambda: der_walk(bytes.fromhex("30040202007f")))
    refused("an unsorted SET OF",
            lambda: der_walk(bytes.fromhex("3008310602010502 0103".replace(
                " ", ""))))
    refused("an empty SEQUENCE where RFC 5280 says SIZE (1..MAX)",
            lambda: der_walk(bytes.fromhex("30023000")))
    refused("a UTCTime without seconds (X.690 §11.8)",
            lambda: der_walk(enc(0x30, enc(0x17, b"5001010000Z"))))
    refused("GeneralizedTime for 2049",
            lambda: time_rule(0x18, b"20491231235959Z"))
    refused("a CN as IA5String", lambda: name_strings(
        bytes.fromhex("300c310a300806035504031601 78".replace(" ", ""))))
    refused("a CN as PrintableString (tessera re-encodes as UTF8String)",
            lambda: name_strings(bytes.fromhex(
                "300c310a300806035504031301 78".replace(" ", ""))))
    refused("a serialNumber as UTF8String", lambda: name_strings(
        bytes.fromhex("300c310a30080603550405 0c0131".replace(" ", ""))))
    p7 = read(files["cacerts"])
    (_, oid, _), (_, _, explicit) = children(one(p7)[2])
    sd = children(one(explicit)[2])
    certs = [w for _, w, _ in children(sd[3][2])]

    def rebuild(encap, certs):
        body = sd[0][1] + sd[1][1] + encap + enc(0xA0, b"".join(certs)) + \
            sd[4][1]
        return enc(0x30, DER_SIGNED_DATA + enc(0xA0, enc(0x30, body)))
    refused("a certs-only PKCS#7 with its certificates out of order",
            lambda: p7_shape(rebuild(sd[2][1], certs[::-1])))
    refused("a certs-only PKCS#7 with an empty eContent",
            lambda: p7_shape(rebuild(enc(0x30, DER_ID_DATA + enc(
                0xA0, enc(0x04, b""))), certs)))
    result("self-test", "the rebuilt PKCS#7 as served passes",
           p7_shape(rebuild(sd[2][1], certs)) is True and
           rebuild(sd[2][1], certs) == p7, "differs")


def main():
    m = json.loads(read(sys.argv[1]))
    base = os.path.dirname(os.path.abspath(sys.argv[1]))
    files = {}
    for section in ("certs", "crls", "ocsp", "p7", "csrattrs", "keys",
                    "metadata"):
        for c in m.get(section, []):
            files[c["name"]] = os.path.join(base, c["file"])
    certs = {}
    for c in m["certs"]:
        check_cert(m, c, certs, files)
    for c in m.get("crls", []):
        check_crl(m, c, certs, files)
    for c in m.get("ocsp", []):
        check_ocsp(m, c, certs, files)
    for c in m.get("p7", []):
        check_p7(m, c, certs, files)
    for c in m.get("csrattrs", []):
        check_csrattrs(m, c, certs, files)
    for c in m.get("keys", []):
        check_key(m, c, certs, files)
    for c in m.get("metadata", []):
        check_metadata(m, c, certs, files)
    if "tls" in files and "cacerts" in files:
        self_test(files)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
