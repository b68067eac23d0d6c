package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/cloudflare/cfssl/csr"

	"github.com/hagen/hagen/compiler/model"
)

// keyRequest is cfssl's name for a key algorithm and size.
func keyRequest(alg model.KeyAlgorithm) (*csr.KeyRequest, error) {
	switch alg {
	case model.RSA2048:
		return &csr.KeyRequest{A: "rsa", S: 2048}, nil
	case model.RSA3072:
		return &csr.KeyRequest{A: "rsa", S: 3072}, nil
	case model.RSA4096:
		return &csr.KeyRequest{A: "rsa", S: 4096}, nil
	case model.ECDSAP256:
		return &csr.KeyRequest{A: "ecdsa", S: 256}, nil
	case model.ECDSAP384:
		return &csr.KeyRequest{A: "ecdsa", S: 384}, nil
	}
	return nil, fmt.Errorf("unknown key algorithm %q", alg)
}

func generateKey(alg model.KeyAlgorithm) (crypto.Signer, error) {
	kr, err := keyRequest(alg)
	if err != nil {
		return nil, err
	}
	k, err := kr.Generate()
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", alg, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("generating %s key: not a signer", alg)
	}
	return s, nil
}

// AlgorithmOf names a public key's algorithm as the spec spells it
// (pki.keyAlgorithm): every verb that prints an algorithm uses this name.
func AlgorithmOf(pub crypto.PublicKey) model.KeyAlgorithm {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return model.KeyAlgorithm(fmt.Sprintf("RSA-%d", k.N.BitLen()))
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return model.ECDSAP256
		case elliptic.P384():
			return model.ECDSAP384
		}
		return model.KeyAlgorithm("ECDSA-" + strings.ReplaceAll(k.Curve.Params().Name, "-", ""))
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return model.KeyAlgorithm(fmt.Sprintf("%T", pub))
}

// encodeKey writes a private key the way kubeadm does: PKCS#1 for RSA,
// SEC 1 for ECDSA.
func encodeKey(k crypto.Signer) (string, error) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})), nil
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return "", err
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), nil
	}
	return "", fmt.Errorf("unsupported key type %T", k)
}

func encodePublicKey(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

func encodeCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// ParseKey reads one PEM private key (PKCS#1, SEC 1 or PKCS#8), and nothing
// else: trailing data means a damaged file.
func ParseKey(s string) (crypto.Signer, error) {
	b, rest := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("not a PEM private key")
	}
	if len(trimSpace(rest)) > 0 {
		return nil, errors.New("unexpected data after the PEM key")
	}
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", b.Type)
	}
	if err != nil {
		return nil, err
	}
	s2, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s2, nil
}

