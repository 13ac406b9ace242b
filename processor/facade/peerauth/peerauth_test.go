package peerauth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	other  = []byte("fedcba9876543210fedcba9876543210")
)

// clock is a settable clock for the window tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newAuth(t *testing.T, c *clock, max int, secrets ...[]byte) *Auth {
	t.Helper()
	a, err := New(secrets, Options{Now: c.now, MaxNonces: max})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var claim = Claim{Org: 100, Audience: "10.0.0.7:8080", Method: "GET", Route: "/v2/customers/42?source=ALL"}

func TestSignVerify(t *testing.T) {
	c := &clock{time.UnixMilli(1_700_000_000_000)}
	a := newAuth(t, c, 0, secret)
	h, err := a.Sign(claim)
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(DefaultWindow - time.Millisecond)
	check := claim
	check.Org = 0 // the org comes from the assertion, not the caller
	org, err := a.Verify(h, check)
	if err != nil || org != 100 {
		t.Fatalf("Verify = %d, %v; want 100", org, err)
	}
	// The same header again, still inside the window: a replay.
	if _, err := a.Verify(h, check); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: %v, want ErrReplayed", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	c := &clock{time.UnixMilli(1_700_000_000_000)}
	a := newAuth(t, c, 0, secret)
	sign := func() string {
		h, err := a.Sign(claim)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	wrong := newAuth(t, c, 0, other)
	forged, _ := wrong.Sign(claim)
	h := sign()
	p := strings.Split(h, ".")
	for _, tc := range []struct {
		name   string
		header string
		claim  Claim
		want   error
	}{
		{"missing", "", claim, ErrMissing},
		{"garbage", "Bearer abc", claim, ErrMalformed},
		{"other version", "v2." + strings.Join(p[1:], "."), claim, ErrMalformed},
		{"short nonce", strings.Join([]string{p[0], p[1], p[2], p[3][:30], p[4]}, "."), claim, ErrMalformed},
		{"wrong secret", forged, claim, ErrBadMAC},
		{"other org", strings.Join([]string{p[0], "200", p[2], p[3], p[4]}, "."), claim, ErrBadMAC},
		{"moved timestamp", strings.Join([]string{p[0], p[1], "1700000001000", p[3], p[4]}, "."), claim, ErrBadMAC},
		{"tampered route", h, Claim{Audience: claim.Audience, Method: "GET", Route: "/v2/customers/43?source=ALL"}, ErrBadMAC},
		{"tampered query", h, Claim{Audience: claim.Audience, Method: "GET", Route: "/v2/customers/42"}, ErrBadMAC},
		{"other method", h, Claim{Audience: claim.Audience, Method: "HEAD", Route: claim.Route}, ErrBadMAC},
		{"other audience", h, Claim{Audience: "10.0.0.8:8080", Method: "GET", Route: claim.Route}, ErrBadMAC},
	} {
		if _, err := a.Verify(tc.header, tc.claim); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Refusals consumed nothing: the genuine header still verifies once.
	if _, err := a.Verify(h, claim); err != nil {
		t.Fatalf("genuine header after the refusals: %v", err)
	}

	// Outside the window, late or early.
	late := sign()
	c.t = c.t.Add(DefaultWindow + time.Millisecond)
	if _, err := a.Verify(late, claim); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	early := sign()
	c.t = c.t.Add(-2*DefaultWindow - 2*time.Millisecond)
	if _, err := a.Verify(early, claim); !errors.Is(err, ErrExpired) {
		t.Errorf("from the future: %v", err)
	}
}

// TestRotation: any listed secret verifies, the first signs.
func TestRotation(t *testing.T) {
	c := &clock{time.UnixMilli(1_700_000_000_000)}
	old := newAuth(t, c, 0, other)
	both := newAuth(t, c, 0, secret, other)
	h, _ := old.Sign(claim)
	if _, err := both.Verify(h, claim); err != nil {
		t.Fatalf("old secret during rotation: %v", err)
	}
	h, _ = both.Sign(claim)
	if _, err := newAuth(t, c, 0, secret).Verify(h, claim); err != nil {
		t.Fatalf("the first secret signs: %v", err)
	}
}

// TestNonceMemory: nonces are forgotten only once their window is over,
// and a full memory refuses instead of forgetting early.
func TestNonceMemory(t *testing.T) {
	c := &clock{time.UnixMilli(1_700_000_000_000)}
	a := newAuth(t, c, 3, secret)
	var hs []string
	for range 4 {
		h, _ := a.Sign(claim)
		hs = append(hs, h)
	}
	for _, h := range hs[:3] {
		if _, err := a.Verify(h, claim); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Verify(hs[3], claim); !errors.Is(err, ErrBusy) {
		t.Fatalf("fourth live nonce with room for 3: %v, want ErrBusy", err)
	}
	// Once the first three left the window there is room again; a fresh
	// assertion is accepted and an old one is refused as expired.
	c.t = c.t.Add(DefaultWindow + time.Second)
	h, _ := a.Sign(claim)
	if _, err := a.Verify(h, claim); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if _, err := a.Verify(hs[0], claim); !errors.Is(err, ErrExpired) {
		t.Fatalf("old header: %v", err)
	}
	if n := len(a.seen); n != 1 {
		t.Errorf("%d nonces remembered, want 1", n)
	}
}

func TestSecrets(t *testing.T) {
	got, err := ReadSecrets(strings.NewReader("# rotation: new first\n  " + string(secret) + "  \n\n" + string(other) + "\n"))
	if err != nil || len(got) != 2 || string(got[0]) != string(secret) {
		t.Fatalf("ReadSecrets = %q, %v", got, err)
	}
	if _, err := ReadSecrets(strings.NewReader("# nothing\n\n")); err == nil {
		t.Error("an empty secret file was accepted")
	}
	if _, err := New([][]byte{[]byte("short")}, Options{}); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("no secret was accepted")
	}
}
