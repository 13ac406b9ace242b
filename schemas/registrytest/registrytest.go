package registrytest

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// EnvRegistry names the environment variable that points tests at a
// running registry's Confluent-compatible URL.
const EnvRegistry = "CUSTREAM_TEST_REGISTRY"

// Backend says which kind of registry a test runs against.
type Backend string

const (
	Real Backend = "real"   // the registry of CUSTREAM_TEST_REGISTRY (Apicurio in make test)
	Fake Backend = "srfake" // franz-go's in-process srfake
)

// Registry is the schema registry a test talks to.
type Registry struct {
	Backend Backend
	// URL is its Confluent-compatible base URL.
	URL string
	// Fake is set for the srfake backend (interceptors, seeding); nil
	// otherwise.
	Fake *srfake.Registry
}

// Start returns the registry for t: the shared real one, or a fresh
// srfake closed when t ends.
func Start(t testing.TB) *Registry {
	t.Helper()
	if u := os.Getenv(EnvRegistry); u != "" {
		t.Logf("registry: real, %s=%s", EnvRegistry, u)
		return &Registry{Backend: Real, URL: u}
	}
	fake := srfake.New()
	t.Cleanup(fake.Close)
	t.Logf("registry: srfake at %s (no %s: srfake checks no compatibility)", fake.URL(), EnvRegistry)
	return &Registry{Backend: Fake, URL: fake.URL(), Fake: fake}
}

// Client is an sr.Client for the registry (or for url, when given).
func (r *Registry) Client(t testing.TB, opts ...sr.ClientOpt) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(append([]sr.ClientOpt{sr.URLs(r.URL)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// Proxy is the registry behind an authenticating TLS front.
type Proxy struct {
	// URL is the front's https URL.
	URL string
	// CAFile is a PEM file of the certificate the front serves, for
	// --schema-registry-ca.
	CAFile string

	mu      sync.Mutex
	refused int
}

// Refused counts the requests the front answered 401.
func (p *Proxy) Refused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refused
}

// AuthProxy fronts the registry with a TLS server on 127.0.0.1 that
// answers 401 to every request whose Authorization header is not
// authorization (e.g. "Basic dTpw", "Bearer tok") and forwards the others,
// without that header, to the registry. It stops when t ends.
func (r *Registry) AuthProxy(t testing.TB, authorization string) *Proxy {
	t.Helper()
	target, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	p := &Proxy{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != authorization {
			p.mu.Lock()
			p.refused++
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error_code":401,"message":"Unauthorized"}`))
			return
		}
		req.Header.Del("Authorization")
		req.Host = target.Host
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	p.CAFile = filepath.Join(t.TempDir(), "registry-ca.pem")
	cert := srv.Certificate()
	if err := os.WriteFile(p.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Later is an address where the registry is not there yet (or no longer):
// Up and Down switch it on and off. Not safe for concurrent use.
type Later struct {
	// URL is where it will answer after Up.
	URL string

	reg  *Registry
	addr string
	srv  *http.Server
}

// Later reserves a free port on 127.0.0.1 where nothing listens until Up
// (connections are refused meanwhile, as for a registry that is down).
func (r *Registry) Later(t testing.TB) *Later {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	l := &Later{URL: "http://" + addr, reg: r, addr: addr}
	t.Cleanup(func() {
		if l.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = l.srv.Shutdown(ctx)
		}
	})
	return l
}

// Down stops serving at l.URL: connections are refused again.
func (l *Later) Down(t testing.TB) {
	t.Helper()
	if l.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.srv.Shutdown(ctx)
	l.srv = nil
}

// Up starts serving the registry at l.URL (a reverse proxy to it).
func (l *Later) Up(t testing.TB) {
	t.Helper()
	target, err := url.Parse(l.reg.URL)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // the port may still be in TIME_WAIT or taken for a moment
		if ln, err = net.Listen("tcp", l.addr); err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("listening on %s again: %v", l.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	l.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.Host = target.Host
		rp.ServeHTTP(w, req)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = l.srv.Serve(ln) }()
}

// EnvPython names the environment variable with the Python interpreter
// that has confluent-kafka[avro] (.ci/run sets it to its venv's).
const EnvPython = "CUSTREAM_TEST_PYTHON"

// EnvRequirePython, when set, makes Python fail the test instead of
// skipping it when no such interpreter is found (.ci/run sets it).
const EnvRequirePython = "CUSTREAM_REQUIRE_INTEROP"

// Python returns a Python interpreter that imports confluent_kafka,
// fastavro and the Schema Registry client: CUSTREAM_TEST_PYTHON, else
// python3 on PATH. Without one it skips t (fails it with
// CUSTREAM_REQUIRE_INTEROP set).
func Python(t testing.TB) string {
	t.Helper()
	py := os.Getenv(EnvPython)
	if py == "" {
		py = "python3"
	}
	check := exec.Command(py, "-c", "import confluent_kafka, fastavro; from confluent_kafka.schema_registry.avro import AvroDeserializer")
	out, err := check.CombinedOutput()
	if err != nil {
		msg := "no Python with confluent-kafka[avro] (" + py + ": " + err.Error() + ": " + string(out) + "); pip install 'confluent-kafka[avro]' or set " + EnvPython
		if os.Getenv(EnvRequirePython) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return py
}

// Script is the path of a file below the module root (the directory with
// go.mod above the test's working directory), e.g.
// "deploy/interop/read_outputs.py".
func Script(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, rel)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal(errors.New("no go.mod above the working directory"))
		}
		dir = parent
	}
}
