package customer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// knownIdentifier reports whether t is one of the API's identifier types.
// Types are matched exactly, as the API spells them ("externalId").
func knownIdentifier(t string) bool {
	switch t {
	case IDMobile, IDEmail, IDExternalID, IDWechat, IDMartjackID, IDFbID:
		return true
	}
	return false
}

// invalidCode is the error code for an invalid value of identifier type t.
func invalidCode(t string) Code {
	switch t {
	case IDEmail:
		return CodeInvalidEmail
	case IDMobile:
		return CodeInvalidMobile
	case IDExternalID:
		return CodeInvalidExternalID
	}
	return CodeInvalidIdentifier
}

// normaliseIdentifier validates id and returns it normalised: email keeps
// its trimmed original spelling (Key lower-cases it), mobile becomes digits
// with country code, the others are trimmed. A rejected identifier comes
// back as an Issue with the type's code.
func normaliseIdentifier(cfg Config, id Identifier) (Identifier, *Issue) {
	if !knownIdentifier(id.Type) {
		iss := Issuef(CodeInvalidIdentifier, "Identifier type %s is invalid; use mobile, email, externalId, wechat, martjackId or fbId", echo(id.Type))
		return Identifier{}, &iss
	}
	trimmed := strings.TrimSpace(id.Value)
	var value string
	var why string
	switch id.Type {
	case IDEmail:
		value, why = normaliseEmail(trimmed)
	case IDMobile:
		value, why = normaliseMobile(cfg, trimmed)
	case IDExternalID:
		value, why = checkText(trimmed, MaxExternalIDLen)
	default:
		value, why = checkText(trimmed, MaxOtherIDLen)
	}
	out := Identifier{Type: id.Type, Value: value}
	if why == "" && cfg.denied(trimmed, out.Key()) {
		why = "is a placeholder value"
	}
	if why != "" {
		iss := Issuef(invalidCode(id.Type), "%s: %s %s %s", invalidCode(id.Type).Message(), id.Type, echo(id.Value), why)
		return Identifier{}, &iss
	}
	return out, nil
}

// normaliseEmail checks an address (already trimmed) and returns it as
// given; the reason is empty when it is valid. Deliberately simpler than
// RFC 5322: no quoted local parts, comments or display names ("Tom
// <tom@example.com>"), which upstream systems send only by mistake.
func normaliseEmail(s string) (string, string) {
	switch {
	case s == "":
		return "", "is empty"
	case len(s) > MaxEmailLen:
		return "", fmt.Sprintf("is longer than %d characters", MaxEmailLen)
	case strings.Count(s, "@") != 1:
		return "", "must have exactly one @"
	case strings.ContainsAny(s, " <>\"(),;:[]\\"):
		return "", "must be a bare address (no display name, spaces or quotes)"
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f || !utf8.ValidRune(r) {
			return "", "contains control characters"
		}
	}
	local, domain, _ := strings.Cut(s, "@")
	switch {
	case local == "":
		return "", "has an empty local part"
	case len(local) > MaxEmailLocalLen:
		return "", fmt.Sprintf("has a local part longer than %d characters", MaxEmailLocalLen)
	case !strings.Contains(domain, "."):
		return "", "has no dot in the domain"
	case strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, ".."):
		return "", "has an empty label in the domain"
	}
	return s, ""
}

// normaliseMobile turns s (trimmed) into digits with country code; the
// reason is empty when it is valid. "+", spaces, dashes and brackets are
// removed; "+" or a leading "00" mark an international number. A national
// number (trunk "0" or short) takes cfg.DefaultCountryCode when one is set.
func normaliseMobile(cfg Config, s string) (string, string) {
	international := strings.HasPrefix(s, "+")
	// Numbers usually arrive as bare digits: then s is its own digit
	// string, and only a formatted number needs a new one (of one
	// allocation: the digits are no longer than s).
	d := s
	if !allDigits(s) {
		var b strings.Builder
		b.Grow(len(s))
		for _, r := range s {
			switch {
			case r >= '0' && r <= '9':
				b.WriteByte(byte(r))
			case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')':
			default:
				return "", "must contain only digits, +, spaces, dashes and brackets"
			}
		}
		d = b.String()
	}
	if !international && strings.HasPrefix(d, "00") {
		international = true
		d = d[2:]
	}
	if !international && cfg.DefaultCountryCode != "" &&
		(strings.HasPrefix(d, "0") || len(d) <= cfg.NationalMaxDigits) {
		d = cfg.DefaultCountryCode + strings.TrimLeft(d, "0")
	}
	if len(d) < MinMobileDigits || len(d) > MaxMobileDigits {
		return "", fmt.Sprintf("must have %d to %d digits with country code", MinMobileDigits, MaxMobileDigits)
	}
	if d[0] == '0' {
		return "", "has no country code"
	}
	return d, ""
}

// checkText checks a free-text identifier (already trimmed): non-empty, at
// most max characters, valid UTF-8 without control characters (textProblem).
func checkText(s string, max int) (string, string) {
	if s == "" {
		return "", "is empty"
	}
	if why := textProblem(s, max); why != "" {
		return "", why
	}
	return s, ""
}

// textProblem says what makes s unfit to store as text of at most max
// characters, or "" when it is fine (empty is fine: callers that need a
// value check that). Refused: invalid UTF-8, C0 and C1 control characters
// (NUL, ESC, CR, LF, DEL, … and TAB too) and the Unicode line and paragraph
// separators U+2028 and U+2029. Names, fields and identifiers are
// single-line values shown in forms, exported to CSV and matched by
// search: a control character there is a producer's bug (or an attack on
// a log or terminal), never data. TAB is no exception: it is invisible, it
// splits CSV and TSV exports, and it makes "Tom\tSawyer" differ from "Tom
// Sawyer"; a producer that means a space can send one. Format characters
// (ZWJ, ZWNJ, bidi marks) are allowed: names in Indic, Persian and emoji
// need them.
func textProblem(s string, max int) string {
	// A UTF-8 character is at most 4 bytes: longer than 4×max bytes is
	// too long without counting.
	if len(s) > 4*max || utf8.RuneCountInString(s) > max {
		return fmt.Sprintf("is longer than %d characters", max)
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return "is not valid UTF-8"
		case unicode.IsControl(r), r == '\u2028', r == '\u2029':
			return "contains control characters"
		}
		i += n
	}
	return ""
}

// echo quotes a value for a message, cut to MaxEchoLen characters (marked
// with "…" after the quote), so a message never carries a huge value back.
func echo(s string) string {
	if len(s) <= MaxEchoLen {
		return strconv.Quote(s)
	}
	n := 0
	for i := range s {
		if n == MaxEchoLen {
			return strconv.Quote(s[:i]) + "…"
		}
		n++
	}
	return strconv.Quote(s)
}

// clip cuts s to at most max characters, marking a cut with "…".
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
