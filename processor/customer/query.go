package customer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Search limits (DOMAIN.md, "search").
const (
	DefaultSearchLimit = 10
	MaxSearchLimit     = 100
	// MaxSearchCandidates is how many customers a query of several words
	// reads, at most, to check its other words: the newest of those
	// matching its most selective word. Past it the answer carries
	// warning 8907 and its total counts only the matches among them.
	MaxSearchCandidates = 1000
)

// The queries below are pure functions over a Reader. A rule violation is
// an Issue in the view's Errors; the error return is for store failures.

// Lookup finds the customer holding an identifier in one scope, or in any
// scope with source ALL. The value is normalised first, so "+91 91111
// 11111" finds 919111111111.
func Lookup(cfg Config, r Reader, org int64, source, accountID, idName, idValue string) (LookupView, error) {
	v := LookupView{Warnings: []Issue{}}
	sc, iss := checkScope(cfg, source, accountID, true)
	if iss != nil {
		v.Errors = []Issue{*iss}
		return v, nil
	}
	if !knownIdentifier(idName) {
		v.Errors = []Issue{Issuef(CodeInvalidIdentifier, "Customer identifier is invalid: identifierName %s; use mobile, email, externalId, wechat, martjackId or fbId", echo(idName))}
		return v, nil
	}
	id, iss := normaliseIdentifier(cfg, Identifier{Type: idName, Value: idValue})
	if iss != nil {
		v.Errors = []Issue{*iss}
		return v, nil
	}
	var owner int64
	if sc.Source == SourceAll {
		hs, err := r.Holders(org, id)
		if err != nil {
			return v, fmt.Errorf("lookup of a %s in org %d: %w", echo(idName), org, err)
		}
		if len(hs) == 0 {
			v.Errors = []Issue{Issuef(CodeNotFoundByIdentifier, "No customer found with the given identifier: %s %s", idName, echo(idValue))}
			return v, nil
		}
		owner = hs[0].CustomerID
	} else {
		o, ok, err := r.OwnerInScope(org, sc.Source, sc.AccountID, id)
		if err != nil {
			return v, fmt.Errorf("lookup of a %s in %s of org %d: %w", echo(idName), sc, org, err)
		}
		if !ok {
			v.Errors = []Issue{Issuef(CodeNotFoundInSource, "No customer found in the given source with the given identifier: %s %s in %s", idName, echo(idValue), sc)}
			return v, nil
		}
		owner = o
	}
	s, err := survivor(r, owner)
	if err != nil {
		return v, fmt.Errorf("lookup of a %s in org %d: %w", echo(idName), org, err)
	}
	v.Entity = s
	return v, nil
}

// FetchRequest is the parameters of fetch.
type FetchRequest struct {
	ID        int64
	Source    string // a source or ALL
	AccountID string
	// Embed is the embed parameter: a comma-separated list of points,
	// subscriptions and mlp (quotes allowed, as the API doc writes them);
	// other names are ignored.
	Embed string
}

// Fetch renders a customer: with source ALL every profile, else the one
// profile of that source/account (8065 when there is none).
func Fetch(cfg Config, r Reader, org int64, req FetchRequest) (FetchView, error) {
	v := emptyFetch(req.ID)
	sc, iss := checkScope(cfg, req.Source, req.AccountID, true)
	if iss != nil {
		v.Errors = []Issue{*iss}
		return v, nil
	}
	c, errv, err := live(r, org, req.ID)
	if err != nil || errv != nil {
		v.Errors = []Issue{deref(errv)}
		return v, err
	}
	var only *Profile
	if sc.Source != SourceAll {
		i := profileIn(c, sc)
		if i < 0 {
			v.Errors = []Issue{Issuef(CodeNotFoundInSource, "No customer found in the given source with the given identifier: customer %d has no profile in %s", c.ID, sc)}
			return v, nil
		}
		only = &c.Profiles[i]
	}
	return fetchView(cfg, c, only, parseEmbed(req.Embed)), nil
}

