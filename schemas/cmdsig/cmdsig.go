// Package cmdsig signs and verifies input commands: the optional
// `signature` header by which a producer proves it acts for the org of a
// command (DESIGN.md, "Trust"; docs/wire.md, "Signed commands"). It owns
// the canonical byte string a signature covers, in this one place, and
// knows no Kafka client: callers pass the record's parts.
//
// # The canonical form
//
// A signature is HMAC-SHA256, under one of the org's keys, of
//
//	field("custream-command-v1")
//	field(topic)          the input topic the producer writes, e.g. customers.instore
//	field(key)            the record key's bytes as sent ("42", 8 bytes, or empty)
//	field(timestamp)      the record timestamp, decimal Unix milliseconds
//	field(n)              decimal count of the signed headers that follow
//	field(name) field(value)   for each signed header, in order
//	field(value)          the record value's bytes
//
// where field(b) is the netstring of b: its length in decimal ASCII, ":",
// the bytes, ",". The signed headers are every header the decoder reads
// (schemas.HeaderAccountID, HeaderCustomerID, HeaderOp, HeaderOrg,
// HeaderRequestID), matched as the decoder matches them (case-insensitive),
// each written with its lower-case name (accountid, customerid, op, org,
// requestid) and its value as sent, sorted by name then value; a header
// sent twice is signed twice. Other headers (tracing, …) change nothing
// custream does and are not signed, so intermediaries may add them; the
// signature header itself and the repartition hop's origin.* headers are
// therefore outside the form too.
//
// The header value is "v1=<key id>:<base64 of the 32-byte MAC>" (standard
// base64 with padding).
package cmdsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/custream/custream/linefile"
	"github.com/custream/custream/schemas"
)

// Header is the name of the header that carries a command's signature.
const Header = "signature"

// domain separates custream command signatures from any other use of the
// same key.
const domain = "custream-command-v1"

// version prefixes the header value; a new canonical form gets a new one.
const version = "v1"

// MinKeyBytes is the shortest key accepted: the hash's output length, the
// least RFC 2104 recommends, so a key is never the weak link.
const MinKeyBytes = 32

// MaxKeysPerOrg is how many keys an org may have at once: the one its
// producers sign with and, during a rotation, the next (or the last).
const MaxKeysPerOrg = 2

// signedHeaders are the headers the decoder reads, lower case, sorted.
var signedHeaders = []string{
	strings.ToLower(schemas.HeaderAccountID),
	strings.ToLower(schemas.HeaderCustomerID),
	strings.ToLower(schemas.HeaderOp),
	strings.ToLower(schemas.HeaderOrg),
	strings.ToLower(schemas.HeaderRequestID),
}

// Record is what a signature covers of one Kafka record.
type Record struct {
	Topic     string // the input topic its producer wrote (not the repartition hop's)
	Key       []byte
	Headers   []schemas.Header
	Value     []byte
	Timestamp int64 // Unix milliseconds, as Kafka carries it
}

// Canonical is the byte string a signature of r covers (see the package
// documentation).
func Canonical(r Record) []byte {
	type kv struct {
		name  string
		value []byte
	}
	var hs []kv
	for _, h := range r.Headers {
		for _, name := range signedHeaders {
			if strings.EqualFold(h.Key, name) {
				hs = append(hs, kv{name, h.Value})
				break
			}
		}
	}
	slices.SortStableFunc(hs, func(a, b kv) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(string(a.value), string(b.value))
	})
	n := len(domain) + len(r.Topic) + len(r.Key) + len(r.Value) + 64
	for _, h := range hs {
		n += len(h.name) + len(h.value) + 16
	}
	b := make([]byte, 0, n)
	b = field(b, []byte(domain))
	b = field(b, []byte(r.Topic))
	b = field(b, r.Key)
	b = field(b, strconv.AppendInt(nil, r.Timestamp, 10))
	b = field(b, strconv.AppendInt(nil, int64(len(hs)), 10))
	for _, h := range hs {
		b = field(b, []byte(h.name))
		b = field(b, h.value)
	}
	return field(b, r.Value)
}

// field appends the netstring of v.
func field(b, v []byte) []byte {
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, ':')
	b = append(b, v...)
	return append(b, ',')
}

func mac(key []byte, r Record) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(Canonical(r))
	return m.Sum(nil)
}

// Sign returns the signature header value of r under key, named keyID.
func Sign(r Record, keyID string, key []byte) string {
	return version + "=" + keyID + ":" + base64.StdEncoding.EncodeToString(mac(key, r))
}

// Key is one signing key of an org.
type Key struct {
	ID     string
	Secret []byte
}

// Keys are the signing keys of every org that has any.
type Keys struct {
	byOrg map[int64][]Key
}

// Has reports whether org has at least one key.
func (k *Keys) Has(org int64) bool {
	return k != nil && len(k.byOrg[org]) > 0
}

// Orgs is how many orgs have keys.
func (k *Keys) Orgs() int {
	if k == nil {
		return 0
	}
	return len(k.byOrg)
}

