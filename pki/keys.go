package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

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

// algorithmOf names a public key's algorithm as the spec does.
func algorithmOf(pub crypto.PublicKey) model.KeyAlgorithm {
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
		return model.KeyAlgorithm("ECDSA-" + k.Curve.Params().Name)
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

// samePublicKey reports whether a private key belongs to a public key.
func samePublicKey(priv crypto.Signer, pub crypto.PublicKey) bool {
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
