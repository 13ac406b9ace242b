package customer

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Op names a command, as carried in the `op` header or the Avro envelope.
type Op string

const (
	OpRegister         Op = "register"
	OpUpdate           Op = "update"
	OpChangeIdentifier Op = "changeIdentifier"
	OpSubscriptions    Op = "subscriptions"
	// OpPoints is a balance from the loyalty engine (points.go). It arrives
	// on the points topic, never on a source's command topic.
	OpPoints Op = "points"
)

// Identifier types the API knows (DOMAIN.md, "Scope").
const (
	IDMobile     = "mobile"
	IDEmail      = "email"
	IDExternalID = "externalId"
	IDWechat     = "wechat"
	IDMartjackID = "martjackId"
	IDFbID       = "fbId"
)

// SourceAll is accepted by reads only.
const SourceAll = "ALL"

// Source is one configured source system.
type Source struct {
	Name         string // upper case, e.g. INSTORE
	MultiAccount bool   // needs an accountId (WECHAT, FACEBOOK)
}

// DefaultSources are INSTORE and MARTJACK (single-account), WECHAT and
// FACEBOOK (multi-account).
func DefaultSources() []Source {
	return []Source{{"INSTORE", false}, {"MARTJACK", false}, {"WECHAT", true}, {"FACEBOOK", true}}
}

// Command is one write request: the API call's URL parameters plus its body.
// Exactly one body pointer is set, the one matching Op. Time is the time the
// command is processed (the Kafka record's timestamp), never the wall clock,
// so a replay gives the same state.
type Command struct {
	RequestID  string
	Org        int64
	Op         Op
	Source     string
	AccountID  string
	CustomerID int64 // all ops but register
	Time       time.Time

	Register         *CustomerBody
	Update           *CustomerBody
	ChangeIdentifier *ChangeIdentifierBody
	Subscriptions    *SubscriptionsBody
	Balance          *Balance // OpPoints: CustomerID is the balance's customer
}

// CustomerBody is the body of register and update (the API doc's shape).
// The request types carry no json tags: the command's wire forms, JSON
// and Avro, are the schemas package's, both ways.
type CustomerBody struct {
	Profiles       []ProfileInput
	LoyaltyInfo    *LoyaltyInput
	ExtendedFields map[string]string
	AttributionV2  *AttributionInput
}

// ProfileInput is one element of `profiles` in a request. Custom field and
// extended field values are kept as strings: JSON numbers and booleans are
// carried as their literal text.
type ProfileInput struct {
	FirstName    string
	LastName     string
	Fields       map[string]string
	Identifiers  []Identifier
	CommChannels []CommChannel
	Source       string
	AccountID    string
}

// LoyaltyInput is `loyaltyInfo` in a request.
type LoyaltyInput struct {
	LoyaltyType string // "loyalty" or "non_loyalty"
}

// AttributionInput is `attributionV2` in a request.
type AttributionInput struct {
	CreateDate string // RFC 3339, e.g. 2016-06-23T19:11:18+08:00
}

// Identifier is a (type, value) pair. In stored customers Value is the
// normalised value used for uniqueness, except for email where the original
// spelling is kept for display (the key is its lower-cased form).
//
// The json tags of Identifier, CommChannel, Scope and Subscription are the
// API's response shapes, which embed them (ProfileView,
// SubscriptionsResponse; schemas' JSON results and merges); commands never
// go through them (schemas reads and writes the JSON command form with
// its own code).
type Identifier struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// CommChannel is a communication channel of a profile.
type CommChannel struct {
	Type     string          `json:"type"` // email, mobile, wechat
	Value    string          `json:"value"`
	Primary  bool            `json:"primary"`
	Verified bool            `json:"verified"`
	Meta     map[string]bool `json:"meta,omitempty"`
}

// ChangeIdentifierBody is the body of changeIdentifier.
type ChangeIdentifierBody struct {
	Add    []Identifier
	Remove []Identifier
}

// SubscriptionsBody is the body of the subscriptions command.
type SubscriptionsBody struct {
	CommunicationID int64
	CampaignID      int64
	Reason          string
	Scope           *Scope
	Subscriptions   []Subscription
}

// Scope is the subscription scope of the API doc.
type Scope struct {
	Scope    string `json:"scope"`
	SubScope string `json:"subScope"`
}

// Subscription is one channel × priority state.
type Subscription struct {
	Channel   string `json:"channel"`   // SMS, EMAIL, WECHAT
	AccountID string `json:"accountId"` // "" for none
	Priority  string `json:"priority"`  // TRANS or BULK
	Type      string `json:"type"`      // OPTIN or OPTOUT
}

