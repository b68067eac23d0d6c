package pki

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"

	"github.com/hagen/hagen/compiler/model"
)

// TestKeyPublicHalf: the arithmetic checks agree with crypto/x509 on sound
// keys and refuse keys that parse but are not whole.
func TestKeyPublicHalf(t *testing.T) {
	for _, alg := range []model.KeyAlgorithm{model.RSA2048, model.ECDSAP256, model.ECDSAP384} {
		key, err := generateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		keyPEM, err := encodeKey(key)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := keyPublicHalf(keyPEM)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if err := keyMatches(keyPEM, key.Public()); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
		if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Errorf("%s: public half differs from crypto/x509's", alg)
		}
		other, _ := generateKey(alg)
		if err := keyMatches(keyPEM, other.Public()); err == nil {
			t.Errorf("%s: matched another key", alg)
		}
	}

	// An RSA key with a damaged d, CRT value or prime still parses as ASN.1.
	key, _ := generateKey(model.RSA2048)
	block, _ := pem.Decode([]byte(mustEncode(t, key)))
	var k pkcs1PrivateKey
	if _, err := asn1.Unmarshal(block.Bytes, &k); err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func(k *pkcs1PrivateKey){
		"d":    func(k *pkcs1PrivateKey) { k.D = new(big.Int).Add(k.D, big.NewInt(2)) },
		"dp":   func(k *pkcs1PrivateKey) { k.Dp = new(big.Int).Add(k.Dp, big.NewInt(1)) },
		"qinv": func(k *pkcs1PrivateKey) { k.Qinv = new(big.Int).Add(k.Qinv, big.NewInt(1)) },
		"p":    func(k *pkcs1PrivateKey) { k.P = new(big.Int).Add(k.P, big.NewInt(2)) },
		"n":    func(k *pkcs1PrivateKey) { k.N = new(big.Int).Add(k.N, big.NewInt(2)) },
	} {
		c := k
		damage(&c)
		der, err := asn1.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		bad := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}))
		if _, err := keyPublicHalf(bad); err == nil {
			t.Errorf("RSA key with a damaged %s accepted", name)
		}
		if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
			t.Errorf("RSA key with a damaged %s: crypto/x509 accepts it too, the case proves nothing", name)
		}
	}

	// An EC key whose embedded public point is not its scalar's.
	ec, _ := generateKey(model.ECDSAP256)
	block, _ = pem.Decode([]byte(mustEncode(t, ec)))
	var e ecPrivateKey
	if _, err := asn1.Unmarshal(block.Bytes, &e); err != nil {
		t.Fatal(err)
	}
	e.PrivateKey[len(e.PrivateKey)-1] ^= 1
	der, _ := asn1.Marshal(e)
	bad := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if _, err := keyPublicHalf(bad); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("EC key with a damaged scalar: %v", err)
	}
}

func mustEncode(t *testing.T, k crypto.Signer) string {
	t.Helper()
	s, err := encodeKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
