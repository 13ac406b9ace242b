package facade

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/custream/custream/linefile"
)

// DigestPrefix marks a key given by its SHA-256 digest ("sha256:<64 hex>")
// rather than in clear, so a keys file need not hold usable keys.
const DigestPrefix = "sha256:"

// Keys maps API keys to the one org each may read. Only SHA-256 digests of
// the keys are kept, so a heap dump or a %v of Keys shows no key. Build it
// with Add, AddDigest, ParseKeyList or ReadKeysFile; the zero value holds
// no key (and so lets no request in).
type Keys struct {
	entries []keyEntry
}

type keyEntry struct {
	sum [sha256.Size]byte
	org int64
}

// KeyID names a key in logs and rate-limit buckets: the first 4 bytes of
// its SHA-256 digest in hex. It identifies a key to whoever has the keys
// file, and says nothing usable about the key itself.
func KeyID(sum [sha256.Size]byte) string { return hex.EncodeToString(sum[:4]) }

// Add registers key for org. Adding the same key twice for one org is a
// no-op; for two orgs it is an error, since a key must name one tenant.
func (k *Keys) Add(key string, org int64) error {
	if key == "" || strings.ContainsAny(key, " \t\r\n") {
		return errors.New("an API key must be non-empty and have no spaces")
	}
	if strings.HasPrefix(key, DigestPrefix) {
		return k.AddDigest(key, org)
	}
	return k.add(sha256.Sum256([]byte(key)), org)
}

// AddDigest registers the key whose digest is "sha256:<64 hex digits>" for
// org.
func (k *Keys) AddDigest(digest string, org int64) error {
	hexText, ok := strings.CutPrefix(digest, DigestPrefix)
	raw, err := hex.DecodeString(hexText)
	if !ok || err != nil || len(raw) != sha256.Size {
		return fmt.Errorf("a key digest must be %s followed by %d hex digits", DigestPrefix, 2*sha256.Size)
	}
	return k.add([sha256.Size]byte(raw), org)
}

func (k *Keys) add(sum [sha256.Size]byte, org int64) error {
	if org <= 0 {
		return fmt.Errorf("org %d: want a positive org id", org)
	}
	for _, e := range k.entries {
		if e.sum == sum {
			if e.org == org {
				return nil
			}
			// The key itself is never put in an error: errors get logged.
			return fmt.Errorf("key %s is given for orgs %d and %d", KeyID(sum), e.org, org)
		}
	}
	k.entries = append(k.entries, keyEntry{sum: sum, org: org})
	return nil
}

// Len is the number of keys.
func (k *Keys) Len() int { return len(k.entries) }

// Org returns the org of key.
func (k *Keys) Org(key string) (int64, bool) {
	org, _, ok := k.Match(key)
	return org, ok
}

// Match returns the org of key and the key's KeyID. It compares the key's
// digest with every registered digest in constant time and never stops
// early, so the time taken says nothing about which key, or which prefix,
// came close.
func (k *Keys) Match(key string) (org int64, id string, ok bool) {
	if k == nil || key == "" {
		return 0, "", false
	}
	sum := sha256.Sum256([]byte(key))
	found := 0
	for _, e := range k.entries {
		eq := subtle.ConstantTimeCompare(sum[:], e.sum[:])
		// Branch-free select: org takes e.org only where eq == 1.
		org |= int64(subtle.ConstantTimeSelect(eq, 1, 0)) * e.org
		found |= eq
	}
	if found != 1 {
		return 0, "", false
	}
	return org, KeyID(sum), true
}

// ParseKeyList adds the keys of the CUSTREAM_API_KEYS environment
// variable: comma-separated "KEY=ORG" (or "sha256:<hex>=ORG") items. name
// is for errors.
func (k *Keys) ParseKeyList(name, list string) error {
	for i, item := range strings.Split(list, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		key, orgText, ok := strings.Cut(item, "=")
		if !ok {
			return fmt.Errorf("%s item %d: want KEY=ORG", name, i+1)
		}
		org, err := strconv.ParseInt(strings.TrimSpace(orgText), 10, 64)
		if err != nil {
			return fmt.Errorf("%s item %d: org %q: %w", name, i+1, orgText, err)
		}
		if err := k.Add(strings.TrimSpace(key), org); err != nil {
			return fmt.Errorf("%s item %d: %w", name, i+1, err)
		}
	}
	return nil
}

// ReadKeysFile adds the keys of an --api-keys-file: one "KEY ORG" or
// "sha256:<hex> ORG" per line; blank lines and lines starting with # are
// skipped. name is for errors.
func (k *Keys) ReadKeysFile(name string, r io.Reader) error {
	return linefile.Each(r, name, func(line int, text string) error {
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
		return nil
	})
}
