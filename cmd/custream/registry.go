package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/schemas"
)

// registryFlags are the schema registry flags of `custream run`.
type registryFlags struct {
	url       string
	user      string
	passFile  string
	tokenFile string
	ca        string
	strategy  string
	wait      time.Duration
}

// envRegistryPassword is the basic-auth password when no
// --schema-registry-password-file is given.
const envRegistryPassword = "CUSTREAM_SCHEMA_REGISTRY_PASSWORD"

// registryTimeout bounds one request to the registry.
const registryTimeout = 10 * time.Second

func (r *registryFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.url, "schema-registry", "", "Confluent-compatible schema registry URL, e.g. http://registry:8081 or Apicurio's http://host:8080/apis/ccompat/v7 (enables the Confluent wire format on input, and --output-format confluent)")
	fs.StringVar(&r.user, "schema-registry-user", "", "basic-auth user for the schema registry (with --schema-registry-password-file or "+envRegistryPassword+")")
	fs.StringVar(&r.passFile, "schema-registry-password-file", "", "file holding the schema registry's basic-auth password (or set "+envRegistryPassword+"); never a flag value")
	fs.StringVar(&r.tokenFile, "schema-registry-token-file", "", "file holding a bearer token for the schema registry, read again for every request (so a rotated token is picked up)")
	fs.StringVar(&r.ca, "schema-registry-ca", "", "PEM file of the CA that signed the schema registry's certificate (default: system roots)")
	fs.StringVar(&r.strategy, "subject-name-strategy", string(schemas.DefaultSubjectStrategy), "subjects of the output value schemas with --output-format confluent: topic (<topic>-value), record (the record's full name) or topic-record (<topic>-<full name>); keys are <topic>-key")
	fs.DurationVar(&r.wait, "schema-registry-wait", processor.DefaultRegistryWait, "how long start-up retries a schema registry that does not answer (backoff 0.5s doubling to 30s) before custream gives up")
}

// client builds the registry client, nil without --schema-registry.
// getenv reads the password's environment variable.
func (r *registryFlags) client(getenv func(string) string) (*schemas.SRRegistry, string, error) {
	if r.url == "" {
		if r.user != "" || r.passFile != "" || r.tokenFile != "" || r.ca != "" {
			return nil, "", errors.New("--schema-registry-user, -password-file, -token-file and -ca need --schema-registry")
		}
		return nil, "", nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if r.ca != "" {
		pem, err := os.ReadFile(r.ca)
		if err != nil {
			return nil, "", fmt.Errorf("reading --schema-registry-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("--schema-registry-ca %s holds no PEM certificate", r.ca)
		}
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	opts := []sr.ClientOpt{sr.URLs(r.url), sr.HTTPClient(&http.Client{Timeout: registryTimeout, Transport: tr}), sr.UserAgent("custream")}
	auth := "none"
	pass := getenv(envRegistryPassword)
	if r.passFile != "" {
		b, err := os.ReadFile(r.passFile)
		if err != nil {
			return nil, "", fmt.Errorf("reading --schema-registry-password-file: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	switch {
	case r.user != "" && r.tokenFile != "":
		return nil, "", errors.New("--schema-registry-user and --schema-registry-token-file exclude each other: basic auth or a bearer token")
	case r.user != "":
		if pass == "" {
			return nil, "", fmt.Errorf("--schema-registry-user needs a password (--schema-registry-password-file or %s)", envRegistryPassword)
		}
		opts = append(opts, sr.BasicAuth(r.user, pass))
		auth = "basic (user " + r.user + ")"
	case r.passFile != "":
		return nil, "", errors.New("--schema-registry-password-file needs --schema-registry-user")
	case r.tokenFile != "":
		if _, err := readToken(r.tokenFile); err != nil {
			return nil, "", err
		}
		file := r.tokenFile
		opts = append(opts, sr.PreReq(func(req *http.Request) error {
			tok, err := readToken(file)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			return nil
		}))
		auth = "bearer (token file " + r.tokenFile + ")"
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, "", fmt.Errorf("schema registry client: %w", err)
	}
	return schemas.NewSRRegistry(cl), auth, nil
}

// readToken reads a bearer token file (trailing newlines dropped).
func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading --schema-registry-token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("--schema-registry-token-file %s is empty", file)
	}
	return tok, nil
}
