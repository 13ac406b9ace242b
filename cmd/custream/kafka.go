package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/custream/custream/processor"
	"github.com/custream/custream/processor/customer"
)

// kafkaFlags are the flags every subcommand that talks to Kafka shares.
type kafkaFlags struct {
	brokers      string
	group        string
	sources      string
	topicPrefix  string
	pointsTopic  string
	tls          bool
	tlsCA        string
	saslMech     string
	saslUser     string
	saslPassFile string
	// plaintextAuth allows SASL without TLS: the password (PLAIN) or the
	// session (SCRAM) would cross the network readable by anyone on it.
	plaintextAuth bool
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.brokers, "brokers", "", "Kafka seed brokers, comma-separated; none starts the embedded broker on 127.0.0.1:9092 (run only)")
	fs.StringVar(&k.group, "group", "custream", "consumer group; also names the changelog topic <group>-changelog")
	fs.StringVar(&k.sources, "sources", formatSources(customer.DefaultSources()),
		"sources, comma-separated, each NAME[:OPTION]…: multi marks a multi-account source (needs accountId), orgs=42+43 the only orgs its producers may act for, signed that its commands must be signed (--command-keys-file); e.g. INSTORE:orgs=42+43:signed,WECHAT:multi")
	fs.StringVar(&k.topicPrefix, "topic-prefix", "customers", "prefix of every topic but the changelog: <prefix>.<source>, <prefix>.results, …")
	fs.StringVar(&k.pointsTopic, "points-topic", "", "the loyalty engine's balances topic (docs/points.md); default <prefix>.points")
	fs.BoolVar(&k.tls, "kafka-tls", false, "use TLS to the brokers")
	fs.StringVar(&k.tlsCA, "kafka-tls-ca", "", "PEM file of the CA that signed the brokers' certificates (default: system roots)")
	fs.StringVar(&k.saslMech, "sasl-mechanism", "", "SASL mechanism to the brokers: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&k.saslUser, "sasl-user", "", "SASL user")
	fs.StringVar(&k.saslPassFile, "sasl-password-file", "", "file holding the SASL password (or set CUSTREAM_SASL_PASSWORD); never a flag value")
	fs.BoolVar(&k.plaintextAuth, "kafka-allow-plaintext-auth", false, "allow SASL without --kafka-tls (the credentials and the data cross the network unencrypted; for a broker on loopback only)")
}

func (k *kafkaFlags) brokerList() []string {
	var out []string
	for _, b := range strings.Split(k.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// sourceSpec is one item of --sources: a source, and what its producers
// may do (processor.Admission).
type sourceSpec struct {
	source customer.Source
	orgs   []int64 // nil: every org
	signed bool
}

// parseSources reads --sources: "INSTORE,WECHAT:multi".
func parseSources(s string) ([]customer.Source, error) {
	specs, err := parseSourceSpecs(s)
	if err != nil {
		return nil, err
	}
	out := make([]customer.Source, len(specs))
	for i, sp := range specs {
		out[i] = sp.source
	}
	return out, nil
}

// parseSourceSpecs reads --sources with its options: comma-separated
// NAME[:OPTION]…, each OPTION one of single (the default), multi (a
// multi-account source, needs accountId), orgs=ORG[+ORG…] (the only orgs
// its producers may act for) and signed (every command must carry a valid
// signature), e.g. "INSTORE:orgs=42+43:signed,MARTJACK,WECHAT:multi".
func parseSourceSpecs(s string) ([]sourceSpec, error) {
	var out []sourceSpec
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.Split(item, ":")
		sp := sourceSpec{source: customer.Source{Name: strings.ToUpper(parts[0])}}
		if n := sp.source.Name; n == "" || n[0] < 'A' || n[0] > 'Z' {
			// "INSTORE:orgs=42,43" would otherwise be a source named 43.
			return nil, fmt.Errorf("source %q: a name starts with a letter (orgs are separated by +: NAME:orgs=42+43)", item)
		}
		if seen[sp.source.Name] {
			return nil, fmt.Errorf("source %s listed twice", sp.source.Name)
		}
		seen[sp.source.Name] = true
		for _, opt := range parts[1:] {
			switch name, val, _ := strings.Cut(opt, "="); name {
			case "single":
			case "multi":
				sp.source.MultiAccount = true
			case "signed":
				sp.signed = true
			case "orgs":
				orgs, err := parseOrgList(val, "+")
				if err != nil {
					return nil, fmt.Errorf("source %q: orgs: %w", item, err)
				}
				sp.orgs = orgs
			default:
				return nil, fmt.Errorf("source %q: option %q: want single, multi, orgs=ORG[+ORG…] or signed", item, opt)
			}
		}
		out = append(out, sp)
	}
	if len(out) == 0 {
		return nil, errors.New("no sources")
	}
	return out, nil
}

// parseOrgList reads orgs separated by sep: positive canonical decimals.
func parseOrgList(s, sep string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, sep) {
		org, err := strconv.ParseInt(f, 10, 64)
		if err != nil || org <= 0 || strconv.FormatInt(org, 10) != f {
			return nil, fmt.Errorf("%q is not an org id (a positive decimal integer)", f)
		}
		out = append(out, org)
	}
	return out, nil
}

