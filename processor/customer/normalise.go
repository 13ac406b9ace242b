package customer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of identifier values (DOMAIN.md, "Normalisation and validation").
const (
	maxEmailLocal  = 64
	maxEmail       = 254
	minMobile      = 8
	maxMobile      = 15
	maxExternalID  = 128
	maxOtherID     = 128 // wechat, martjackId, fbId: ids of other systems
	maxAccountID   = 64
	maxCommChannel = 254
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
		iss := Issuef(CodeInvalidIdentifier, "Identifier type %q is invalid; use mobile, email, externalId, wechat, martjackId or fbId", id.Type)
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
		value, why = checkText(trimmed, maxExternalID)
	default:
		value, why = checkText(trimmed, maxOtherID)
	}
	out := Identifier{Type: id.Type, Value: value}
	if why == "" && cfg.denied(trimmed, out.Key()) {
		why = "is a placeholder value"
	}
	if why != "" {
		iss := Issuef(invalidCode(id.Type), "%s: %s %q %s", invalidCode(id.Type).Message(), id.Type, id.Value, why)
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
	case len(s) > maxEmail:
		return "", fmt.Sprintf("is longer than %d characters", maxEmail)
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
	case len(local) > maxEmailLocal:
		return "", fmt.Sprintf("has a local part longer than %d characters", maxEmailLocal)
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
	if len(d) < minMobile || len(d) > maxMobile {
		return "", fmt.Sprintf("must have %d to %d digits with country code", minMobile, maxMobile)
	}
	if d[0] == '0' {
		return "", "has no country code"
	}
	return d, ""
}

// checkText checks a free-text identifier (already trimmed): non-empty, at
// most max characters, no control characters.
func checkText(s string, max int) (string, string) {
	switch {
	case s == "":
		return "", "is empty"
	case utf8.RuneCountInString(s) > max:
		return "", fmt.Sprintf("is longer than %d characters", max)
	case !utf8.ValidString(s):
		return "", "is not valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", "contains control characters"
		}
	}
	return s, ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
