#!/usr/bin/env python3
"""Hostile PKCS#10 requests and certificates for test_hostile.sh.

forge.py csrs DIR CN
    Writes DIR/NAME.der for each hostile CSR below; the subject CN is CN
    (the device the test's one-time secret is for) unless the case is
    about the CN itself.

forge.py tbs --issuer ISSUER.pem --key KEY.pem --cn CN --serial HEX
               --not-before UNIX --not-after UNIX --out TBS.der
    A device certificate's TBSCertificate as tessera's issuing CA would
    sign it (ecdsa-with-SHA256), for the subject key in KEY.pem.

forge.py assemble --tbs TBS.der --sig SIG.der --out CERT.pem
    TBSCertificate plus a DER ECDSA signature (made by the token with
    pkcs11-tool) into a certificate.

forge.py leaf --ca-cert CA.pem|self [--ca-key KEY.pem] --cn CN
              [--serial-number SN] [--from DAYS] [--to DAYS] [--is-ca yes]
              [--critext yes] [--pad BYTES] --key-out K.pem --cert-out C.pem
    A P-256 certificate signed by a software CA (or itself), valid from
    now + DAYS to now + DAYS, optionally with an unknown critical
    extension or padded to a size.
"""
import datetime
import ipaddress
import sys
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# AlgorithmIdentifier ecdsa-with-SHA256 (RFC 5758 §3.2: no parameters).
ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, body):
    return bytes([tag]) + der_len(len(body)) + body


def signed(tbs, sig_der):
    """SEQUENCE { tbs, ecdsa-with-SHA256, BIT STRING sig }."""
    return tlv(0x30, tbs + ECDSA_SHA256 + tlv(0x03, b"\x00" + sig_der))


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def name(cn):
    try:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    except ValueError:
        # Newer releases refuse a CN over ub-common-name (64): which is
        # the point of the case.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, cn, _validate=False)])


def builder(cn):
    return x509.CertificateSigningRequestBuilder().subject_name(name(cn))


def der(csr):
    return csr.public_bytes(serialization.Encoding.DER)


def resign(csr_der, key, patch):
    """The CSR's CertificationRequestInfo changed by patch(bytes), signed
    again with key: a well-signed request that a builder would refuse to
    produce."""
    csr = x509.load_der_x509_csr(csr_der)
    cri = patch(csr.tbs_certrequest_bytes)
    return signed(cri, key.sign(cri, ec.ECDSA(hashes.SHA256())))


def csrs(out, cn):
    k = new_key()
    cases = {}
    # 1000 subject alternative names (the limit is 16).
    sans = [x509.DNSName("a%d.x" % i) for i in range(1000)]
    cases["sans1000"] = der(builder(cn).add_extension(
        x509.SubjectAlternativeName(sans), False).sign(k, hashes.SHA256()))
    # A critical extension nobody knows.
    cases["critext"] = der(builder(cn).add_extension(
        x509.UnrecognizedExtension(
            x509.ObjectIdentifier("1.3.6.1.4.1.55555.7.1"), b"\x05\x00"),
        True).sign(k, hashes.SHA256()))
    # The same, non-critical: ignored, which is not hostile; not written.
    # NUL, SQL and length in the CN; two CNs; twenty attributes.
    cases["cn_nul"] = der(builder(cn + "\x00.evil").sign(k, hashes.SHA256()))
    cases["cn_sql"] = der(builder(cn + "' OR 1=1 --").sign(
        k, hashes.SHA256()))
    cases["cn_long"] = der(builder("c" * 300).sign(k, hashes.SHA256()))
    two = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                     x509.NameAttribute(NameOID.COMMON_NAME, "evil")])
    cases["cn_two"] = der(x509.CertificateSigningRequestBuilder()
                          .subject_name(two).sign(k, hashes.SHA256()))
    many = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] + [
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ou%d" % i)
        for i in range(20)]
    cases["attrs20"] = der(x509.CertificateSigningRequestBuilder()
                           .subject_name(x509.Name(many))
                           .sign(k, hashes.SHA256()))
    # SANs: NUL inside a URI, a control byte in a DNS name, an IP (the
    # device profile allows none), an email.
    cases["san_uri_nul"] = der(builder(cn).add_extension(
        x509.SubjectAlternativeName([x509.UniformResourceIdentifier(
            "urn:dev:" + cn + "\x00.evil")]), False).sign(k, hashes.SHA256()))
    cases["san_dns_ctl"] = der(builder(cn).add_extension(
        x509.SubjectAlternativeName([x509.DNSName("a\x07b.example")]),
        False).sign(k, hashes.SHA256()))
    cases["san_ip"] = der(builder(cn).add_extension(
        x509.SubjectAlternativeName([x509.IPAddress(
            ipaddress.ip_address("10.0.0.1"))]), False).sign(
                k, hashes.SHA256()))
    # challengePassword (RFC 7030 §3.5 channel binding) that is not the
    # binding of this TLS session.
    try:
        from cryptography.x509.oid import AttributeOID
        cases["challenge_bad"] = der(builder(cn).add_attribute(
            AttributeOID.CHALLENGE_PASSWORD, b"x' OR 1=1 --").sign(
                k, hashes.SHA256()))
    except (ImportError, AttributeError):
        pass
    good = der(builder(cn).sign(k, hashes.SHA256()))
    # The signature does not verify: no proof of possession.
    bad = bytearray(good)
    bad[-1] ^= 0x01
    cases["badsig"] = bytes(bad)
    # Signed by another key than the one it carries.
    other = new_key()
    cases["wrongkey"] = resign(good, other, lambda c: c)
    # Version 2 (only v1 = 0 exists).
    cases["version2"] = resign(
        good, k, lambda c: c.replace(b"\x02\x01\x00", b"\x02\x01\x01", 1))
    # The CN's UTF8String holds invalid UTF-8 (same length, re-signed).
    enc = cn.encode()
    if len(enc) >= 2:
        cases["cn_badutf8"] = resign(good, k, lambda c: c.replace(
            tlv(0x0c, enc), tlv(0x0c, enc[:-2] + b"\xff\xfe"), 1))
    # Bytes after the DER; half the DER.
    cases["trailing"] = good + b"\x00\x00"
    cases["truncated"] = good[: len(good) // 2]
    # 3000 nested SEQUENCEs, and a length field of 4 GiB.
    cases["nested"] = b"\x30\x80" * 3000 + b"\x00\x00" * 3000
    cases["hugelen"] = b"\x30\x84\xff\xff\xff\xff" + good
    for n, d in cases.items():
        with open("%s/%s.der" % (out, n), "wb") as f:
            f.write(d)


def tbs(a):
    issuer = x509.load_pem_x509_certificate(open(a["--issuer"], "rb").read())
    key = serialization.load_pem_private_key(
        open(a["--key"], "rb").read(), None)
    nb = datetime.datetime.fromtimestamp(int(a["--not-before"]),
                                         datetime.timezone.utc)
    na = datetime.datetime.fromtimestamp(int(a["--not-after"]),
                                         datetime.timezone.utc)
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    b = (x509.CertificateBuilder()
         .subject_name(name(a["--cn"]))
         .issuer_name(issuer.subject)
         .public_key(key.public_key())
         .serial_number(int(a["--serial"], 16))
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(False, None), True)
         .add_extension(x509.KeyUsage(True, False, False, False, False,
                                      False, False, False, False), True)
         .add_extension(x509.ExtendedKeyUsage(
             [ExtendedKeyUsageOID.CLIENT_AUTH]), False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(
             key.public_key()), False)
         .add_extension(x509.AuthorityKeyIdentifier
                        .from_issuer_subject_key_identifier(ski.value),
                        False))
    # Signed by a throwaway key only to get the TBSCertificate; the token
    # signs it for real.
    cert = b.sign(new_key(), hashes.SHA256())
    with open(a["--out"], "wb") as f:
        f.write(cert.tbs_certificate_bytes)


