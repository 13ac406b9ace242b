package customer

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Loyalty types.
const (
	Loyalty    = "loyalty"
	NonLoyalty = "non_loyalty"
)

// scope is one source/account in which identifiers are unique. AccountID is
// empty for single-account sources.
type scope struct {
	Source    string
	AccountID string
}

func (s scope) String() string {
	if s.AccountID == "" {
		return s.Source
	}
	return s.Source + "/" + s.AccountID
}

// checkScope validates the source and accountId of a command or query.
// Source names are matched case-insensitively. allowAll admits ALL (reads
// only), for which accountId is ignored. An accountId on a single-account
// source is refused (8011) rather than ignored: it means the producer
// believes in an account that does not exist, and guessing would hide it.
func checkScope(cfg Config, source, accountID string, allowAll bool) (scope, *Issue) {
	name := strings.ToUpper(strings.TrimSpace(source))
	if name == SourceAll {
		if allowAll {
			return scope{Source: SourceAll}, nil
		}
		iss := Issuef(CodeInvalidSource, "Source is invalid: ALL is accepted by reads only")
		return scope{}, &iss
	}
	src, ok := cfg.source(name)
	if !ok {
		iss := Issuef(CodeInvalidSource, "Source is invalid: %q is not a configured source", source)
		return scope{}, &iss
	}
	acct := strings.TrimSpace(accountID)
	switch {
	case src.MultiAccount && acct == "":
		iss := Issuef(CodeMissingAccountID, "Account id is not passed: source %s has several accounts", name)
		return scope{}, &iss
	case !src.MultiAccount && acct != "":
		iss := Issuef(CodeInvalidSourceAccount, "Source account is invalid: source %s has no accounts, got accountId %q", name, accountID)
		return scope{}, &iss
	}
	if acct != "" {
		if _, why := checkText(acct, maxAccountID); why != "" {
			iss := Issuef(CodeInvalidSourceAccount, "Source account is invalid: accountId %q %s", accountID, why)
			return scope{}, &iss
		}
	}
	return scope{Source: name, AccountID: acct}, nil
}

// checkWriteSource validates only the source of a command that has no
// account of its own (subscriptions: the API call names no source).
func checkWriteSource(cfg Config, source string) *Issue {
	name := strings.ToUpper(strings.TrimSpace(source))
	if _, ok := cfg.source(name); !ok || name == SourceAll {
		iss := Issuef(CodeInvalidSource, "Source is invalid: %q", source)
		return &iss
	}
	return nil
}

// normaliseChannel validates a communication channel and normalises its
// value like the identifier of the same type.
func normaliseChannel(cfg Config, ch CommChannel) (CommChannel, *Issue) {
	out := ch
	out.Type = strings.ToLower(strings.TrimSpace(ch.Type))
	out.Meta = copyBoolMap(ch.Meta)
	v := strings.TrimSpace(ch.Value)
	var why string
	var code Code
	switch out.Type {
	case IDEmail:
		out.Value, why = normaliseEmail(v)
		code = CodeInvalidChannelEmail
	case IDMobile:
		out.Value, why = normaliseMobile(cfg, v)
		code = CodeInvalidChannelMobile
	case IDWechat:
		out.Value, why = checkText(v, maxCommChannel)
		code = CodeInvalidCommChannel
	default:
		iss := Issuef(CodeInvalidCommChannel, "Communication channel is invalid: type %q; use email, mobile or wechat", ch.Type)
		return CommChannel{}, &iss
	}
	if why != "" {
		iss := Issuef(code, "%s: %s %q %s", code.Message(), out.Type, ch.Value, why)
		return CommChannel{}, &iss
	}
	return out, nil
}

// chanKey identifies a channel within a profile: type and value (email
// compared case-insensitively). A struct, not a joined string, so building
// one allocates nothing.
type chanKey struct{ typ, key string }

func channelKey(ch CommChannel) chanKey {
	return chanKey{ch.Type, Identifier{Type: ch.Type, Value: ch.Value}.Key()}
}

// normaliseSubscription upper-cases and checks one subscription entry.
func normaliseSubscription(s Subscription) (Subscription, *Issue) {
	out := Subscription{
		Channel:   strings.ToUpper(strings.TrimSpace(s.Channel)),
		Priority:  strings.ToUpper(strings.TrimSpace(s.Priority)),
		Type:      strings.ToUpper(strings.TrimSpace(s.Type)),
		AccountID: strings.TrimSpace(s.AccountID),
	}
	var iss Issue
	switch {
	case out.Channel != "SMS" && out.Channel != "EMAIL" && out.Channel != "WECHAT":
		iss = Issuef(CodeInvalidCommChannel, "Communication channel is invalid: subscription channel %q; use SMS, EMAIL or WECHAT", s.Channel)
	case out.Priority != "TRANS" && out.Priority != "BULK":
		iss = Issuef(CodeInvalidCommChannel, "Communication channel is invalid: subscription priority %q; use TRANS or BULK", s.Priority)
	case out.Type != "OPTIN" && out.Type != "OPTOUT":
		iss = Issuef(CodeInvalidCommChannel, "Communication channel is invalid: subscription type %q; use OPTIN or OPTOUT", s.Type)
	default:
		if out.AccountID != "" {
			if _, why := checkText(out.AccountID, maxAccountID); why != "" {
				iss = Issuef(CodeInvalidSourceAccount, "Source account is invalid: subscription accountId %q %s", s.AccountID, why)
				return Subscription{}, &iss
			}
		}
		return out, nil
	}
	return Subscription{}, &iss
}

