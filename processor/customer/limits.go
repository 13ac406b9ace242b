package customer

// Limits: every record must have bounded cost. This file is the one table
// of them, used by the rules, by the tests that document them, and by the
// packages that check what the domain never sees (the facade can refuse
// over-long query parameters before routing).
//
// The values are chosen so that no legitimate integration hits them: the
// API doc's samples carry one profile with one to three identifiers, two
// comm channels, two custom fields, two extended fields and four
// subscriptions; realistic loyalty data (a person in the four default
// sources and a few WeChat or Facebook accounts, two or three mobiles and
// e-mails, a few dozen custom fields configured by the org) stays far
// below every length. What the limits stop is junk and hostility: a
// 300,000-character name, NUL, ESC and CR/LF in names and fields.
//
// Lengths of text are in characters (Unicode code points, after trimming
// where the value is trimmed), as people count them; a character is at most
// 4 bytes of UTF-8.
const (
	// MaxAccountIDLen is the longest accountId (of a command, a query or a
	// subscription entry): WeChat app ids are 18 characters, Facebook page
	// ids ~16 digits. Over it: 8011.
	MaxAccountIDLen = 64

	// MaxNameLen is the longest first name and last name, in characters.
	// Long real names (Spanish, Portuguese, Indian with initials spelled
	// out) stay well under 100.
	MaxNameLen = 128

	// MaxFieldKeyLen and MaxFieldValueLen bound a custom or extended
	// field's key (a configured field name, e.g. "Favorite Color") and
	// value (a preference, a date, a store code, an address line), in
	// characters. Keys may not be empty; values may (an update clearing a
	// field).
	MaxFieldKeyLen   = 64
	MaxFieldValueLen = 256

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
