// Package peerauth owns the internal assertion one custream member sends
// with a query it forwards to the member owning the query's task. The
// forwarding member has authenticated the client; the owner must not
// believe a client's key it never sees, nor anything a group member merely
// claims, so it accepts a forwarded query only with an assertion signed by
// the cluster secret, fresh, never seen before, addressed to it and bound
// to the exact request.
//
// Header format (this file is its one owner):
//
//	X-Custream-Assertion: v1.<org>.<unix-ms>.<nonce>.<mac>
//
// org is the client's org in decimal, unix-ms the signing time, nonce 16
// random bytes in lower-case hex, and mac the unpadded base64url
// HMAC-SHA256, under the cluster secret, of
//
//	"custream-peer-v1" 0 org 0 unix-ms 0 nonce 0 audience 0 method 0 route
//
// (0 a NUL byte), where audience is the owner's host:port as the sender
// dialled it, method the HTTP method and route the request URI (path and
// query). Binding the audience means an assertion a rogue peer received
// cannot be replayed to a real owner; binding the route means it cannot be
// reused for another customer or query.
//
// The owner accepts a timestamp within Window of its clock either way
// (members' clocks are NTP-synchronised; 30 s is generous) and remembers
// each nonce until its timestamp leaves the window, so a replay inside the
// window is refused too. That memory is bounded (MaxNonces); when it is
// full of live nonces the owner refuses, rather than forget one early.
package peerauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/custream/custream/linefile"
)

// Header carries the assertion.
const Header = "X-Custream-Assertion"

const (
	version = "v1"
	domain  = "custream-peer-v1"
	// MinSecretBytes is the shortest cluster secret accepted: HMAC-SHA256
	// gains nothing from more than 32 bytes and loses from fewer.
	MinSecretBytes = 32
	// DefaultWindow is how far a timestamp may be from the owner's clock.
	DefaultWindow = 30 * time.Second
	// DefaultMaxNonces bounds the replay memory: about 8,700 forwarded
	// queries per second per owner sustained over a 30 s window, some
	// 20 MiB at most.
	DefaultMaxNonces = 1 << 18
)

// Errors of Verify. They say what was wrong for tests and metrics; the
// HTTP answer to all of them is the same 401.
var (
	ErrMissing   = errors.New("no assertion")
	ErrMalformed = errors.New("malformed assertion")
	ErrBadMAC    = errors.New("assertion signature does not verify")
	ErrExpired   = errors.New("assertion outside the replay window")
	ErrReplayed  = errors.New("assertion already used")
	ErrBusy      = errors.New("too many recent assertions to remember another")
)

// Claim is what an assertion binds: who the client is and exactly which
// request to which member it authorises.
type Claim struct {
	Org      int64
	Audience string // owner's host:port
	Method   string
	Route    string // request URI: path and query
}

// Options tune an Auth; zero values take the defaults.
type Options struct {
	Window    time.Duration
	MaxNonces int
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Auth signs and verifies assertions with the cluster secrets: the first
// signs, any verifies, so a secret can be rotated member by member (add
// the new one second, then first, then drop the old one).
type Auth struct {
	secrets [][]byte
	window  time.Duration
	now     func() time.Time

	mu    sync.Mutex
	max   int
	seen  map[string]time.Time // nonce → when it leaves the window
	order []nonceEntry         // FIFO of seen, oldest first
	head  int
}

type nonceEntry struct {
	nonce   string
	expires time.Time
}

// New builds an Auth from one or more secrets.
func New(secrets [][]byte, opts Options) (*Auth, error) {
	if len(secrets) == 0 {
		return nil, errors.New("peerauth: no cluster secret")
	}
	for i, s := range secrets {
		if len(s) < MinSecretBytes {
			return nil, fmt.Errorf("peerauth: cluster secret %d is %d bytes, want at least %d", i+1, len(s), MinSecretBytes)
		}
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.MaxNonces <= 0 {
		opts.MaxNonces = DefaultMaxNonces
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Auth{secrets: secrets, window: opts.Window, now: opts.Now, max: opts.MaxNonces, seen: map[string]time.Time{}}, nil
}

// ReadSecrets reads a cluster secret file: one secret per non-empty line
// (surrounding blanks trimmed), # comments. The first line signs.
func ReadSecrets(r io.Reader) ([][]byte, error) {
	var out [][]byte
	if err := linefile.Each(r, "the cluster secret", func(_ int, text string) error {
		out = append(out, []byte(text))
		return nil
	}); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("the cluster secret file holds no secret")
	}
	return out, nil
}

// Sign returns the header value asserting c, signed now.
func (a *Auth) Sign(c Claim) (string, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("peerauth: nonce: %w", err)
	}
	org := strconv.FormatInt(c.Org, 10)
	ts := strconv.FormatInt(a.now().UnixMilli(), 10)
	nonce := hex.EncodeToString(raw[:])
	mac := base64.RawURLEncoding.EncodeToString(sum(a.secrets[0], org, ts, nonce, c))
	return strings.Join([]string{version, org, ts, nonce, mac}, "."), nil
}

// Verify checks header against the request it came with (c without Org)
// and returns the asserted org. A valid assertion is consumed: the same
// one is refused afterwards.
func (a *Auth) Verify(header string, c Claim) (int64, error) {
	if header == "" {
		return 0, ErrMissing
	}
	parts := strings.Split(header, ".")
	if len(parts) != 5 || parts[0] != version {
		return 0, ErrMalformed
	}
	orgS, tsS, nonce, macS := parts[1], parts[2], parts[3], parts[4]
	org, err1 := strconv.ParseInt(orgS, 10, 64)
	ts, err2 := strconv.ParseInt(tsS, 10, 64)
	mac, err3 := base64.RawURLEncoding.DecodeString(macS)
	if err1 != nil || err2 != nil || err3 != nil || len(nonce) != 32 || !isHex(nonce) {
		return 0, ErrMalformed
	}
	ok := false
	for _, s := range a.secrets {
		// Every secret is tried, so timing does not tell which matched.
		if hmac.Equal(mac, sum(s, orgS, tsS, nonce, c)) {
			ok = true
		}
	}
	if !ok {
		return 0, ErrBadMAC
	}
	// Only an authentic assertion reaches the clock and the nonce memory:
	// forgeries cannot fill it.
	now := a.now()
	signed := time.UnixMilli(ts)
	if d := now.Sub(signed); d > a.window || d < -a.window {
		return 0, ErrExpired
	}
	if err := a.remember(nonce, signed.Add(a.window), now); err != nil {
		return 0, err
	}
	return org, nil
}

// remember records nonce until expires, or says it was seen.
func (a *Auth) remember(nonce string, expires, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Forget what left the window. The FIFO is in arrival order, which is
	// nearly expiry order; an entry is never dropped before it expires.
	for a.head < len(a.order) && !a.order[a.head].expires.After(now) {
		delete(a.seen, a.order[a.head].nonce)
		a.order[a.head] = nonceEntry{}
		a.head++
	}
	if a.head > len(a.order)/2 {
		a.order = append(a.order[:0], a.order[a.head:]...)
		a.head = 0
	}
	if exp, ok := a.seen[nonce]; ok && exp.After(now) {
		return ErrReplayed
	}
	if len(a.seen) >= a.max {
		return ErrBusy
	}
	a.seen[nonce] = expires
	a.order = append(a.order, nonceEntry{nonce, expires})
	return nil
}

func sum(secret []byte, org, ts, nonce string, c Claim) []byte {
	m := hmac.New(sha256.New, secret)
	for _, s := range []string{domain, org, ts, nonce, c.Audience, c.Method, c.Route} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}