def leaf(a):
    """A certificate from a software CA (or self-signed), for the client
    certificates that are not tessera's."""
    key = new_key()
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, a["--cn"])]
    if "--serial-number" in a:
        attrs.insert(0, x509.NameAttribute(NameOID.SERIAL_NUMBER,
                                           a["--serial-number"]))
    subject = x509.Name(attrs)
    if a["--ca-cert"] == "self":
        issuer, ca_key, aki = subject, key, None
    else:
        ca = x509.load_pem_x509_certificate(open(a["--ca-cert"], "rb").read())
        issuer = ca.subject
        ca_key = serialization.load_pem_private_key(
            open(a["--ca-key"], "rb").read(), None)
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca_key.public_key())
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    is_ca = a.get("--is-ca") == "yes"
    b = (x509.CertificateBuilder()
         .subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now + int(a.get("--from", "-1")) * day)
         .not_valid_after(now + int(a.get("--to", "30")) * day)
         .add_extension(x509.BasicConstraints(is_ca, None), True)
         .add_extension(x509.KeyUsage(
             not is_ca, False, False, False, False, is_ca, is_ca, False,
             False), True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(
             key.public_key()), False))
    # Well formed but for what the case is about (X509_V_FLAG_X509_STRICT
    # wants the key identifiers).
    if aki is not None:
        b = b.add_extension(aki, False)
    if a.get("--critext") == "yes":
        b = b.add_extension(x509.UnrecognizedExtension(
            x509.ObjectIdentifier("1.3.6.1.4.1.55555.7.2"), b"\x05\x00"),
            True)
    if "--pad" in a:
        # A certificate bigger than any a device needs.
        n = int(a["--pad"])
        b = b.add_extension(x509.UnrecognizedExtension(
            x509.ObjectIdentifier("1.3.6.1.4.1.55555.7.3"),
            tlv(0x04, b"\xa5" * n)), False)
    cert = b.sign(ca_key, hashes.SHA256())
    with open(a["--key-out"], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(a["--cert-out"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def assemble(a):
    t = open(a["--tbs"], "rb").read()
    s = open(a["--sig"], "rb").read()
    cert = x509.load_der_x509_certificate(signed(t, s))
    with open(a["--out"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def opts(argv):
    return dict(zip(argv[::2], argv[1::2]))


def main():
    if sys.argv[1] == "csrs":
        csrs(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "tbs":
        tbs(opts(sys.argv[2:]))
    elif sys.argv[1] == "assemble":
        assemble(opts(sys.argv[2:]))
    elif sys.argv[1] == "leaf":
        leaf(opts(sys.argv[2:]))
    else:
        sys.exit("usage: forge.py csrs|tbs|assemble ...")


if __name__ == "__main__":
    main()
