package facade

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"
)

// DefaultCertCheck is how often, at most, CertReloader looks at its files.
const DefaultCertCheck = 5 * time.Second

// tls12Suites are the TLS 1.2 suites the facade accepts: forward-secret
// (ECDHE) and AEAD only. CBC suites (Lucky13-style padding oracles, SHA-1
// MACs) and static-RSA key exchange are left out; TLS 1.3's suites are all
// AEAD and not configurable.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerTLSConfig is the facade's TLS: 1.2 or newer, AEAD suites only, the
// certificate from certs (so a renewed one is served without a restart).
func ServerTLSConfig(certs *CertReloader) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   tls12Suites,
		GetCertificate: certs.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// CertReloader serves a certificate and key pair from files and loads them
// again when either file changes (cert-manager and Kubernetes secrets
// replace them in place). It looks at the files at most every Check; if
// the new pair does not load (a half-written renewal, a key not matching
// its certificate) it keeps serving the old one and logs why, once per
// change.
type CertReloader struct {
	certFile, keyFile string
	check             time.Duration
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   fileStamps // of the files cert was loaded from
	failed  fileStamps // of the files that last failed to load
	checked time.Time
}

// fileStamps say whether a file changed: its modification time, size and
// inode (a file replaced by a rename, as Kubernetes secrets are, is a new
// inode even where mtimes are coarse).
type fileStamps [2]struct {
	mod   time.Time
	size  int64
	inode uint64
}

// NewCertReloader loads the pair once (failing if it does not load) and
// returns a reloader that looks at the files at most every check (0 means
// DefaultCertCheck; negative, on every handshake, for tests).
func NewCertReloader(certFile, keyFile string, check time.Duration, log *slog.Logger) (*CertReloader, error) {
	if check == 0 {
		check = DefaultCertCheck
	}
	if log == nil {
		log = slog.Default()
	}
	c := &CertReloader{certFile: certFile, keyFile: keyFile, check: check, log: log}
	stamp, err := c.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the facade's TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	c.cert, c.stamp, c.checked = &cert, stamp, time.Now()
	return c, nil
}

func (c *CertReloader) stamps() (fileStamps, error) {
	var s fileStamps
	for i, name := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return s, fmt.Errorf("facade TLS: %w", err)
		}
		s[i].mod, s[i].size = fi.ModTime(), fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			s[i].inode = st.Ino
		}
	}
	return s, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.check < 0 || now.Sub(c.checked) >= c.check {
		c.checked = now
		c.reload()
	}
	return c.cert, nil
}

// reload loads the pair again if its files changed since the last load or
// failed attempt. Called with c.mu held.
func (c *CertReloader) reload() {
	stamp, err := c.stamps()
	if err != nil {
		if stamp != c.failed {
			c.failed = stamp
			c.log.Warn("facade TLS certificate unreadable; serving the previous one", "err", err)
		}
		return
	}
	if stamp == c.stamp || stamp == c.failed {
		return
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.failed = stamp
		c.log.Warn("facade TLS certificate changed but does not load; serving the previous one", "cert_file", c.certFile, "key_file", c.keyFile, "err", err)
		return
	}
	c.cert, c.stamp, c.failed = &cert, stamp, fileStamps{}
	c.log.Info("facade TLS certificate reloaded", "cert_file", c.certFile)
}