// The reasons Verify refuses a record; each is wrapped with detail that
// names no secret.
var (
	ErrMissing    = errors.New("no signature header")
	ErrMalformed  = errors.New("malformed signature header")
	ErrUnknownKey = errors.New("the signature names no current key of the org")
	ErrMismatch   = errors.New("the signature does not match")
)

// Present reports whether hs carry a signature header.
func Present(hs []schemas.Header) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Key, Header) {
			return true
		}
	}
	return false
}

// Verify checks r's signature header against org's keys. The error is nil
// only for a signature by a current key of org over exactly r.
func (k *Keys) Verify(org int64, r Record) error {
	var val []byte
	n := 0
	for _, h := range r.Headers {
		if strings.EqualFold(h.Key, Header) {
			val = h.Value
			n++
		}
	}
	switch {
	case n == 0:
		return ErrMissing
	case n > 1:
		return fmt.Errorf("%w: %d signature headers, want one", ErrMalformed, n)
	}
	keyID, sum, err := parseHeader(string(val))
	if err != nil {
		return err
	}
	var secret []byte
	if k != nil {
		for _, key := range k.byOrg[org] {
			if key.ID == keyID {
				secret = key.Secret
			}
		}
	}
	if secret == nil {
		return fmt.Errorf("%w: org %d has no key %q (rotated out, or never configured in --command-keys-file)", ErrUnknownKey, org, keyID)
	}
	if !hmac.Equal(sum, mac(secret, r)) {
		return fmt.Errorf("%w: key %q of org %d did not sign this topic, key, command headers, value and timestamp (docs/wire.md, \"Signed commands\")", ErrMismatch, keyID, org)
	}
	return nil
}

// parseHeader reads "v1=<key id>:<base64 MAC>".
func parseHeader(v string) (keyID string, sum []byte, err error) {
	rest, ok := strings.CutPrefix(v, version+"=")
	if !ok {
		return "", nil, fmt.Errorf("%w: want %s=<key id>:<base64 HMAC-SHA256>", ErrMalformed, version)
	}
	keyID, b64, ok := strings.Cut(rest, ":")
	if !ok || !validKeyID(keyID) {
		return "", nil, fmt.Errorf("%w: want %s=<key id>:<base64 HMAC-SHA256>, key id of letters, digits, '.', '_' or '-'", ErrMalformed, version)
	}
	sum, err = base64.StdEncoding.DecodeString(b64)
	if err != nil || len(sum) != sha256.Size {
		return "", nil, fmt.Errorf("%w: the MAC is not %d bytes of standard base64", ErrMalformed, sha256.Size)
	}
	return keyID, sum, nil
}

// validKeyID: 1 to 64 of [A-Za-z0-9._-], so an id never holds the ':' or
// spaces the header and the keys file use as separators.
func validKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// ParseKeys reads a keys file: one key a line, "ORG KEYID BASE64KEY"
// (standard base64 of at least MinKeyBytes bytes), at most MaxKeysPerOrg
// per org, key ids unique within an org; blank lines and lines starting
// with # are skipped. Errors name the line, never a key.
func ParseKeys(r io.Reader) (*Keys, error) {
	k := &Keys{byOrg: map[int64][]Key{}}
	err := linefile.Each(r, "the command keys", func(line int, text string) error {
		f := strings.Fields(text)
		if len(f) != 3 {
			return fmt.Errorf("line %d: want ORG KEYID BASE64KEY", line)
		}
		org, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || org <= 0 || strconv.FormatInt(org, 10) != f[0] {
			return fmt.Errorf("line %d: org %q is not a positive decimal integer", line, f[0])
		}
		if !validKeyID(f[1]) {
			return fmt.Errorf("line %d: key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", line, f[1])
		}
		secret, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil {
			return fmt.Errorf("line %d: the key of org %d, id %s, is not standard base64", line, org, f[1])
		}
		if len(secret) < MinKeyBytes {
			return fmt.Errorf("line %d: the key of org %d, id %s, is %d bytes, want at least %d (head -c 32 /dev/urandom | base64)", line, org, f[1], len(secret), MinKeyBytes)
		}
		for _, have := range k.byOrg[org] {
			if have.ID == f[1] {
				return fmt.Errorf("line %d: org %d has key id %s twice", line, org, f[1])
			}
		}
		if len(k.byOrg[org]) == MaxKeysPerOrg {
			return fmt.Errorf("line %d: org %d has more than %d keys; a rotation needs only the current and the next (remove the retired one)", line, org, MaxKeysPerOrg)
		}
		k.byOrg[org] = append(k.byOrg[org], Key{ID: f[1], Secret: secret})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// LoadKeys reads the keys file at path (ParseKeys).
func LoadKeys(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the command keys file: %w", err)
	}
	defer f.Close()
	k, err := ParseKeys(f)
	if err != nil {
		return nil, fmt.Errorf("command keys file %s: %w", path, err)
	}
	return k, nil
}