// Customer is the stored document of one customer. A merged-away customer
// keeps only ID, Org and MergedInto (a tombstone pointing at its survivor).
type Customer struct {
	ID             int64
	Org            int64
	MergedInto     int64 // 0 unless merged away
	LoyaltyType    string
	Profiles       []Profile // sorted by (Source, AccountID)
	ExtendedFields map[string]string
	Subscriptions  []Subscription // sorted by (Channel, Priority, AccountID)
	CreateDate     time.Time      // attributionV2.createDate of the first registration
	ModifiedDate   time.Time
	// Points are the customer's balances, one per loyalty program, sorted
	// by ProgramID (points.go). A tombstone keeps the balances its customer
	// had when it was merged away, as last published for it, so that a
	// later balance for it moves its survivor by the difference.
	Points []Balance `json:",omitempty"`
}

// Profile is the customer's presence in one source/account.
type Profile struct {
	Source       string
	AccountID    string
	FirstName    string
	LastName     string
	Fields       map[string]string
	Identifiers  []Identifier
	CommChannels []CommChannel
	CreateDate   time.Time
	ModifiedDate time.Time
	// Conflicting holds profiles of the same source/account that arrived
	// with a merge; the survivor's own profile stays primary.
	Conflicting []Profile
}

// Result is the outcome of one command, published to customers.results.
type Result struct {
	RequestID string
	Org       int64
	Source    string
	AccountID string
	Op        Op
	Success   bool
	// CreatedID is the customer the command acted on: the new or joined
	// customer for register, the customer for update (the API's createdId).
	CreatedID int64
	// Subscriptions echoes the subscriptions that changed (subscriptions op).
	Subscriptions []Subscription
	Warnings      []Issue
	Errors        []Issue
}

// Merge is a merge notice, published to customers.merges.
type Merge struct {
	Org        int64
	SurvivorID int64
	VictimID   int64
	Identifier Identifier // the identifier that triggered the merge
	Source     string
	AccountID  string
	RequestID  string
	Time       time.Time
	// Balances are the victim's balances that moved to the survivor, as
	// they were before the merge (one per program).
	Balances []Balance
}

// Key is the identifier's uniqueness key: the lower-cased address for
// email, the value itself for every other type (already normalised).
func (i Identifier) Key() string {
	if i.Type == IDEmail {
		return strings.ToLower(i.Value)
	}
	return i.Value
}

// SearchTokens are the lower-cased words a customer is found by in search:
// first and last names and identifier values of every profile. A merged-away
// customer has none. The result is sorted and free of duplicates so the
// search index is deterministic.
func SearchTokens(c *Customer) []string {
	if c.MergedInto != 0 {
		return nil
	}
	// A slice sorted and compacted gives the same set as a map, without
	// the map; names and identifiers are usually one word each, which
	// sizes it. FieldsSeq yields substrings, so no token is copied.
	out := make([]string, 0, countTokenSources(c.Profiles))
	add := func(s string) {
		for f := range strings.FieldsSeq(strings.ToLower(s)) {
			out = append(out, f)
		}
	}
	var walk func(ps []Profile)
	walk = func(ps []Profile) {
		for _, p := range ps {
			add(p.FirstName)
			add(p.LastName)
			for _, id := range p.Identifiers {
				add(id.Value)
			}
			walk(p.Conflicting)
		}
	}
	walk(c.Profiles)
	slices.Sort(out)
	return slices.Compact(out)
}

// countTokenSources counts the names and identifier values SearchTokens
// reads, to size its result.
func countTokenSources(ps []Profile) int {
	n := 0
	for _, p := range ps {
		n += 2 + len(p.Identifiers) + countTokenSources(p.Conflicting)
	}
	return n
}

// Clone returns a deep copy of c (nil for nil), the one copy of a
// customer there is: maps and slices are copied, nil stays nil and empty
// stays empty, so the copy is reflect.DeepEqual to c and encodes to the
// same bytes. The rules change only clones of what the store handed out
// (copy on write), so a refused command leaves no trace even in a store
// that returns its own pointers; a store that keeps documents in memory
// (state's per-batch cache) hands out clones, so a caller changing what
// it read cannot change what the next reader sees. Nothing depends on nil
// or empty: the rules write into a map only after making it (update.go,
// fillMap), the state codec stores both as no entries and decodes them as
// nil, and the views render both as empty.
func (c *Customer) Clone() *Customer {
	if c == nil {
		return nil
	}
	out := *c
	out.ExtendedFields = maps.Clone(c.ExtendedFields)
	out.Subscriptions = slices.Clone(c.Subscriptions)
	out.Profiles = cloneProfiles(c.Profiles)
	out.Points = slices.Clone(c.Points)
	return &out
}

func cloneProfiles(ps []Profile) []Profile {
	if ps == nil {
		return nil
	}
	out := make([]Profile, len(ps))
	for i, p := range ps {
		p.Fields = maps.Clone(p.Fields)
		p.Identifiers = slices.Clone(p.Identifiers)
		if p.CommChannels != nil {
			chs := make([]CommChannel, len(p.CommChannels))
			for j, ch := range p.CommChannels {
				ch.Meta = maps.Clone(ch.Meta)
				chs[j] = ch
			}
			p.CommChannels = chs
		}
		p.Conflicting = cloneProfiles(p.Conflicting)
		out[i] = p
	}
	return out
}
