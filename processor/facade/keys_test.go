package facade

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	var k Keys
	if _, ok := k.Org("anything"); ok {
		t.Fatal("empty Keys let a key in")
	}
	if err := k.ParseKeyList("CUSTREAM_API_KEYS", "alpha=100, beta = 200 ,,alpha=100"); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("epsilon"))
	file := "# comment\n\ngamma 300\n  delta\t400  \nsha256:" + hex.EncodeToString(sum[:]) + " 500\n"
	if err := k.ReadKeysFile("keys.txt", strings.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	for key, org := range map[string]int64{"alpha": 100, "beta": 200, "gamma": 300, "delta": 400, "epsilon": 500} {
		if got, ok := k.Org(key); !ok || got != org {
			t.Errorf("Org(%q) = %d, %v; want %d", key, got, ok, org)
		}
	}
	// The digest itself is not a key: whoever reads the file cannot use it.
	for _, key := range []string{"", "alph", "alpha ", "ALPHA", "gamma 300", "sha256:" + hex.EncodeToString(sum[:])} {
		if _, ok := k.Org(key); ok {
			t.Errorf("Org(%q) accepted", key)
		}
	}
	if k.Len() != 5 {
		t.Errorf("Len %d", k.Len())
	}
	if s := fmt.Sprintf("%v %+v", k, &k); strings.Contains(s, "alpha") {
		t.Errorf("formatting Keys shows a key: %s", s)
	}
	_, id, ok := k.Match("epsilon")
	if !ok || id != hex.EncodeToString(sum[:4]) {
		t.Errorf("key id %q, want the digest's first 4 bytes", id)
	}
}

func TestKeysBad(t *testing.T) {
	for _, v := range []string{"nokey", "=100", "k=", "k=abc", "k=0", "k=-1", "a b=1", "sha256:abcd=1", "sha256:" + strings.Repeat("zz", 32) + "=1"} {
		var k Keys
		if err := k.ParseKeyList("env", v); err == nil {
			t.Errorf("key list %q accepted", v)
		}
	}
	var k Keys
	_ = k.ParseKeyList("env", "secret=1")
	err := k.ParseKeyList("env", "secret=2")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("one key for two orgs: %v (must fail without naming the key)", err)
	}
	// A key and its digest are the same key.
	sum := sha256.Sum256([]byte("secret"))
	if err := k.AddDigest("sha256:"+hex.EncodeToString(sum[:]), 3); err == nil {
		t.Error("a digest of a key given for org 1 accepted for org 3")
	}
	for _, file := range []string{"k 1 extra", "k", "k org", "sha256:00 1"} {
		var k Keys
		if err := k.ReadKeysFile("f", strings.NewReader(file)); err == nil || !strings.HasPrefix(err.Error(), "f:1:") {
			t.Errorf("file %q: %v", file, err)
		}
	}
}