// ParseCert reads one PEM certificate.
func ParseCert(s string) (*x509.Certificate, error) {
	b, rest := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	if len(trimSpace(rest)) > 0 {
		return nil, errors.New("unexpected data after the PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// ParsePublicKey reads one PEM PKIX public key.
func ParsePublicKey(s string) (crypto.PublicKey, error) {
	b, rest := pem.Decode([]byte(s))
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM public key")
	}
	if len(trimSpace(rest)) > 0 {
		return nil, errors.New("unexpected data after the PEM public key")
	}
	return x509.ParsePKIXPublicKey(b.Bytes)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// SamePublicKey reports whether a private key belongs to a public key.
func SamePublicKey(priv crypto.Signer, pub crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := priv.Public().(equaler)
	return ok && e.Equal(pub)
}

// CACertHash is kubeadm's public key pin for a CA certificate:
// "sha256:" and the hex SHA-256 of its DER SubjectPublicKeyInfo.
func CACertHash(certPEM string) (string, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// pkcs1PrivateKey is the ASN.1 layout of a PKCS #1 RSA private key.
type pkcs1PrivateKey struct {
	Version int
	N       *big.Int
	E       int
	D       *big.Int
	P       *big.Int
	Q       *big.Int
	Dp      *big.Int `asn1:"optional"`
	Dq      *big.Int `asn1:"optional"`
	Qinv    *big.Int `asn1:"optional"`
	// Multi-prime keys: refused (kubeadm and hagen never write them).
	AdditionalPrimes []asn1.RawValue `asn1:"optional,omitempty"`
}

// keyPublicHalf reads one PEM private key and returns its public key after
// checking that the key is whole and consistent. For RSA it checks the
// arithmetic (n = p·q, e·d ≡ 1 mod p−1 and mod q−1, and the CRT values)
// instead of the private-key operation crypto/x509 performs on every parse:
// that is ~0.5 ms a key, most of a re-render of a small cluster, and the
// arithmetic already proves the key sound.
func keyPublicHalf(s string) (crypto.PublicKey, error) {
	b, rest := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("not a PEM private key")
	}
	if len(trimSpace(rest)) > 0 {
		return nil, errors.New("unexpected data after the PEM key")
	}
	switch b.Type {
	case "EC PRIVATE KEY":
		return ecPublicHalf(b.Bytes)
	case "RSA PRIVATE KEY":
	default:
		k, err := ParseKey(s) // PKCS #8: hagen does not write it
		if err != nil {
			return nil, err
		}
		return k.Public(), nil
	}
	var k pkcs1PrivateKey
	rest, err := asn1.Unmarshal(b.Bytes, &k)
	switch {
	case err != nil:
		return nil, fmt.Errorf("RSA private key: %v", err)
	case len(rest) > 0:
		return nil, errors.New("RSA private key: trailing data")
	case k.Version != 0 || len(k.AdditionalPrimes) > 0:
		return nil, errors.New("RSA private key: multi-prime keys are not supported")
	case k.N == nil || k.D == nil || k.P == nil || k.Q == nil || k.E < 3 || k.E%2 == 0 ||
		k.N.Sign() <= 0 || k.D.Sign() <= 0 || k.P.Cmp(bigOne) <= 0 || k.Q.Cmp(bigOne) <= 0:
		return nil, errors.New("RSA private key: invalid values")
	}
	if new(big.Int).Mul(k.P, k.Q).Cmp(k.N) != 0 {
		return nil, errors.New("RSA private key: n is not p·q")
	}
	e := big.NewInt(int64(k.E))
	for _, prime := range []*big.Int{k.P, k.Q} {
		pm1 := new(big.Int).Sub(prime, bigOne)
		ed := new(big.Int).Mul(e, k.D)
		if ed.Mod(ed, pm1).Cmp(bigOne) != 0 {
			return nil, errors.New("RSA private key: d is not the inverse of e")
		}
	}
	if k.Dp != nil && k.Dq != nil && k.Qinv != nil {
		dp := new(big.Int).Mod(k.D, new(big.Int).Sub(k.P, bigOne))
		dq := new(big.Int).Mod(k.D, new(big.Int).Sub(k.Q, bigOne))
		qi := new(big.Int).Mul(k.Qinv, k.Q)
		if dp.Cmp(k.Dp) != 0 || dq.Cmp(k.Dq) != 0 || qi.Mod(qi, k.P).Cmp(bigOne) != 0 {
			return nil, errors.New("RSA private key: inconsistent CRT values")
		}
	}
	return &rsa.PublicKey{N: k.N, E: k.E}, nil
}

var bigOne = big.NewInt(1)

// keyMatches checks that keyPEM is a sound private key whose public half is
// pub.
func keyMatches(keyPEM string, pub crypto.PublicKey) error {
	have, err := keyPublicHalf(keyPEM)
	if err != nil {
		return err
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := have.(equaler); !ok || !e.Equal(pub) {
		return errKeyMismatch
	}
	return nil
}

var errKeyMismatch = errors.New("the key does not belong to the certificate")

// ecPrivateKey is the ASN.1 layout of a SEC 1 EC private key.
type ecPrivateKey struct {
	Version       int
	PrivateKey    []byte
	NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey     asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
)

// ecPublicHalf derives the public point of a SEC 1 key from its scalar with
// crypto/ecdh, which proves the scalar valid without the sign-and-verify
// self-test crypto/x509 runs on every parse.
func ecPublicHalf(der []byte) (crypto.PublicKey, error) {
	var k ecPrivateKey
	rest, err := asn1.Unmarshal(der, &k)
	switch {
	case err != nil:
		return nil, fmt.Errorf("EC private key: %v", err)
	case len(rest) > 0:
		return nil, errors.New("EC private key: trailing data")
	case k.Version != 1:
		return nil, errors.New("EC private key: unknown version")
	}
	var curve ecdh.Curve
	var size int
	switch {
	case k.NamedCurveOID.Equal(oidP256):
		curve, size = ecdh.P256(), 32
	case k.NamedCurveOID.Equal(oidP384):
		curve, size = ecdh.P384(), 48
	default:
		return nil, errors.New("EC private key: unsupported curve")
	}
	if len(k.PrivateKey) > size {
		return nil, errors.New("EC private key: scalar too long")
	}
	scalar := make([]byte, size)
	copy(scalar[size-len(k.PrivateKey):], k.PrivateKey)
	priv, err := curve.NewPrivateKey(scalar)
	if err != nil {
		return nil, fmt.Errorf("EC private key: %v", err)
	}
	point := priv.PublicKey().Bytes()
	if len(k.PublicKey.Bytes) > 0 && !bytes.Equal(k.PublicKey.Bytes, point) {
		return nil, errors.New("EC private key: its public point does not match its scalar")
	}
	pub, err := x509.ParsePKIXPublicKey(ecSPKI(k.NamedCurveOID, point))
	if err != nil {
		return nil, fmt.Errorf("EC private key: %v", err)
	}
	return pub, nil
}

// ecSPKI wraps an uncompressed point in a SubjectPublicKeyInfo.
func ecSPKI(curve asn1.ObjectIdentifier, point []byte) []byte {
	type algorithm struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.ObjectIdentifier
	}
	type spki struct {
		Algorithm algorithm
		PublicKey asn1.BitString
	}
	der, _ := asn1.Marshal(spki{
		Algorithm: algorithm{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, Parameters: curve},
		PublicKey: asn1.BitString{Bytes: point, BitLength: 8 * len(point)},
	})
	return der
}
