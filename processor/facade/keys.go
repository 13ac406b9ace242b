package facade

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Keys maps API keys to the one org each may read. Only SHA-256 digests of
// the keys are kept, so a heap dump or a %v of Keys shows no key. Build it
// with Add, ParseKeyFlag or ReadKeysFile; the zero value holds no key (and
// so lets no request in).
type Keys struct {
	entries []keyEntry
}

type keyEntry struct {
	sum [sha256.Size]byte
	org int64
}

// Add registers key for org. Adding the same key twice for one org is a
// no-op; for two orgs it is an error, since a key must name one tenant.
func (k *Keys) Add(key string, org int64) error {
	if key == "" || strings.ContainsAny(key, " \t\r\n") {
		return errors.New("an API key must be non-empty and have no spaces")
	}
	if org <= 0 {
		return fmt.Errorf("org %d: want a positive org id", org)
	}
	sum := sha256.Sum256([]byte(key))
	for _, e := range k.entries {
		if e.sum == sum {
			if e.org == org {
				return nil
			}
			// The key itself is never put in an error: errors get logged.
			return fmt.Errorf("one API key is given for orgs %d and %d", e.org, org)
		}
	}
	k.entries = append(k.entries, keyEntry{sum: sum, org: org})
	return nil
}

// Len is the number of keys.
func (k *Keys) Len() int { return len(k.entries) }

// Org returns the org of key. It compares the key's digest with every
// registered digest in constant time and never stops early, so the time
// taken says nothing about which key, or which prefix, came close.
func (k *Keys) Org(key string) (int64, bool) {
	if k == nil || key == "" {
		return 0, false
	}
	sum := sha256.Sum256([]byte(key))
	var org int64
	found := 0
	for _, e := range k.entries {
		eq := subtle.ConstantTimeCompare(sum[:], e.sum[:])
		// Branch-free select: org takes e.org only where eq == 1.
		org |= int64(subtle.ConstantTimeSelect(eq, 1, 0)) * e.org
		found |= eq
	}
	return org, found == 1
}

// ParseKeyFlag adds one --api-key value, "KEY=ORG".
func (k *Keys) ParseKeyFlag(v string) error {
	key, orgText, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("--api-key: want KEY=ORG")
	}
	org, err := strconv.ParseInt(strings.TrimSpace(orgText), 10, 64)
	if err != nil {
		return fmt.Errorf("--api-key: org %q: %w", orgText, err)
	}
	return k.Add(strings.TrimSpace(key), org)
}

// ReadKeysFile adds the keys of an --api-keys-file: one "KEY ORG" per line;
// blank lines and lines starting with # are skipped. name is for errors.
func (k *Keys) ReadKeysFile(name string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return fmt.Errorf("%s:%d: want \"KEY ORG\", got %d fields", name, line, len(fields))
		}
		org, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			return fmt.Errorf("%s:%d: org %q: %w", name, line, fields[1], err)
		}
		if err := k.Add(fields[0], org); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return nil
}
