package customer

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// What a stored customer may grow to, what one result may list, and what a
// request id may be (limits.go has the values and the reasons).

// ErrBadRequestID is returned (wrapped) by CheckRequestID.
var ErrBadRequestID = errors.New("invalid request id")

// CheckRequestID reports why id cannot be a request id: longer than
// MaxRequestIDLen bytes, not valid UTF-8, or with control characters. The
// empty id is fine (the processor gives a command without one a default).
// The error's message quotes at most MaxEchoLen characters of id. The
// processor calls it at decode time, before the id becomes a key; Apply
// calls it again and refuses the command with ErrBadCommand.
func CheckRequestID(id string) error {
	if len(id) > MaxRequestIDLen {
		return fmt.Errorf("%w: %d bytes, at most %d: %s", ErrBadRequestID, len(id), MaxRequestIDLen, echo(id))
	}
	if why := textProblem(id, MaxRequestIDLen); why != "" {
		return fmt.Errorf("%w: %s %s", ErrBadRequestID, echo(id), why)
	}
	return nil
}

// capIssues keeps a result's error list within MaxIssues: the first
// MaxIssues-1 issues, then one 8906 issue counting those left out.
func capIssues(errs []Issue) []Issue {
	if len(errs) <= MaxIssues {
		return errs
	}
	out := errs[: MaxIssues-1 : MaxIssues-1]
	more := len(errs) - len(out)
	return append(out, Issuef(CodeMoreIssues, "%s: %d more errors not listed", CodeMoreIssues.Message(), more))
}

// Weight is an upper bound, in bytes, of c's JSON snapshot (Snapshot
// marshalled with encoding/json): every string counted as JSON escapes it
// (so a "<" counts 6), plus a fixed allowance for each element's field
// names, punctuation, times and ids. The state document (state/codec.go)
// and the Avro snapshot carry the same strings with shorter framing, so
// they weigh less. Apply refuses a command that would take a customer over
// MaxCustomerWeight.
func (c *Customer) Weight() int {
	if c == nil {
		return 0
	}
	const (
		customerBase = 768 // id, loyaltyInfo, attributionV2 without actors, segments, subscriptionInfo, warnings
		// {"channel":"","accountId":"","priority":"","type":""}, with the
		// longest channel, priority and type (WECHAT, TRANS, OPTOUT):
		// they are enumerations, and weighing them at their longest means
		// an opt-out never makes a customer heavier.
		perSub = 64 + 6 + 5 + 6
	)
	w := customerBase + jsonLen(c.LoyaltyType)
	for i := range c.Profiles {
		w += profileWeight(&c.Profiles[i])
	}
	w += mapWeight(c.ExtendedFields)
	for _, s := range c.Subscriptions {
		w += perSub + jsonLen(s.AccountID)
	}
	for i := range c.Points {
		w += balanceWeight(&c.Points[i])
	}
	return w
}

// balanceWeight bounds one element of loyaltyProgramDetails: its field
// names and punctuation, 15 numbers at their longest (a float64 is at most
// 24 characters), and the slab's texts.
func balanceWeight(b *Balance) int {
	const perBalance = 320 + 15*24
	return perBalance + jsonLen(b.CurrentSlab) + jsonLen(b.SlabExpiryDate) + jsonLen(b.NextSlab) + jsonLen(b.NextSlabDescription)
}

func profileWeight(p *Profile) int {
	const (
		perProfile = 512 // field names, three times, userId, empty lists
		perID      = 32  // {"type":"","value":""},
		perChannel = 80  // {"type":"","value":"","primary":false,"verified":false,"meta":{}},
		perMeta    = 10  // "":false,
		// The scope's name is written as source, accountId, the code and
		// name of createdBy and modifiedBy, and may be named by the
		// customer's attributionV2 (four more).
		scopeRepeats = 10
	)
	w := perProfile + scopeRepeats*(jsonLen(p.Source)+1+jsonLen(p.AccountID)) + jsonLen(p.FirstName) + jsonLen(p.LastName)
	w += mapWeight(p.Fields)
	for _, id := range p.Identifiers {
		w += perID + jsonLen(id.Type) + jsonLen(id.Value)
	}
	for _, ch := range p.CommChannels {
		w += perChannel + jsonLen(ch.Type) + jsonLen(ch.Value)
		for k := range ch.Meta {
			w += perMeta + jsonLen(k)
		}
	}
	for i := range p.Conflicting {
		w += profileWeight(&p.Conflicting[i])
	}
	return w
}

