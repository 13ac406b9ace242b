package facade

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/custream/custream/processor/customer"
	"github.com/custream/custream/processor/facade/peerauth"
)

// Peers configures forwarding between members. Nothing a member reads
// from the consumer group is believed on its own: the owner map comes
// from join metadata any group member can write. So a member forwards
// only to an allowed address, over TLS when it serves TLS, without the
// client's credentials, and with a signed assertion the owner checks.
type Peers struct {
	// Auth signs the assertions this member sends and checks those it
	// receives (the cluster secret). Nil: forwarding is off; a query for
	// a task another member owns answers 503, and forwarded requests are
	// refused (401). A single-member deployment needs none.
	Auth *peerauth.Auth
	// Allow lists the owner addresses this member forwards to. Nil:
	// loopback only (DefaultPeerAllow).
	Allow *PeerAllow
	// Self is this member's advertised address. Assertions addressed to
	// another member are refused, so one a rogue peer received cannot be
	// replayed here. Required with Auth.
	Self string
	// TLSOnly forwards only over HTTPS: an owner advertising http:// is
	// refused, and a bare host:port is dialled with https. Set when the
	// facade serves TLS, unless the operator allowed plaintext peers.
	TLSOnly bool
}

// PeerAllow is the allow-list of owner addresses: host-name suffixes
// (".custream-headless.ns.svc"), exact host names ("localhost"), and IP
// prefixes ("10.0.0.0/8", "::1"). A name is matched as a name and an IP
// literal against the prefixes; names are not resolved here, so a name
// entry trusts the cluster's DNS for it.
type PeerAllow struct {
	suffixes []string
	names    []string
	prefixes []netip.Prefix
	text     string
}

// DefaultPeerAllowList is the allow-list when --peer-allow is not given:
// loopback only, so members on one machine find each other and nothing
// else is reached.
const DefaultPeerAllowList = "127.0.0.0/8,::1,localhost"

// DefaultPeerAllow is ParsePeerAllow(DefaultPeerAllowList).
func DefaultPeerAllow() *PeerAllow {
	a, err := ParsePeerAllow(DefaultPeerAllowList)
	if err != nil {
		panic(err) // a constant
	}
	return a
}

// ParsePeerAllow parses a comma-separated allow-list.
func ParsePeerAllow(list string) (*PeerAllow, error) {
	a := &PeerAllow{text: list}
	for _, e := range strings.Split(list, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
			continue
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("peer allow-list entry %q: %w", e, err)
			}
			a.prefixes = append(a.prefixes, p.Masked())
		default:
			if ip, err := netip.ParseAddr(e); err == nil {
				a.prefixes = append(a.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
				continue
			}
			name := strings.TrimSuffix(e, ".")
			if strings.Trim(name, ".") == "" || strings.ContainsAny(name, " :[]@") {
				return nil, fmt.Errorf("peer allow-list entry %q is neither a host name, a suffix starting with '.', nor an IP or CIDR", e)
			}
			if strings.HasPrefix(name, ".") {
				a.suffixes = append(a.suffixes, name)
			} else {
				a.names = append(a.names, name)
			}
		}
	}
	if len(a.suffixes)+len(a.names)+len(a.prefixes) == 0 {
		return nil, errors.New("empty peer allow-list")
	}
	return a, nil
}

// Allows reports whether host (a URL's Hostname: no port, no brackets)
// is on the list.
func (a *PeerAllow) Allows(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return false
		}
		ip = ip.Unmap()
		for _, p := range a.prefixes {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, n := range a.names {
		if name == n {
			return true
		}
	}
	for _, s := range a.suffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return true
		}
	}
	return false
}

func (a *PeerAllow) String() string { return a.text }

// forwardedRequest reports whether r claims to come from another member.
// Either header counts: an assertion without the marker is still a peer's.
func forwardedRequest(r *http.Request) bool {
	return r.Header.Get(ForwardedHeader) != "" || r.Header.Get(peerauth.Header) != ""
}

// peerOrg authenticates a forwarded request by its assertion and returns
// the asserted org; on failure it has answered 401.
func (f *Facade) peerOrg(w http.ResponseWriter, r *http.Request) (int64, bool) {
	var err error
	org := int64(0)
	if vals := r.Header.Values(peerauth.Header); len(vals) > 1 {
		err = peerauth.ErrMalformed
	} else if f.opts.Peers.Auth == nil {
		err = errors.New("this member has no cluster secret (--cluster-secret-file)")
	} else {
		org, err = f.opts.Peers.Auth.Verify(r.Header.Get(peerauth.Header), peerauth.Claim{
			Audience: f.self, Method: r.Method, Route: r.URL.RequestURI(),
		})
	}
	if err != nil {
		// No key, no org, no address: what failed and on which route.
		f.assertWarn.warn(f.log, "refused a forwarded request", "route", r.Pattern, "reason", err.Error())
		writeError(w, http.StatusUnauthorized, customer.NewIssue(CodeUnauthorized, "a forwarded request needs a valid member assertion"))
		return 0, false
	}
	return org, true
}

