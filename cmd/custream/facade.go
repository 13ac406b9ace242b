package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custream/custream/processor/facade"
)

// devOrg is the org of the generated dev key (docs/http.md).
const devOrg = 100

// devKeyFile, under the state dir, keeps the generated dev key so a
// restart (and a second terminal) uses the same one.
const devKeyFile = "dev-api-key"

// httpFlags configure the read facade of `custream run`.
type httpFlags struct {
	addr        string
	advertise   string
	keysFile    string
	tlsCert     string
	tlsKey      string
	metricsAddr string
	perKey      facade.Limit
	perClient   facade.Limit
}

// apiKeysEnv holds API keys given by the environment: comma-separated
// KEY=ORG items. It is not a flag on purpose: a flag's value shows in ps.
const apiKeysEnv = "CUSTREAM_API_KEYS"

func (h *httpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.addr, "http-addr", "127.0.0.1:8080", "HTTP facade listen address; \":8080\" listens on every interface (and then needs configured API keys)")
	fs.StringVar(&h.advertise, "advertise-http", "", "address other instances use to reach this one's facade, host:port or URL (default: derived from --http-addr, host name if it has no host)")
	fs.StringVar(&h.keysFile, "api-keys-file", "", "file of API keys, one \"KEY ORG\" or \"sha256:<hex of the key's SHA-256> ORG\" per line, # comments; keys may also come from "+apiKeysEnv+"=KEY=ORG,... (never from a flag value, which ps shows). With neither, a dev key is made, on a loopback --http-addr only")
	fs.StringVar(&h.tlsCert, "http-tls-cert", "", "certificate file: serve the facade over HTTPS (TLS 1.2+, AEAD suites only; reloaded when the file changes)")
	fs.StringVar(&h.tlsKey, "http-tls-key", "", "private key file of --http-tls-cert")
	fs.StringVar(&h.metricsAddr, "metrics-addr", "127.0.0.1:9464", "listen address of /metrics (Prometheus), kept off the API port; empty: no metrics listener")
	fs.Float64Var(&h.perKey.Rate, "rate-per-key", 200, "requests per second one API key may make on average (0: no limit); more answer 429 with Retry-After")
	fs.IntVar(&h.perKey.Burst, "rate-per-key-burst", 400, "requests one API key may make at once, beyond --rate-per-key")
	fs.Float64Var(&h.perClient.Rate, "rate-per-client", 100, "requests per second one client address (IPv6: its /64) may make on average, counted before authentication (0: no limit)")
	fs.IntVar(&h.perClient.Burst, "rate-per-client-burst", 200, "requests one client address may make at once, beyond --rate-per-client")
}

// keys builds the API keys from --api-keys-file and CUSTREAM_API_KEYS.
// With none configured it uses a dev key for org 100, generated once into
// the state dir, but only when the facade listens on loopback: a dev key on
// a reachable address would be a key nobody chose. The key's file is
// printed to notice (stderr), never the key: stderr ends up in container
// logs.
func (h *httpFlags) keys(stateDir string, getenv func(string) string, notice io.Writer, log *slog.Logger) (*facade.Keys, error) {
	if getenv("CUSTREAM_API_KEY") != "" {
		return nil, errors.New("CUSTREAM_API_KEY (and --api-key) are gone: put the keys in --api-keys-file, or in " + apiKeysEnv + " (KEY=ORG items, comma-separated)")
	}
	keys := &facade.Keys{}
	if err := keys.ParseKeyList(apiKeysEnv, getenv(apiKeysEnv)); err != nil {
		return nil, err
	}
	if h.keysFile != "" {
		file, err := os.Open(h.keysFile)
		if err != nil {
			return nil, fmt.Errorf("reading --api-keys-file: %w", err)
		}
		defer file.Close()
		if err := keys.ReadKeysFile(h.keysFile, file); err != nil {
			return nil, err
		}
	}
	if keys.Len() > 0 {
		return keys, nil
	}
	if !loopbackAddr(h.addr) {
		return nil, fmt.Errorf("no API keys configured and --http-addr %q is not a loopback address: set --api-keys-file or %s (the generated dev key is for a facade on 127.0.0.1 or localhost only)", h.addr, apiKeysEnv)
	}
	path := filepath.Join(stateDir, devKeyFile)
	key, created, err := devKey(path)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(notice, "custream: no API keys configured; generated a dev API key for org %d in %s:\n\n  curl -H \"Authorization: Bearer $(cat %s)\" 'http://%s/v2/customers/search?q=a'\n\n", devOrg, path, path, h.addr)
	} else {
		log.Info("no API keys configured: using the dev API key", "org", devOrg, "file", path)
	}
	if err := keys.Add(key, devOrg); err != nil {
		return nil, fmt.Errorf("dev key in %s: %w", path, err)
	}
	return keys, nil
}

