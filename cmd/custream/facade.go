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

	"github.com/custream/custream/processor/facade"
)

// devOrg is the org of the generated dev key (docs/http.md).
const devOrg = 100

// devKeyFile, under the state dir, keeps the generated dev key so a
// restart (and a second terminal) uses the same one.
const devKeyFile = "dev-api-key"

// httpFlags configure the read facade of `custream run`.
type httpFlags struct {
	addr      string
	advertise string
	apiKeys   listFlag
	keysFile  string
	tlsCert   string
	tlsKey    string
}

func (h *httpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.addr, "http-addr", ":8080", "HTTP facade listen address")
	fs.StringVar(&h.advertise, "advertise-http", "", "address other instances use to reach this one's facade, host:port or URL (default: derived from --http-addr, host name if it has no host)")
	fs.Var(&h.apiKeys, "api-key", "an API key for one org, KEY=ORG (repeatable; the env var takes a comma-separated list)")
	fs.StringVar(&h.keysFile, "api-keys-file", "", "file of API keys, one \"KEY ORG\" per line, # comments")
	fs.StringVar(&h.tlsCert, "http-tls-cert", "", "certificate file: serve the facade over HTTPS")
	fs.StringVar(&h.tlsKey, "http-tls-key", "", "private key file of --http-tls-cert")
}

// keys builds the API keys from the flags. With none configured it uses a
// dev key for org 100, generated once into the state dir and printed once
// to notice (stderr), so `make run` on a fresh machine is usable at once.
func (h *httpFlags) keys(stateDir string, notice io.Writer, log *slog.Logger) (*facade.Keys, error) {
	keys := &facade.Keys{}
	for _, v := range h.apiKeys {
		if err := keys.ParseKeyFlag(v); err != nil {
			return nil, err
		}
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
	path := filepath.Join(stateDir, devKeyFile)
	key, created, err := devKey(path)
	if err != nil {
		return nil, err
	}
	if created {
		host := h.addr
		if strings.HasPrefix(host, ":") {
			host = "localhost" + host
		}
		fmt.Fprintf(notice, "custream: no --api-key given; generated a dev API key for org %d (kept in %s, shown only this once):\n\n    %s\n\n  curl -H 'Authorization: Bearer %s' '%s/v2/customers/search?q=a'\n\n", devOrg, path, key, key, host)
	} else {
		log.Info("no --api-key given: using the dev API key", "org", devOrg, "file", path)
	}
	if err := keys.Add(key, devOrg); err != nil {
		return nil, fmt.Errorf("dev key in %s: %w", path, err)
	}
	return keys, nil
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
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if h.tlsCert != "" {
			err = srv.ServeTLS(ln, h.tlsCert, h.tlsKey)
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