// forwardTo sends r, authenticated as org, to the owner at addr, or
// answers 503 when this member may not forward there.
func (f *Facade) forwardTo(w http.ResponseWriter, r *http.Request, task int32, addr string, org int64) {
	p := f.opts.Peers
	if p.Auth == nil {
		f.unavailable(w, fmt.Sprintf("task %d is served by another member and forwarding is off: configure --cluster-secret-file on every member", task))
		return
	}
	target, err := ownerURL(addr, p.TLSOnly)
	if err != nil {
		f.log.Error("bad owner address", "task", task, "addr", addr, "err", err)
		f.unavailable(w, fmt.Sprintf("task %d: its owner's address is unusable", task))
		return
	}
	switch {
	case !f.peerAllow.Allows(target.Hostname()):
		// The address is an operator's or an attacker's, never a
		// customer's: it is fit for the log.
		f.addrWarn.warn(f.log, "not forwarding to an owner address outside --peer-allow", "task", task, "addr", addr, "allow", f.peerAllow.String())
		f.unavailable(w, fmt.Sprintf("task %d: its owner's address is not on this member's --peer-allow list", task))
		return
	case target.Scheme != "https" && target.Scheme != "http",
		p.TLSOnly && target.Scheme != "https":
		f.addrWarn.warn(f.log, "not forwarding in cleartext from a TLS member (--peer-allow-plaintext allows it)", "task", task, "addr", addr)
		f.unavailable(w, fmt.Sprintf("task %d: its owner is not reachable over TLS", task))
		return
	}
	assertion, err := p.Auth.Sign(peerauth.Claim{Org: org, Audience: target.Host, Method: r.Method, Route: r.URL.RequestURI()})
	if err != nil {
		f.log.Error("signing a forward", "err", err)
		writeError(w, http.StatusInternalServerError, customer.NewIssue(CodeInternal, "internal error"))
		return
	}
	if f.forward != nil {
		f.forward.WithLabelValues(r.Pattern).Inc()
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, targetKey{}, forwardTarget{target, assertion})))
}

type targetKey struct{}

type forwardTarget struct {
	url       *url.URL
	assertion string
}

// rewriteForward sends the request to the owner with the same method,
// path and query, marked as forwarded and carrying the assertion, and
// without the client's credentials: the owner trusts the assertion alone.
func rewriteForward(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(targetKey{}).(forwardTarget)
	pr.Out.URL.Scheme = t.url.Scheme
	pr.Out.URL.Host = t.url.Host
	pr.Out.Host = t.url.Host
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie"} {
		pr.Out.Header.Del(h)
	}
	pr.Out.Header.Set(ForwardedHeader, "1")
	pr.Out.Header.Set(peerauth.Header, t.assertion)
	pr.SetXForwarded()
}

// ownerURL turns an advertised address ("host:port" or a URL) into the
// base URL to forward to; a bare host:port is https when tls is set.
func ownerURL(addr string, tls bool) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		if tls {
			addr = "https://" + addr
		} else {
			addr = "http://" + addr
		}
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("owner address %q: %w", addr, err)
	}
	if u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("owner address %q has no host, or has credentials", addr)
	}
	return u, nil
}

// limitedWarn logs at most one line per interval, counting the others, so
// a flood of refused requests cannot flood the log.
type limitedWarn struct {
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *limitedWarn) warn(log *slog.Logger, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	log.Warn(msg, append(args, "suppressed_since_last", n)...)
}

// PeerClient builds the client that forwards to other members: it
// verifies their certificates with the PEM bundle caFile (system roots
// when empty) and presents certFile/keyFile as its client certificate
// when they are given (for owners, meshes or ingresses that demand one).
func PeerClient(caFile, certFile, keyFile string, timeout time.Duration) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading --peer-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--peer-ca %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--peer-cert and --peer-key go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading --peer-cert/--peer-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Owners are reached by their advertised address, never through an
	// environment proxy that would see the assertion.
	tr.Proxy = nil
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}