// loopbackAddr reports whether a listen address binds loopback only:
// localhost or a loopback IP. An empty host (":8080") is every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// devKey reads the dev key at path, or creates it (0600) when there is none.
func devKey(path string) (key string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if key = strings.TrimSpace(string(b)); key == "" {
			return "", false, fmt.Errorf("dev key file %s is empty: delete it to get a new key", path)
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("reading the dev key: %w", err)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, fmt.Errorf("generating the dev key: %w", err)
	}
	key = "dev-" + hex.EncodeToString(raw[:])
	// O_EXCL: if another process created it meanwhile, use theirs.
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return devKey(path)
	}
	if err != nil {
		return "", false, fmt.Errorf("saving the dev key: %w", err)
	}
	if _, err := file.WriteString(key + "\n"); err != nil {
		file.Close()
		return "", false, fmt.Errorf("saving the dev key: %w", err)
	}
	if err := file.Close(); err != nil {
		return "", false, fmt.Errorf("saving the dev key: %w", err)
	}
	return key, true, nil
}

// listen binds the facade's address before the processor joins the group,
// so the advertised address (sent in the join) is the real one even with
// port 0.
func (h *httpFlags) listen() (net.Listener, string, error) {
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		return nil, "", fmt.Errorf("listening on --http-addr %s: %w", h.addr, err)
	}
	if h.advertise != "" {
		return ln, h.advertise, nil
	}
	host, _, _ := net.SplitHostPort(h.addr)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// Listening on every interface: the host name is the best guess
		// of how peers reach us; set --advertise-http where it is not
		// (Kubernetes: the pod IP from the downward API).
		if host, err = os.Hostname(); err != nil {
			host = "localhost"
		}
	}
	adv := net.JoinHostPort(host, port)
	if h.tlsCert != "" {
		adv = "https://" + adv
	}
	return ln, adv, nil
}

// serveFacade serves handler on ln until ctx ends, then shuts down
// gracefully. It returns the server's failure, if it had one.
func (h *httpFlags) serveFacade(ctx context.Context, ln net.Listener, handler http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler: handler,
		// Above the facade's own limit, so that it answers oversized
		// heads with 431 in the API's error shape (facade.ServerMaxHeaderBytes).
		MaxHeaderBytes:    facade.ServerMaxHeaderBytes(facade.DefaultMaxHeaderBytes),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if h.tlsCert != "" {
		certs, err := facade.NewCertReloader(h.tlsCert, h.tlsKey, facade.DefaultCertCheck, log)
		if err != nil {
			return err
		}
		srv.TLSConfig = facade.ServerTLSConfig(certs)
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if h.tlsCert != "" {
			// The certificate comes from srv.TLSConfig.
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		done <- err
	}()
	log.Info("http facade listening", "addr", ln.Addr().String(), "tls", h.tlsCert != "")
	select {
	case err := <-done:
		return fmt.Errorf("http facade on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down the http facade: %w", err)
	}
	<-done
	return nil
}

// listenMetrics binds --metrics-addr, or returns nil when it is empty.
func (h *httpFlags) listenMetrics() (net.Listener, error) {
	if h.metricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", h.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listening on --metrics-addr %s: %w", h.metricsAddr, err)
	}
	return ln, nil
}

// serveMetrics serves reg's /metrics on ln until ctx ends. Metrics say
// how busy which org's task is, so they stay off the API's address.
func serveMetrics(ctx context.Context, ln net.Listener, reg *prometheus.Registry, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    facade.DefaultMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("metrics listening", "addr", ln.Addr().String())
	select {
	case err := <-done:
		return fmt.Errorf("metrics on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down the metrics listener: %w", err)
	}
	<-done
	return nil
}
