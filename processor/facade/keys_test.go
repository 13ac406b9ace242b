package facade

import (
	"fmt"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	var k Keys
	if _, ok := k.Org("anything"); ok {
		t.Fatal("empty Keys let a key in")
	}
	for _, v := range []string{"alpha=100", " beta = 200 ", "alpha=100"} {
		if err := k.ParseKeyFlag(v); err != nil {
			t.Fatalf("%q: %v", v, err)
		}
	}
	file := "# comment\n\ngamma 300\n  delta\t400  \n"
	if err := k.ReadKeysFile("keys.txt", strings.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	for key, org := range map[string]int64{"alpha": 100, "beta": 200, "gamma": 300, "delta": 400} {
		if got, ok := k.Org(key); !ok || got != org {
			t.Errorf("Org(%q) = %d, %v; want %d", key, got, ok, org)
		}
	}
	for _, key := range []string{"", "alph", "alpha ", "ALPHA", "gamma 300"} {
		if _, ok := k.Org(key); ok {
			t.Errorf("Org(%q) accepted", key)
		}
	}
	if k.Len() != 4 {
		t.Errorf("Len %d", k.Len())
	}
	if s := fmt.Sprintf("%v %+v", k, &k); strings.Contains(s, "alpha") {
		t.Errorf("formatting Keys shows a key: %s", s)
	}
}

func TestKeysBad(t *testing.T) {
	for _, v := range []string{"nokey", "=100", "k=", "k=abc", "k=0", "k=-1", "a b=1"} {
		var k Keys
		if err := k.ParseKeyFlag(v); err == nil {
			t.Errorf("--api-key %q accepted", v)
		}
	}
	var k Keys
	_ = k.ParseKeyFlag("secret=1")
	err := k.ParseKeyFlag("secret=2")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("one key for two orgs: %v (must fail without naming the key)", err)
	}
	for _, file := range []string{"k 1 extra", "k", "k org"} {
		var k Keys
		if err := k.ReadKeysFile("f", strings.NewReader(file)); err == nil || !strings.HasPrefix(err.Error(), "f:1:") {
			t.Errorf("file %q: %v", file, err)
		}
	}
}
