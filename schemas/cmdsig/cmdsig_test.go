package cmdsig

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/custream/custream/schemas"
)

var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 32)
)

func sample() Record {
	return Record{
		Topic: "customers.instore",
		Key:   []byte("42"),
		Headers: []schemas.Header{
			{Key: "requestId", Value: []byte("r-1")},
			{Key: "traceparent", Value: []byte("00-abc")},
			{Key: "op", Value: []byte("update")},
			{Key: "customerId", Value: []byte("14")},
		},
		Value:     []byte(`{"profiles":[]}`),
		Timestamp: 1714557600000,
	}
}

// TestCanonical pins the canonical form byte for byte: docs/wire.md and
// every integration's signer depend on it.
func TestCanonical(t *testing.T) {
	want := `19:custream-command-v1,17:customers.instore,2:42,13:1714557600000,1:3,` +
		`10:customerid,2:14,2:op,6:update,9:requestid,3:r-1,15:{"profiles":[]},`
	if got := string(Canonical(sample())); got != want {
		t.Fatalf("canonical form\n got %s\nwant %s", got, want)
	}
}

// TestCanonicalIgnores: header order and case, unsigned headers, the
// signature and the repartition hop's origin headers leave the form as it
// was.
func TestCanonicalIgnores(t *testing.T) {
	base := Canonical(sample())
	r := sample()
	r.Headers = []schemas.Header{
		{Key: "CUSTOMERID", Value: []byte("14")},
		{Key: "origin.topic", Value: []byte("customers.instore")},
		{Key: "origin.partition", Value: []byte("3")},
		{Key: "origin.offset", Value: []byte("99")},
		{Key: "Op", Value: []byte("update")},
		{Key: "signature", Value: []byte("v1=k:AAAA")},
		{Key: "RequestId", Value: []byte("r-1")},
	}
	if got := Canonical(r); !bytes.Equal(got, base) {
		t.Fatalf("reordered and extra headers changed the form:\n%s\n%s", got, base)
	}
}

