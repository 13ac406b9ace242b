package facade

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a fresh self-signed certificate for 127.0.0.1 named cn
// and its key to dir, and returns the files.
func writePair(t *testing.T, dir, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	// Written beside and renamed, as Kubernetes and cert-manager do.
	for name, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(name+".new", pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(name+".new", name); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// tlsServer serves a TLS listener on 127.0.0.1 with the facade's config
// and answers nothing: the handshake is what is tested.
func tlsServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	return ln.Addr().String()
}

func handshake(addr string, cfg *tls.Config) (*tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	st := c.ConnectionState()
	return &st, nil
}

func TestTLSSuites(t *testing.T) {
	certFile, keyFile := writePair(t, t.TempDir(), "one")
	certs, err := NewCertReloader(certFile, keyFile, -1, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, ServerTLSConfig(certs))
	cbc := []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	}
	if _, err := handshake(addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: cbc}); err == nil {
		t.Error("a client offering only CBC suites completed a handshake")
	}
	if _, err := handshake(addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 client completed a handshake")
	}
	st, err := handshake(addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 with default suites: %v", err)
	}
	if !strings.Contains(tls.CipherSuiteName(st.CipherSuite), "GCM") && !strings.Contains(tls.CipherSuiteName(st.CipherSuite), "CHACHA20") {
		t.Errorf("negotiated %s", tls.CipherSuiteName(st.CipherSuite))
	}
	if _, err := handshake(addr, &tls.Config{InsecureSkipVerify: true}); err != nil {
		t.Errorf("TLS 1.3: %v", err)
	}
}

func servedCN(t *testing.T, addr string) string {
	t.Helper()
	st, err := handshake(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	return st.PeerCertificates[0].Subject.CommonName
}

func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writePair(t, dir, "first")
	var logs bytes.Buffer
	certs, err := NewCertReloader(certFile, keyFile, -1, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := tlsServer(t, ServerTLSConfig(certs))
	if cn := servedCN(t, addr); cn != "first" {
		t.Fatalf("served %q", cn)
	}
	writePair(t, dir, "second")
	if cn := servedCN(t, addr); cn != "second" {
		t.Errorf("after replacing the files, served %q, want the new certificate", cn)
	}
	// A broken renewal (a key that is not the certificate's) keeps the
	// old pair in service, and says so.
	other := t.TempDir()
	_, otherKey := writePair(t, other, "stray")
	b, _ := os.ReadFile(otherKey)
	if err := os.WriteFile(keyFile+".new", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keyFile+".new", keyFile); err != nil {
		t.Fatal(err)
	}
	if cn := servedCN(t, addr); cn != "second" {
		t.Errorf("after a bad renewal, served %q, want the previous certificate", cn)
	}
	if !strings.Contains(logs.String(), "does not load; serving the previous one") {
		t.Errorf("no log line for the bad renewal: %q", logs.String())
	}
	if _, err := NewCertReloader(certFile, keyFile, -1, nil); err == nil {
		t.Error("a mismatched pair loaded at start")
	}
}