func parseEmbed(s string) embeds {
	var e embeds
	for _, part := range strings.Split(s, ",") {
		switch strings.ToLower(strings.Trim(part, " \"'")) {
		case "points":
			e.points = true
		case "subscriptions":
			e.subscriptions = true
		case "mlp":
			e.mlp = true
		}
	}
	return e
}

// live loads a live customer of org, for a query or for a write that
// changes it (update, subscriptions): 8009 when it does not exist (or
// belongs to another org), 8069 naming the survivor when it was merged
// away.
func live(r Reader, org, id int64) (*Customer, *Issue, error) {
	c, iss, err := loadCustomer(r, org, id)
	if err != nil || iss != nil {
		return nil, iss, err
	}
	if c.MergedInto != 0 {
		iss, err := mergedAway(r, c)
		if err != nil {
			return nil, nil, err
		}
		return nil, &iss, nil
	}
	return c, nil, nil
}

func deref(iss *Issue) Issue {
	if iss == nil {
		return Issue{}
	}
	return *iss
}

// Search finds live customers by a case-insensitive prefix of a first
// name, last name or identifier value, newest first. limit ≤ 0 means 10,
// limits above 100 are capped, a negative offset counts as 0. A query of
// several words matches customers matching every word; a query that looks
// like a phone number ("+91 91111") is searched as its digits. An empty
// query finds nothing; one longer than MaxSearchQueryLen characters is
// refused (8904): every word of it is a prefix scan.
func Search(cfg Config, r Reader, org int64, q string, limit, offset int) (SearchView, error) {
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	limit = min(limit, MaxSearchLimit)
	offset = max(offset, 0)
	v := SearchView{Pagination: Pagination{Limit: limit, Offset: offset}, Data: []SearchHit{}, Warnings: []Issue{}, Errors: []Issue{}}
	if q = strings.TrimSpace(q); len(q) > MaxSearchQueryLen && utf8.RuneCountInString(q) > MaxSearchQueryLen {
		v.Errors = []Issue{Issuef(CodeBadText, "%s: q %s is longer than %d characters", CodeBadText.Message(), echo(q), MaxSearchQueryLen)}
		return v, nil
	}
	words := searchWords(q)
	if len(words) == 0 {
		return v, nil
	}
	var ids []int64
	var err error
	if len(words) == 1 {
		ids, v.Pagination.Total, err = r.Search(org, words[0], limit, offset)
		if err != nil {
			return v, fmt.Errorf("search in org %d: %w", org, err)
		}
	} else {
		var capped *Issue
		ids, v.Pagination.Total, capped, err = searchAll(r, org, words, limit, offset)
		if err != nil {
			return v, fmt.Errorf("search in org %d: %w", org, err)
		}
		if capped != nil {
			v.Warnings = append(v.Warnings, *capped)
		}
	}
	for _, id := range ids {
		c, ok, err := r.Customer(id)
		if err != nil {
			return v, fmt.Errorf("search in org %d: reading customer %d: %w", org, id, err)
		}
		if ok {
			v.Data = append(v.Data, searchHit(c, words))
		}
	}
	return v, nil
}

// searchWords splits a query into lower-cased words, or one word of digits
// when it looks like a phone number.
func searchWords(q string) []string {
	q = strings.ToLower(strings.TrimSpace(q))
	if strings.ContainsAny(q, "0123456789") && strings.Trim(q, "0123456789+-() ") == "" {
		if d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, q); d != "" {
			return []string{d}
		}
	}
	return strings.Fields(q)
}

