package customer

import (
	"cmp"
	"maps"
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
		iss := Issuef(CodeInvalidSource, "Source is invalid: %s is not a configured source", echo(source))
		return scope{}, &iss
	}
	acct := strings.TrimSpace(accountID)
	switch {
	case src.MultiAccount && acct == "":
		iss := Issuef(CodeMissingAccountID, "Account id is not passed: source %s has several accounts", name)
		return scope{}, &iss
	case !src.MultiAccount && acct != "":
		iss := Issuef(CodeInvalidSourceAccount, "Source account is invalid: source %s has no accounts, got accountId %s", name, echo(accountID))
		return scope{}, &iss
	}
	if acct != "" {
		if _, why := checkText(acct, MaxAccountIDLen); why != "" {
			iss := Issuef(CodeInvalidSourceAccount, "Source account is invalid: accountId %s %s", echo(accountID), why)
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
		iss := Issuef(CodeInvalidSource, "Source is invalid: %s", echo(source))
		return &iss
	}
	return nil
}

// normaliseChannel validates a communication channel and normalises its
// value like the identifier of the same type.
func normaliseChannel(cfg Config, ch CommChannel) (CommChannel, *Issue) {
	out := ch
	out.Type = strings.ToLower(strings.TrimSpace(ch.Type))
	out.Meta = maps.Clone(ch.Meta)
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
		out.Value, why = checkText(v, MaxCommChannelLen)
		code = CodeInvalidCommChannel
	default:
		iss := Issuef(CodeInvalidCommChannel, "Communication channel is invalid: type %s; use email, mobile or wechat", echo(ch.Type))
		return CommChannel{}, &iss
	}
	if why != "" {
		iss := Issuef(code, "%s: %s %s %s", code.Message(), out.Type, echo(ch.Value), why)
		return CommChannel{}, &iss
	}
	if len(ch.Meta) > 0 {
		// Meta keys are field names: the same rule, checked in key order
		// so the first bad one reported does not depend on map order.
		for _, k := range slices.Sorted(maps.Keys(ch.Meta)) {
			if why := keyProblem(k); why != "" {
				iss := Issuef(CodeBadText, "%s: meta key %s of %s channel %s %s", CodeBadText.Message(), echo(k), out.Type, echo(out.Value), why)
				return CommChannel{}, &iss
			}
		}
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
		iss = Issuef(CodeInvalidCommChannel, "Communication channel is invalid: subscription channel %s; use SMS, EMAIL or WECHAT", echo(s.Channel))
	case out.Priority != "TRANS" && out.Priority != "BULK":
		iss = Issuef(CodeInvalidCommChannel, "Communication channel is invalid: subscription priority %s; use TRANS or BULK", echo(s.Priority))
	case out.Type != "OPTIN" && out.Type != "OPTOUT":
		iss = Issuef(CodeInvalidCommChannel, "Communication channel is invalid: subscription type %s; use OPTIN or OPTOUT", echo(s.Type))
	default:
		if out.AccountID != "" {
			if _, why := checkText(out.AccountID, MaxAccountIDLen); why != "" {
				iss = Issuef(CodeInvalidSourceAccount, "Source account is invalid: subscription accountId %s %s", echo(s.AccountID), why)
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
// problem is reported, in body order; a body over a count limit (8903) is
// reported as such and none of its values is read.
func readBody(cfg Config, b *CustomerBody) (input, []Issue) {
	if errs := bodyCounts(b); len(errs) > 0 {
		return input{}, errs
	}
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
		first, last := strings.TrimSpace(p.FirstName), strings.TrimSpace(p.LastName)
		errs = checkName(errs, "firstName", first)
		errs = checkName(errs, "lastName", last)
		if in.FirstName == "" {
			in.FirstName = first
		}
		if in.LastName == "" {
			in.LastName = last
		}
		errs = checkFields(errs, "custom field", p.Fields)
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
	errs = checkFields(errs, "extended field", b.ExtendedFields)
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
			errs = append(errs, Issuef(CodeInvalidCreateDate, "%s: %s", CodeInvalidCreateDate.Message(), echo(b.AttributionV2.CreateDate)))
		} else {
			in.CreateDate = t.UTC()
		}
	}
	return in, errs
}

// bodyCounts reports every list or map of a register or update body over
// its limit (8903). It reads only lengths, so a body of 110,000 e-mails
// costs nothing to refuse. Profiles are counted together: they combine into
// one profile.
func bodyCounts(b *CustomerBody) []Issue {
	var ids, chans, fields, meta int
	for _, p := range b.Profiles {
		ids += len(p.Identifiers)
		chans += len(p.CommChannels)
		fields += len(p.Fields)
		for _, ch := range p.CommChannels {
			meta = max(meta, len(ch.Meta))
		}
	}
	var errs []Issue
	errs = overCount(errs, "profiles", len(b.Profiles), MaxProfilesPerBody)
	errs = overCount(errs, "identifiers", ids, MaxIdentifiersPerBody)
	errs = overCount(errs, "comm channels", chans, MaxCommChannelsPerProfile)
	errs = overCount(errs, "meta flags in one comm channel", meta, MaxChannelMeta)
	errs = overCount(errs, "custom fields", fields, MaxFields)
	errs = overCount(errs, "extended fields", len(b.ExtendedFields), MaxExtendedFields)
	return errs
}

// overCount appends the 8903 issue when n items of a kind exceed max.
func overCount(errs []Issue, what string, n, max int) []Issue {
	if n <= max {
		return errs
	}
	return append(errs, Issuef(CodeTooMany, "%s: %d %s, at most %d", CodeTooMany.Message(), n, what, max))
}

// checkName appends the 8904 issue for a bad first or last name (trimmed;
// empty is fine: it means "not given").
func checkName(errs []Issue, what, s string) []Issue {
	if why := textProblem(s, MaxNameLen); why != "" {
		errs = append(errs, Issuef(CodeBadText, "%s: %s %s %s", CodeBadText.Message(), what, echo(s), why))
	}
	return errs
}

// checkFields appends an 8904 issue for every bad key or value of a custom
// or extended fields map, in key order (map order must not show). Values
// are stored as given, so they are checked untrimmed.
func checkFields(errs []Issue, what string, m map[string]string) []Issue {
	bad := false
	for k, v := range m {
		if keyProblem(k) != "" || textProblem(v, MaxFieldValueLen) != "" {
			bad = true
			break
		}
	}
	if !bad {
		return errs
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if why := keyProblem(k); why != "" {
			errs = append(errs, Issuef(CodeBadText, "%s: %s key %s %s", CodeBadText.Message(), what, echo(k), why))
		}
		if why := textProblem(m[k], MaxFieldValueLen); why != "" {
			errs = append(errs, Issuef(CodeBadText, "%s: %s %s value %s %s", CodeBadText.Message(), what, echo(k), echo(m[k]), why))
		}
	}
	return errs
}

// keyProblem checks the key of a field or meta flag: a name, so not empty.
func keyProblem(k string) string {
	if k == "" {
		return "is empty"
	}
	return textProblem(k, MaxFieldKeyLen)
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
		parts[i] = id.Type + " " + echo(id.Value)
	}
	return strings.Join(parts, ", ")
}
