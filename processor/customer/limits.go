package customer

import (
	"fmt"
	"strconv"
)

// Limits: every record must have bounded cost. This file is the one table
// of them, used by the rules, by the tests that document them, and by the
// packages that check what the domain never sees (the processor checks
// MaxRequestIDLen before a request id becomes a Pebble key; the facade can
// refuse over-long query parameters before routing).
//
// The values are chosen so that no legitimate integration hits them: the
// API doc's samples carry one profile with one to three identifiers, two
// comm channels, two custom fields, two extended fields and four
// subscriptions; realistic loyalty data (a person in the four default
// sources and a few WeChat or Facebook accounts, two or three mobiles and
// e-mails, a few dozen custom fields configured by the org) stays an order
// of magnitude below every count. What the limits stop is junk and
// hostility: a 300,000-character name, a register with 110,000 e-mails, a
// result listing 25,000 errors, a customer grown without end by updates
// and merges.
//
// Lengths of text are in characters (Unicode code points, after trimming
// where the value is trimmed), as people count them; a character is at most
// 4 bytes of UTF-8. Only the request id, which becomes a key, is measured in
// bytes.
//
// What a command may carry is checked before any of its values is looked
// at (8903, CodeTooMany), so validating a huge body costs nothing; what its
// values may look like is checked next (8904, CodeBadText, for names and
// fields; identifiers keep the API's codes, 8055, 8056, 8064, 8013, and
// accountIds 8011); what a stored customer may grow to is checked last, on
// the documents a command would write (8905, CodeCustomerFull). A result
// lists at most MaxIssues errors (8906, CodeMoreIssues, says how many more
// there were) and quotes at most MaxEchoLen characters of any value, so a
// result stays a few kilobytes whatever the command.
const (
	// MaxRequestIDLen is the longest request id, in bytes. The request id
	// becomes a Pebble key (remembered for idempotency) and is echoed in
	// the result and merge notice: UUIDs (36), ULIDs (26) and composite ids
	// such as the loader's "load-<scope>-<sha256>-<line>" (~90) fit with
	// room to spare. Checked by the processor at decode time (CheckRequestID)
	// and again by Apply (ErrBadCommand).
	MaxRequestIDLen = 256

	// MaxAccountIDLen is the longest accountId (of a command, a query or a
	// subscription entry): WeChat app ids are 18 characters, Facebook page
	// ids ~16 digits. Over it: 8011.
	MaxAccountIDLen = 64

	// MaxProfilesPerBody is the most profiles a register or update body may
	// carry. Every profile of a body describes the customer in the
	// command's scope (they are combined), so more than one is already
	// unusual; the API doc's samples have one.
	MaxProfilesPerBody = 10

	// MaxIdentifiersPerBody is the most identifiers a register or update
	// body may carry, over all its profiles together (they combine into the
	// one profile of the command's scope) and counted before
	// de-duplication. It is the limit of identifiers per profile that a
	// command may set: "multiple identifiers of the same type" in the API
	// doc means a couple of mobiles and e-mails, not dozens.
	MaxIdentifiersPerBody = 20

	// MaxChangeIdentifiers is the most identifiers in each of
	// changeIdentifier's add and remove lists (so a whole profile can be
	// swapped in one command).
	MaxChangeIdentifiers = MaxIdentifiersPerBody

	// MaxCommChannelsPerProfile is the most comm channels of a profile: in
	// a body (all profiles together) and stored in one scope after updates
	// and joins (update adds a channel of a new value, and there is no way
	// to remove one). A person has a mobile, an e-mail and a WeChat id,
	// perhaps two of each.
	MaxCommChannelsPerProfile = 20
	// MaxChannelMeta is the most meta flags of one comm channel (the API doc
	// shows residence and office). Their keys follow MaxFieldKeyLen.
	MaxChannelMeta = 8

	// MaxSubscriptionsPerBody is the most entries of a subscriptions body:
	// 3 channels × 2 priorities is 6 per account; 50 covers eight accounts.
	MaxSubscriptionsPerBody = 50

	// MaxNameLen is the longest first name and last name, in characters.
	// Long real names (Spanish, Portuguese, Indian with initials spelled
	// out) stay well under 100.
	MaxNameLen = 128

	// MaxFields is the most custom fields of a profile (in a body, all
	// profiles together; and stored in one scope after updates, which patch
	// fields in); MaxExtendedFields the same for the customer's extended
	// fields. Orgs configure a few dozen custom fields at most, and the
	// extended fields are a fixed catalogue of the API.
	MaxFields         = 50
	MaxExtendedFields = 50
	// MaxFieldKeyLen and MaxFieldValueLen bound a custom or extended
	// field's key (a configured field name, e.g. "Favorite Color") and
	// value (a preference, a date, a store code, an address line), in
	// characters. Keys may not be empty; values may (an update clearing a
	// field).
	MaxFieldKeyLen   = 64
	MaxFieldValueLen = 256

	// MaxIdentifiersPerCustomer is the most identifiers a customer holds
	// over all its scopes (each is an index entry and a lookup key), after
	// changeIdentifier adds, joins and merges. A person in every default
	// source with several identifiers each stays under 30.
	MaxIdentifiersPerCustomer = 100
	// MaxProfilesPerCustomer is the most profiles of a customer, counting
	// the conflicting profiles that merges leave behind: every one is
	// rendered in fetch, search hits and snapshots.
	MaxProfilesPerCustomer = 32
	// MaxCustomerWeight bounds a stored customer's Weight: an upper bound,
	// in bytes, of its JSON snapshot (strings counted as JSON escapes them,
	// plus the shape's fixed text), and so of its state document and its
	// Avro snapshot, which are smaller. 256 KiB keeps every record a
	// customer produces far below Kafka's default 1 MB message limit, even
	// for a customer at several count limits at once; a typical customer
	// weighs 2–3 KB.
	MaxCustomerWeight = 256 << 10

	// MaxIssues is the most errors one result lists; when there are more,
	// the first MaxIssues-1 are listed and the last says how many were left
	// out (8906).
	MaxIssues = 20
	// MaxEchoLen is the most characters of a value a message quotes; a
	// longer value is cut and marked with "…".
	MaxEchoLen = 64

	// MaxSearchQueryLen is the longest search q, in characters: a name or an
	// identifier prefix, a few words. Over it: 8904.
	MaxSearchQueryLen = 256
)

