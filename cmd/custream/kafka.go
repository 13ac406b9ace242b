package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
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
		"sources, comma-separated; NAME:multi marks a multi-account source (needs accountId)")
	fs.StringVar(&k.topicPrefix, "topic-prefix", "customers", "prefix of every topic but the changelog: <prefix>.<source>, <prefix>.results, …")
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

// parseSources reads "INSTORE,WECHAT:multi".
func parseSources(s string) ([]customer.Source, error) {
	var out []customer.Source
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, mode, _ := strings.Cut(item, ":")
		switch mode {
		case "", "single":
			out = append(out, customer.Source{Name: strings.ToUpper(name)})
		case "multi":
			out = append(out, customer.Source{Name: strings.ToUpper(name), MultiAccount: true})
		default:
			return nil, fmt.Errorf("source %q: mode must be single or multi", item)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no sources")
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
	return processor.DefaultTopology(k.topicPrefix, k.group, sources), sources, nil
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
