// Package gzb64 packs bytes as base64 of a deterministic gzip stream (no
// name, no time), the encoding cloud-init's gz+b64 and Ignition's gzipped
// data URLs share, and unpacks them.
package gzb64

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
)

// Pack gzips data at the best compression and base64-encodes it.
func Pack(data []byte) (string, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := gz.Write(data); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// Unpack reverses Pack.
func Unpack(s string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(gz)
}
