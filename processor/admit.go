package processor

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/custream/custream/schemas"
	"github.com/custream/custream/schemas/cmdsig"
)

// Admission says which producers may act for which orgs (DESIGN.md,
// "Trust"): Kafka ACLs decide who may write a source's topic, but cannot
// look inside records, and the org is the record key. The zero value
// admits every org on every source, signed or not.
//
// It is checked on the task that applies a command, after routing: a
// record on another task's partition is forwarded through the repartition
// topic unchecked, and checked where it arrives, against the source (and,
// for a signature, the topic) its producer wrote. A refused command goes
// to the DLQ (org-not-allowed, bad-signature), changes nothing and gets no
// result, as other DLQ cases: its requestId stays unanswered, so a forged
// command cannot use up a real one.
type Admission struct {
	// Orgs maps a source name to the orgs its topic may carry commands
	// for. A source not in the map accepts every org.
	Orgs map[string][]int64
	// Signed are the sources whose every command must carry a valid
	// signature (schemas/cmdsig) by a key of its org.
	Signed map[string]bool
	// Keys are the orgs' signing keys; nil when signing is not
	// configured. With keys, a command that carries a signature is
	// verified on every source, so an integration can start signing, and
	// see its mistakes in the DLQ, before its source requires it.
	Keys *cmdsig.Keys
}

// validate refuses an admission that names sources the topology lacks,
// or that could never admit a command.
func (a Admission) validate(topo Topology) error {
	known := func(name string) bool {
		for _, in := range topo.Inputs {
			if in.Source.Name == name {
				return true
			}
		}
		return false
	}
	for name, orgs := range a.Orgs {
		if !known(name) {
			return fmt.Errorf("org allow-list for source %s, which is not one of the sources", name)
		}
		if len(orgs) == 0 {
			return fmt.Errorf("source %s: an empty org allow-list would refuse every command; list its orgs or drop the list", name)
		}
	}
	var missing []string
	for name, signed := range a.Signed {
		if !signed {
			continue
		}
		if !known(name) {
			return fmt.Errorf("signed commands required for source %s, which is not one of the sources", name)
		}
		if a.Keys.Orgs() == 0 {
			return fmt.Errorf("source %s requires signed commands, but no org has a key (--command-keys-file)", name)
		}
		for _, org := range a.Orgs[name] {
			if !a.Keys.Has(org) {
				missing = append(missing, name+":"+strconv.FormatInt(org, 10))
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("signed sources allow orgs without a key, whose every command would be refused (source:org): %s", strings.Join(missing, ", "))
	}
	return nil
}

// admitter is an Admission ready for lookups.
type admitter struct {
	orgs   map[string]map[int64]bool
	signed map[string]bool
	keys   *cmdsig.Keys
}

func newAdmitter(a Admission) *admitter {
	ad := &admitter{orgs: map[string]map[int64]bool{}, signed: a.Signed, keys: a.Keys}
	for name, orgs := range a.Orgs {
		set := make(map[int64]bool, len(orgs))
		for _, o := range orgs {
			set[o] = true
		}
		ad.orgs[name] = set
	}
	return ad
}

// admit checks that in's producer may act for org with record r: org on
// the source's allow-list, then the signature where required or present.
// nil admits.
func (ad *admitter) admit(in Input, org int64, r *kgo.Record) *BadRecord {
	if set, ok := ad.orgs[in.Source.Name]; ok && !set[org] {
		if in.Balances {
			return &BadRecord{schemas.ErrCodeOrgNotAllowed, fmt.Sprintf(
				"org %d is not on the allow-list of the points topic (--points-orgs); nothing was applied", org)}
		}
		return &BadRecord{schemas.ErrCodeOrgNotAllowed, fmt.Sprintf(
			"org %d is not on the allow-list of source %s (--sources %s:orgs=…, --source-orgs-file); nothing was applied", org, in.Source.Name, in.Source.Name)}
	}
	required := ad.signed[in.Source.Name]
	if !required && ad.keys == nil {
		return nil
	}
	hs := headers(r)
	if !required && !cmdsig.Present(hs) {
		return nil
	}
	err := ad.keys.Verify(org, cmdsig.Record{Topic: in.Topic, Key: r.Key, Headers: hs, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()})
	if err == nil {
		return nil
	}
	if errors.Is(err, cmdsig.ErrMissing) {
		return &BadRecord{schemas.ErrCodeBadSignature, fmt.Sprintf(
			"no %s header, and source %s requires signed commands; nothing was applied", cmdsig.Header, in.Source.Name)}
	}
	return &BadRecord{schemas.ErrCodeBadSignature, err.Error() + "; nothing was applied"}
}