// searchAll answers a query of several words. Each word's index scan
// gives its exact count and its newest MaxSearchCandidates customers; the
// word with the fewest matches drives, and only its candidates are read to
// check the other words. Below the cap the total is exact; above it, it
// counts the matches among the candidates read, and the returned warning
// says so. (Before the cap, `q=9 a` read every customer matching "9".)
func searchAll(r Reader, org int64, words []string, limit, offset int) ([]int64, int, *Issue, error) {
	var cands []int64
	driver, matching := "", -1
	for _, w := range words {
		ids, n, err := r.Search(org, w, MaxSearchCandidates, 0)
		if err != nil {
			return nil, 0, nil, err
		}
		if matching < 0 || n < matching {
			cands, driver, matching = ids, w, n
		}
		if n == 0 {
			return nil, 0, nil, nil
		}
	}
	var match []int64
	for _, id := range cands {
		c, ok, err := r.Customer(id)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("reading customer %d: %w", id, err)
		}
		if ok && matchesAll(SearchTokens(c), words) {
			match = append(match, id)
		}
	}
	var capped *Issue
	if matching > len(cands) {
		iss := Issuef(CodeSearchCapped, "%s: the query's most selective word %s matches %d customers; the newest %d of them were checked against the other words, and the total counts the matches among those. Lengthen a word to see the rest", CodeSearchCapped.Message(), echo(driver), matching, len(cands))
		capped = &iss
	}
	total := len(match)
	if offset >= total {
		return nil, total, capped, nil
	}
	return match[offset:min(total, offset+limit)], total, capped, nil
}

func matchesAll(tokens, words []string) bool {
	for _, w := range words {
		found := false
		for _, t := range tokens {
			if strings.HasPrefix(t, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// searchHit lists what matched, profile by profile (names, then
// identifiers), and the customer's short profiles.
func searchHit(c *Customer, words []string) SearchHit {
	h := SearchHit{UserID: c.ID, MatchedIdentifiers: []Match{}, Profiles: []SearchProfile{}}
	matches := func(s string) bool {
		for _, f := range strings.Fields(strings.ToLower(s)) {
			for _, w := range words {
				if strings.HasPrefix(f, w) {
					return true
				}
			}
		}
		return false
	}
	for _, p := range c.Profiles {
		h.Profiles = append(h.Profiles, SearchProfile{Source: p.Source, FirstName: p.FirstName, LastName: p.LastName})
		if matches(p.FirstName) {
			h.MatchedIdentifiers = append(h.MatchedIdentifiers, Match{"firstName", p.FirstName, p.Source, p.AccountID})
		}
		if matches(p.LastName) {
			h.MatchedIdentifiers = append(h.MatchedIdentifiers, Match{"lastName", p.LastName, p.Source, p.AccountID})
		}
		for _, id := range p.Identifiers {
			if matches(id.Value) {
				h.MatchedIdentifiers = append(h.MatchedIdentifiers, Match{id.Type, id.Value, p.Source, p.AccountID})
			}
		}
	}
	return h
}

// LoyaltyDetails lists the customer's loyalty programs: the org's default
// program (zeros until the loyalty engine publishes a balance) and every
// program it has a balance in. programID 0 means every program; a
// non-loyalty customer, or a program the customer is not in, is 8089.
func LoyaltyDetails(cfg Config, r Reader, org, id, programID int64) (LoyaltyDetailsView, error) {
	v := LoyaltyDetailsView{Data: []ProgramDetails{}, Warnings: []Issue{}, Errors: []Issue{}}
	c, iss, err := live(r, org, id)
	if err != nil || iss != nil {
		if iss != nil {
			v.Errors = []Issue{*iss}
		}
		return v, err
	}
	in := programID == 0 || programID == cfg.LoyaltyProgramID || pointsOf(c, programID) >= 0
	if c.LoyaltyType != Loyalty || !in {
		v.Errors = []Issue{notInProgram(c.ID, programID)}
		return v, nil
	}
	if programID == 0 {
		v.Data = allPrograms(cfg, c)
	} else {
		v.Data = []ProgramDetails{programDetails(cfg, c, programID)}
	}
	return v, nil
}

// SubscriptionsOf lists the customer's subscriptions.
func SubscriptionsOf(cfg Config, r Reader, org, id int64) (SubscriptionsView, error) {
	v := SubscriptionsView{Subscriptions: []SubscriptionView{}, Warnings: []Issue{}}
	c, iss, err := live(r, org, id)
	if err != nil || iss != nil {
		if iss != nil {
			v.Errors = []Issue{*iss}
		}
		return v, err
	}
	v.Subscriptions = subscriptionViews(c.Subscriptions)
	return v, nil
}