func mapWeight(m map[string]string) int {
	const perEntry = 6 // "":"",
	w := 0
	for k, v := range m {
		w += perEntry + jsonLen(k) + jsonLen(v)
	}
	return w
}

// jsonLen is the length of s as encoding/json writes it between its
// quotes: quote and backslash take 2 bytes; <, >, & and control characters
// other than \n, \r, \t take 6 (\u003c); so do U+2028, U+2029 and each
// byte of invalid UTF-8 (\ufffd).
func jsonLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\' || b == '\n' || b == '\r' || b == '\t':
				n += 2
			case b < 0x20 || b == '<' || b == '>' || b == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}

// growthIssue is the 8905 issue when writing c over before (nil for a new
// customer) would take it past a limit of limits.go, or further past one it
// was already over (a customer stored before the limits existed may still
// change, as long as it does not grow where it is over). nil when c is
// within bounds; then it allocates nothing.
func growthIssue(before, c *Customer) *Issue {
	if c.MergedInto != 0 {
		return nil // a tombstone holds nothing
	}
	grows := func(now, was, max int) bool { return now > max && now > was }
	if n, was := countIdentifiers(c), countIdentifiers(before); grows(n, was, MaxIdentifiersPerCustomer) {
		return fullIssue(before, c, n, "identifiers", MaxIdentifiersPerCustomer)
	}
	if n, was := countProfiles(c.Profiles), countProfiles(profilesOf(before)); grows(n, was, MaxProfilesPerCustomer) {
		return fullIssue(before, c, n, "profiles (with conflicting profiles)", MaxProfilesPerCustomer)
	}
	if n, was := len(c.ExtendedFields), len(extendedOf(before)); grows(n, was, MaxExtendedFields) {
		return fullIssue(before, c, n, "extended fields", MaxExtendedFields)
	}
	for i := range c.Profiles {
		p := &c.Profiles[i]
		if len(p.Fields) <= MaxFields && len(p.CommChannels) <= MaxCommChannelsPerProfile {
			continue
		}
		sc := scope{p.Source, p.AccountID}
		var was *Profile
		if before != nil {
			if j := profileIn(before, sc); j >= 0 {
				was = &before.Profiles[j]
			}
		}
		if grows(len(p.Fields), len(fieldsOf(was)), MaxFields) {
			return fullIssue(before, c, len(p.Fields), "custom fields in "+sc.String(), MaxFields)
		}
		if grows(len(p.CommChannels), len(channelsOf(was)), MaxCommChannelsPerProfile) {
			return fullIssue(before, c, len(p.CommChannels), "comm channels in "+sc.String(), MaxCommChannelsPerProfile)
		}
	}
	// before's weight only matters (and is only computed) when c is over.
	if w := c.Weight(); w > MaxCustomerWeight && w > before.Weight() {
		return fullIssue(before, c, w, "bytes of weight (names, fields, identifiers, channels and profiles together)", MaxCustomerWeight)
	}
	return nil
}

func fullIssue(before, c *Customer, n int, what string, max int) *Issue {
	who := fmt.Sprintf("customer %d", c.ID)
	if before == nil {
		who = "the new customer"
	}
	iss := Issuef(CodeCustomerFull, "%s: %s would have %d %s, at most %d", CodeCustomerFull.Message(), who, n, what, max)
	return &iss
}

// countProfiles counts profiles with their conflicting profiles.
func countProfiles(ps []Profile) int {
	n := len(ps)
	for i := range ps {
		n += countProfiles(ps[i].Conflicting)
	}
	return n
}

func profilesOf(c *Customer) []Profile {
	if c == nil {
		return nil
	}
	return c.Profiles
}

func extendedOf(c *Customer) map[string]string {
	if c == nil {
		return nil
	}
	return c.ExtendedFields
}

func fieldsOf(p *Profile) map[string]string {
	if p == nil {
		return nil
	}
	return p.Fields
}

func channelsOf(p *Profile) []CommChannel {
	if p == nil {
		return nil
	}
	return p.CommChannels
}