// subsKey identifies a subscription: channel, priority and account.
type subsKey struct{ channel, priority, accountID string }

func subKey(s Subscription) subsKey { return subsKey{s.Channel, s.Priority, s.AccountID} }

// sortedSubscriptions sorts subs in place in the stored order (Channel,
// Priority, AccountID) and returns it.
func sortedSubscriptions(subs []Subscription) []Subscription {
	// slices.SortFunc runs the same pdqsort as sort.Slice, without its
	// reflection-based swapper and closure allocations.
	slices.SortFunc(subs, func(a, b Subscription) int {
		return cmp.Or(
			strings.Compare(a.Channel, b.Channel),
			strings.Compare(a.Priority, b.Priority),
			strings.Compare(a.AccountID, b.AccountID),
		)
	})
	return subs
}

// input is the validated, combined content of a register or update body.
// readBody builds its maps and slices afresh, so a rule may hand them to
// the document it writes without copying them.
type input struct {
	FirstName, LastName string
	Fields              map[string]string
	Identifiers         []Identifier // normalised, no two with the same (type, key)
	Channels            []CommChannel
	ExtendedFields      map[string]string
	LoyaltyType         string    // "" when not given
	CreateDate          time.Time // zero when not given
}

// readBody validates a register or update body and combines its profiles:
// all of them describe the customer in the command's scope (the source and
// accountId inside a profile are ignored: the topic and headers name the
// scope). Names take the first non-empty value, fields and channels merge in
// order with later values winning, identifiers are de-duplicated. Every
// problem is reported, in body order.
func readBody(cfg Config, b *CustomerBody) (input, []Issue) {
	in := input{Fields: map[string]string{}, ExtendedFields: map[string]string{}}
	var errs []Issue
	seenID := map[identKey]bool{}
	chanAt := map[chanKey]int{}
	// Sized for every identifier given, so the usual two or three cost
	// one allocation; stays nil when none is given.
	n := 0
	for _, p := range b.Profiles {
		n += len(p.Identifiers)
	}
	if n > 0 {
		in.Identifiers = make([]Identifier, 0, n)
	}
	for _, p := range b.Profiles {
		if in.FirstName == "" {
			in.FirstName = strings.TrimSpace(p.FirstName)
		}
		if in.LastName == "" {
			in.LastName = strings.TrimSpace(p.LastName)
		}
		for k, v := range p.Fields {
			in.Fields[k] = v
		}
		for _, raw := range p.Identifiers {
			id, iss := normaliseIdentifier(cfg, raw)
			if iss != nil {
				errs = append(errs, *iss)
				continue
			}
			if k := idKey(id); !seenID[k] {
				seenID[k] = true
				in.Identifiers = append(in.Identifiers, id)
			}
		}
		for _, raw := range p.CommChannels {
			ch, iss := normaliseChannel(cfg, raw)
			if iss != nil {
				errs = append(errs, *iss)
				continue
			}
			k := channelKey(ch)
			if i, ok := chanAt[k]; ok {
				in.Channels[i] = ch
				continue
			}
			chanAt[k] = len(in.Channels)
			in.Channels = append(in.Channels, ch)
		}
	}
	for k, v := range b.ExtendedFields {
		in.ExtendedFields[k] = v
	}
	if b.LoyaltyInfo != nil && strings.TrimSpace(b.LoyaltyInfo.LoyaltyType) != "" {
		// DOMAIN.md: loyalty unless non_loyalty is given.
		in.LoyaltyType = Loyalty
		if strings.EqualFold(strings.TrimSpace(b.LoyaltyInfo.LoyaltyType), NonLoyalty) {
			in.LoyaltyType = NonLoyalty
		}
	}
	if b.AttributionV2 != nil && strings.TrimSpace(b.AttributionV2.CreateDate) != "" {
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(b.AttributionV2.CreateDate))
		if err != nil {
			errs = append(errs, Issuef(CodeInvalidCreateDate, "%s: %q", CodeInvalidCreateDate.Message(), b.AttributionV2.CreateDate))
		} else {
			in.CreateDate = t.UTC()
		}
	}
	return in, errs
}

// normaliseIdentifiers validates a list of identifiers (changeIdentifier's
// add or remove), de-duplicating by (type, key).
func normaliseIdentifiers(cfg Config, raw []Identifier) ([]Identifier, []Issue) {
	var out []Identifier
	var errs []Issue
	seen := map[identKey]bool{}
	for _, r := range raw {
		id, iss := normaliseIdentifier(cfg, r)
		if iss != nil {
			errs = append(errs, *iss)
			continue
		}
		if k := idKey(id); !seen[k] {
			seen[k] = true
			out = append(out, id)
		}
	}
	return out, errs
}

// identKey identifies an identifier across types: type and uniqueness key.
type identKey struct{ typ, key string }

func idKey(id Identifier) identKey { return identKey{id.Type, id.Key()} }

// describe renders identifiers for messages: `email "a@b.c", mobile "91…"`.
func describe(ids []Identifier) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s %q", id.Type, id.Value)
	}
	return strings.Join(parts, ", ")
}

func copyBoolMap(m map[string]bool) map[string]bool {
	if m == nil {
		return nil
	}
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func copyStringMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
