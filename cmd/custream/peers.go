package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/custream/custream/processor/facade"
	"github.com/custream/custream/processor/facade/peerauth"
)

// peerFlags configure how members forward queries to each other and
// accept each other's forwards (docs/operations.md, "Members and peers").
type peerFlags struct {
	secretFile     string
	allow          string
	ca             string
	cert           string
	key            string
	allowPlaintext bool
}

func (p *peerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.secretFile, "cluster-secret-file", "", "file holding the secret members sign forwarded queries with (HMAC-SHA256, one secret of 32+ bytes per line, the first signs); the same on every member. Without it a member forwards nothing: a query for another member's task answers 503")
	fs.StringVar(&p.allow, "peer-allow", facade.DefaultPeerAllowList, "comma-separated owner addresses this member forwards to: host-name suffixes (.custream-headless.NS.svc), host names, IPs or CIDRs; an owner advertising anything else gets no request")
	fs.StringVar(&p.ca, "peer-ca", "", "PEM bundle verifying the certificates of other members' facades (default: the system roots)")
	fs.StringVar(&p.cert, "peer-cert", "", "client certificate presented when forwarding to another member (with --peer-key)")
	fs.StringVar(&p.key, "peer-key", "", "private key of --peer-cert")
	fs.BoolVar(&p.allowPlaintext, "peer-allow-plaintext", false, "let a facade serving TLS forward to members advertising http:// (forwards then cross the network in cleartext)")
}

// options builds the facade's peer configuration and forwarding client.
// advertise is this member's advertised address; tlsServing whether the
// facade serves HTTPS.
func (p *peerFlags) options(advertise string, tlsServing bool, log *slog.Logger) (facade.Peers, *http.Client, error) {
	allow, err := facade.ParsePeerAllow(p.allow)
	if err != nil {
		return facade.Peers{}, nil, fmt.Errorf("--peer-allow: %w", err)
	}
	client, err := facade.PeerClient(p.ca, p.cert, p.key, 10*time.Second)
	if err != nil {
		return facade.Peers{}, nil, err
	}
	peers := facade.Peers{Allow: allow, Self: advertise, TLSOnly: tlsServing && !p.allowPlaintext}
	if p.secretFile == "" {
		log.Info("forwarding between members is off (no --cluster-secret-file): queries for another member's tasks answer 503")
		return peers, client, nil
	}
	file, err := os.Open(p.secretFile)
	if err != nil {
		return facade.Peers{}, nil, fmt.Errorf("reading --cluster-secret-file: %w", err)
	}
	defer file.Close()
	secrets, err := peerauth.ReadSecrets(file)
	if err != nil {
		return facade.Peers{}, nil, fmt.Errorf("--cluster-secret-file %s: %w", p.secretFile, err)
	}
	if peers.Auth, err = peerauth.New(secrets, peerauth.Options{}); err != nil {
		return facade.Peers{}, nil, fmt.Errorf("--cluster-secret-file %s: %w", p.secretFile, err)
	}
	return peers, client, nil
}