// formatSources is parseSources' inverse, for the default of --sources.
func formatSources(sources []customer.Source) string {
	out := make([]string, len(sources))
	for i, s := range sources {
		out[i] = s.Name
		if s.MultiAccount {
			out[i] += ":multi"
		}
	}
	return strings.Join(out, ",")
}

func (k *kafkaFlags) topology() (processor.Topology, []customer.Source, error) {
	sources, err := parseSources(k.sources)
	if err != nil {
		return processor.Topology{}, nil, err
	}
	topo := processor.DefaultTopology(k.topicPrefix, k.group, sources)
	if k.pointsTopic != "" {
		for i := range topo.Inputs {
			if topo.Inputs[i].Balances {
				topo.Inputs[i].Topic = k.pointsTopic
			}
		}
	}
	return topo, sources, nil
}

// adminTarget is what the admin commands (topics, reset) take from the
// flags: the topology and the client options, from the environment too.
func (k *kafkaFlags) adminTarget() (processor.Topology, []kgo.Opt, error) {
	topo, _, err := k.topology()
	if err != nil {
		return processor.Topology{}, nil, err
	}
	opts, err := k.clientOpts(os.Getenv)
	if err != nil {
		return processor.Topology{}, nil, err
	}
	return topo, opts, nil
}

// clientOpts turns the TLS and SASL flags into franz-go options.
func (k *kafkaFlags) clientOpts(getenv func(string) string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if k.tls || k.tlsCA != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if k.tlsCA != "" {
			pem, err := os.ReadFile(k.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("reading --kafka-tls-ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--kafka-tls-ca %s holds no PEM certificate", k.tlsCA)
			}
			cfg.RootCAs = pool
		}
		opts = append(opts, kgo.Dialer((&tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cfg}).DialContext))
	}
	if k.saslMech == "" {
		return opts, nil
	}
	pass := getenv("CUSTREAM_SASL_PASSWORD")
	if k.saslPassFile != "" {
		b, err := os.ReadFile(k.saslPassFile)
		if err != nil {
			return nil, fmt.Errorf("reading --sasl-password-file: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	if k.saslUser == "" || pass == "" {
		return nil, errors.New("SASL needs --sasl-user and a password (--sasl-password-file or CUSTREAM_SASL_PASSWORD)")
	}
	if !k.tls && k.tlsCA == "" && !k.plaintextAuth {
		return nil, fmt.Errorf("--sasl-mechanism %s without --kafka-tls sends the credentials and every customer record unencrypted; add --kafka-tls (and --kafka-tls-ca), or --kafka-allow-plaintext-auth for a broker on loopback", k.saslMech)
	}
	switch strings.ToUpper(k.saslMech) {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: k.saslUser, Pass: pass}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.saslUser, Pass: pass}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.saslUser, Pass: pass}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.saslMech)
	}
	return opts, nil
}