// TestVerify: a signature by either current key verifies; any change to
// what it covers, an unknown key, or a malformed header does not.
func TestVerify(t *testing.T) {
	keys, err := ParseKeys(strings.NewReader("# org 42 rotates from k1 to k2\n42 k1 " + b64(key1) + "\n\n42 k2 " + b64(key2) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	signed := func(r Record, id string, key []byte) Record {
		r.Headers = append(append([]schemas.Header(nil), r.Headers...), schemas.Header{Key: Header, Value: []byte(Sign(r, id, key))})
		return r
	}
	for _, id := range []string{"k1", "k2"} {
		key := map[string][]byte{"k1": key1, "k2": key2}[id]
		if err := keys.Verify(42, signed(sample(), id, key)); err != nil {
			t.Errorf("signed with %s: %v", id, err)
		}
	}
	changes := map[string]func(*Record){
		"topic":        func(r *Record) { r.Topic = "customers.wechat" },
		"key":          func(r *Record) { r.Key = []byte("43") },
		"value":        func(r *Record) { r.Value = []byte(`{"profiles":[{}]}`) },
		"timestamp":    func(r *Record) { r.Timestamp++ },
		"header value": func(r *Record) { r.Headers[3].Value = []byte("15") },
		"added header": func(r *Record) { r.Headers = append(r.Headers, schemas.Header{Key: "accountId", Value: []byte("1")}) },
		"repeated":     func(r *Record) { r.Headers = append(r.Headers, schemas.Header{Key: "op", Value: []byte("update")}) },
		"removed":      func(r *Record) { r.Headers = r.Headers[1:] },
		"org header":   func(r *Record) { r.Headers = append(r.Headers, schemas.Header{Key: "ORG", Value: []byte("43")}) },
		"folded header": func(r *Record) {
			r.Headers = append(r.Headers, schemas.Header{Key: "requeſtId", Value: []byte("other")})
		},
	}
	for name, change := range changes {
		r := signed(sample(), "k1", key1)
		change(&r)
		if err := keys.Verify(42, r); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s changed after signing: %v, want ErrMismatch", name, err)
		}
	}
	if err := keys.Verify(43, signed(sample(), "k1", key1)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("another org's key: %v, want ErrUnknownKey", err)
	}
	if err := keys.Verify(42, signed(sample(), "k0", key1)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a removed key: %v, want ErrUnknownKey", err)
	}
	if err := keys.Verify(42, signed(sample(), "k2", key1)); !errors.Is(err, ErrMismatch) {
		t.Errorf("k1's MAC named k2: %v, want ErrMismatch", err)
	}
	if err := keys.Verify(42, sample()); !errors.Is(err, ErrMissing) {
		t.Errorf("unsigned: %v, want ErrMissing", err)
	}
	twice := signed(signed(sample(), "k1", key1), "k1", key1)
	if err := keys.Verify(42, twice); !errors.Is(err, ErrMalformed) {
		t.Errorf("two signature headers: %v, want ErrMalformed", err)
	}
	good := Sign(sample(), "k1", key1)
	for _, v := range []string{"", "k1:" + good[6:], "v2=k1:" + good[6:], "v1=k1", "v1=:" + good[6:], "v1=k 1:" + good[6:],
		"v1=k1:!!!!", "v1=k1:" + base64.StdEncoding.EncodeToString([]byte("short"))} {
		r := sample()
		r.Headers = append(r.Headers, schemas.Header{Key: "Signature", Value: []byte(v)})
		if err := keys.Verify(42, r); !errors.Is(err, ErrMalformed) {
			t.Errorf("header %q: %v, want ErrMalformed", v, err)
		}
	}
	var none *Keys
	if err := none.Verify(42, signed(sample(), "k1", key1)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("no keys at all: %v, want ErrUnknownKey", err)
	}
}

// TestVerifyNamesNoSecret: refusals say which key, never a key or a MAC.
func TestVerifyNamesNoSecret(t *testing.T) {
	keys, _ := ParseKeys(strings.NewReader("42 k1 " + b64(key1)))
	r := sample()
	r.Headers = append(r.Headers, schemas.Header{Key: Header, Value: []byte(Sign(sample(), "k1", key2))})
	err := keys.Verify(42, r)
	want := base64.StdEncoding.EncodeToString(mac(key1, sample()))
	if err == nil || strings.Contains(err.Error(), want) || strings.Contains(err.Error(), b64(key1)) {
		t.Fatalf("error %v: want a refusal naming no secret", err)
	}
}

func TestParseKeysRefuses(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"42 k1", "want ORG KEYID BASE64KEY"},
		{"042 k1 " + b64(key1), "not a positive decimal"},
		{"-1 k1 " + b64(key1), "not a positive decimal"},
		{"42 k:1 " + b64(key1), "key id"},
		{"42 k1 not*base64", "not standard base64"},
		{"42 k1 " + b64(key1[:16]), "is 16 bytes, want at least 32"},
		{"42 k1 " + b64(key1) + "\n42 k1 " + b64(key2), "key id k1 twice"},
		{"42 a " + b64(key1) + "\n42 b " + b64(key2) + "\n42 c " + b64(key2), "more than 2 keys"},
	} {
		_, err := ParseKeys(strings.NewReader(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.file, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), b64(key1)) || strings.Contains(err.Error(), b64(key2))) {
			t.Errorf("%q: the error quotes a key: %v", tc.file, err)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// FuzzVerify: no header value or record makes Verify panic or accept a
// signature it did not make.
func FuzzVerify(f *testing.F) {
	f.Add("v1=k1:"+Sign(sample(), "k1", key1)[6:], []byte("42"), []byte("{}"))
	f.Add("v1=k1:", []byte{}, []byte{0xff})
	keys, _ := ParseKeys(strings.NewReader("42 k1 " + b64(key1)))
	f.Fuzz(func(t *testing.T, sig string, key, value []byte) {
		r := Record{Topic: "t", Key: key, Value: value, Headers: []schemas.Header{{Key: Header, Value: []byte(sig)}}}
		err := keys.Verify(42, r)
		if err == nil && sig != Sign(Record{Topic: "t", Key: key, Value: value}, "k1", key1) {
			t.Fatalf("accepted %q, not the signature of the record", sig)
		}
	})
}
