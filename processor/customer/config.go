package customer

import (
	"errors"
	"fmt"
	"strings"
)

// Config is the org-level configuration of the rules. Build it with
// DefaultConfig and change what differs; Validate before use.
type Config struct {
	// Sources are the source systems commands and queries may name, each
	// single- or multi-account. Default: DefaultSources() (INSTORE and
	// MARTJACK single-account, WECHAT and FACEBOOK multi-account).
	Sources []Source

	// DefaultCountryCode (digits only, e.g. "91") is prefixed to mobile
	// numbers that arrive without a country code: numbers written without
	// "+" or "00" that have a national trunk "0" or at most
	// NationalMaxDigits digits. Empty (the default) means numbers are taken
	// as given, which is right when every producer sends full E.164
	// numbers; set it for orgs whose stores type national numbers.
	DefaultCountryCode string
	// NationalMaxDigits is the longest number taken as national when
	// DefaultCountryCode is set. Default 10 (India, US, most of Europe).
	NationalMaxDigits int

	// DenyList holds placeholder values (compared case-insensitively with
	// the trimmed value and with the normalised key) that are rejected as
	// invalid identifiers, so junk data cannot merge thousands of
	// customers into one. Values made only of zeros and dashes are always
	// rejected. Default: DefaultDenyList().
	DenyList []string

	// DefaultSubscriptions are given to every freshly registered customer.
	// Default: the four EMAIL/SMS × TRANS/BULK subscriptions as OPTIN. An
	// empty, non-nil slice gives fresh customers none.
	DefaultSubscriptions []Subscription

	// LoyaltyProgramID and LoyaltyProgramName name the org's default loyalty
	// program, in which every loyalty customer's points start at zero
	// (loyaltyDetails, embed=points and embed=mlp). Defaults 1 and
	// "Default". The name is not part of the API's response shapes; it is
	// kept for operators and docs.
	LoyaltyProgramID   int64
	LoyaltyProgramName string
	// DefaultSlab is the tier shown for customers of the default program
	// (currentSlab). Default "Base".
	DefaultSlab string
}

// DefaultDenyList is the default list of placeholder identifier values.
func DefaultDenyList() []string {
	return []string{
		"null", "nil", "none", "na", "n/a", "-1", "0", "undefined", "unknown",
		"anonymous", "test", "dummy",
		"test@test.com", "test@example.com", "example@example.com",
		"noemail@noemail.com", "no@email.com", "none@none.com", "abc@abc.com",
		"1234567890", "9999999999", "0000000000",
	}
}

// DefaultSubscriptions are EMAIL and SMS, TRANS and BULK, all OPTIN, in the
// stored order.
func DefaultSubscriptions() []Subscription {
	return sortedSubscriptions([]Subscription{
		{Channel: "EMAIL", Priority: "TRANS", Type: "OPTIN"},
		{Channel: "SMS", Priority: "TRANS", Type: "OPTIN"},
		{Channel: "EMAIL", Priority: "BULK", Type: "OPTIN"},
		{Channel: "SMS", Priority: "BULK", Type: "OPTIN"},
	})
}

// DefaultConfig returns the configuration the API doc describes.
func DefaultConfig() Config {
	return Config{
		Sources:              DefaultSources(),
		NationalMaxDigits:    10,
		DenyList:             DefaultDenyList(),
		DefaultSubscriptions: DefaultSubscriptions(),
		LoyaltyProgramID:     1,
		LoyaltyProgramName:   "Default",
		DefaultSlab:          "Base",
	}
}

// Validate reports the first thing wrong with c.
func (c Config) Validate() error {
	if len(c.Sources) == 0 {
		return errors.New("no sources configured")
	}
	seen := map[string]bool{}
	for _, s := range c.Sources {
		switch {
		case s.Name == "":
			return errors.New("a source has no name")
		case s.Name != strings.ToUpper(s.Name):
			return fmt.Errorf("source %q: names are upper case", s.Name)
		case len(s.Name) > MaxAccountIDLen:
			return fmt.Errorf("source %q: names are at most %d characters", s.Name, MaxAccountIDLen)
		case s.Name == SourceAll:
			return fmt.Errorf("source %q is reserved for reads across all sources", s.Name)
		case seen[s.Name]:
			return fmt.Errorf("source %q configured twice", s.Name)
		}
		seen[s.Name] = true
	}
	if c.DefaultCountryCode != "" {
		if !allDigits(c.DefaultCountryCode) || len(c.DefaultCountryCode) > 3 || c.DefaultCountryCode[0] == '0' {
			return fmt.Errorf("default country code %q: want 1 to 3 digits, not starting with 0", c.DefaultCountryCode)
		}
		if c.NationalMaxDigits < 4 || c.NationalMaxDigits > 14 {
			return fmt.Errorf("national max digits %d: want 4 to 14", c.NationalMaxDigits)
		}
	}
	for _, s := range c.DefaultSubscriptions {
		if _, iss := normaliseSubscription(s); iss != nil {
			return fmt.Errorf("default subscription %+v: %s", s, iss.Message)
		}
	}
	if c.LoyaltyProgramID <= 0 {
		return fmt.Errorf("loyalty program id %d: want a positive id", c.LoyaltyProgramID)
	}
	return nil
}

// source returns the configured source with the given (upper-cased) name.
func (c Config) source(name string) (Source, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// denied reports whether v (trimmed) or its key is a placeholder value.
func (c Config) denied(trimmed, key string) bool {
	if strings.Trim(trimmed, "0-+ ") == "" {
		return true // "000000", "----", "+0": never a real identifier
	}
	for _, d := range c.DenyList {
		if strings.EqualFold(d, trimmed) || strings.EqualFold(d, key) {
			return true
		}
	}
	return false
}