// Limits of identifier and comm channel values (DOMAIN.md, "Normalisation
// and validation"); over them the type's API code (8055, 8056, 8064, 8013,
// 8057, 8058, 8010).
const (
	MaxEmailLocalLen  = 64
	MaxEmailLen       = 254
	MinMobileDigits   = 8
	MaxMobileDigits   = 15
	MaxExternalIDLen  = 128
	MaxOtherIDLen     = 128 // wechat, martjackId, fbId: ids of other systems
	MaxCommChannelLen = 254 // a wechat comm channel; email and mobile as their identifiers
)

// Limit describes one entry of the limits table, for docs and tests.
type Limit struct {
	Name  string // what is limited
	Value int
	Unit  string // "characters", "bytes" or "" (a count)
	Code  Code   // the error when a command exceeds it (0: ErrBadCommand, the DLQ)
	// Stored: the limit also binds the stored customer, and a command that
	// would grow one past it gets CodeCustomerFull (8905).
	Stored bool
}

// LimitTable lists the limits a producer can hit, in the order of
// docs/wire.md's table.
var LimitTable = []Limit{
	{"requestId length", MaxRequestIDLen, "bytes", 0, false},
	{"accountId length", MaxAccountIDLen, "characters", CodeInvalidSourceAccount, false},
	{"profiles per register/update body", MaxProfilesPerBody, "", CodeTooMany, false},
	{"identifiers per register/update body (all profiles)", MaxIdentifiersPerBody, "", CodeTooMany, false},
	{"identifiers in changeIdentifier add, and in remove", MaxChangeIdentifiers, "", CodeTooMany, false},
	{"comm channels per body, per stored profile", MaxCommChannelsPerProfile, "", CodeTooMany, true},
	{"meta flags per comm channel", MaxChannelMeta, "", CodeTooMany, false},
	{"subscriptions per subscriptions body", MaxSubscriptionsPerBody, "", CodeTooMany, false},
	{"first name, last name length", MaxNameLen, "characters", CodeBadText, false},
	{"custom fields per body, per stored profile", MaxFields, "", CodeTooMany, true},
	{"extended fields per body, per customer", MaxExtendedFields, "", CodeTooMany, true},
	{"field key length (custom, extended, meta)", MaxFieldKeyLen, "characters", CodeBadText, false},
	{"field value length (custom, extended)", MaxFieldValueLen, "characters", CodeBadText, false},
	{"identifiers per customer", MaxIdentifiersPerCustomer, "", CodeCustomerFull, true},
	{"profiles per customer (with conflicting profiles)", MaxProfilesPerCustomer, "", CodeCustomerFull, true},
	{"customer weight (upper bound of its JSON snapshot)", MaxCustomerWeight, "bytes", CodeCustomerFull, true},
	{"errors listed in one result", MaxIssues, "", CodeMoreIssues, false},
	{"search q length", MaxSearchQueryLen, "characters", CodeBadText, false},
	{"email length (local part 64)", MaxEmailLen, "characters", CodeInvalidEmail, false},
	{"mobile digits, with country code", MaxMobileDigits, "", CodeInvalidMobile, false},
	{"externalId length", MaxExternalIDLen, "characters", CodeInvalidExternalID, false},
	{"wechat, martjackId, fbId length", MaxOtherIDLen, "characters", CodeInvalidIdentifier, false},
	{"wechat comm channel length", MaxCommChannelLen, "characters", CodeInvalidCommChannel, false},
}

// LimitRow is l as a row of docs/wire.md's table of command limits:
// | what | at most | over it |. A test holds the doc to these rows.
func LimitRow(l Limit) string {
	v := strconv.Itoa(l.Value)
	if l.Unit != "" {
		v += " " + l.Unit
	}
	over := "DLQ `bad-request-id`"
	if l.Code != 0 {
		over = fmt.Sprintf("%d %s", int(l.Code), l.Code.Message())
		if l.Stored && l.Code != CodeCustomerFull {
			over += fmt.Sprintf("; a command that would grow a stored customer past it: %d", int(CodeCustomerFull))
		}
	}
	return fmt.Sprintf("| %s | %s | %s |", l.Name, v, over)
}
