package customer

import (
	"fmt"
)

// update changes a customer's details in one scope (DOMAIN.md, "update"):
// names, custom fields, extended fields, comm channels and loyalty type
// (non_loyalty → loyalty only, else 8018). It does not change identifiers:
// those the customer holds in the scope are ignored, those another customer
// holds there are refused (8008), those nobody holds there are left out
// with warning CodeIdentifierNotAdded. A customer with no profile in the
// scope gains one.
//
// Update patches: empty names leave the stored names alone, given fields
// and extended fields are set and others kept, a given comm channel
// replaces the stored one of the same type and value and others are kept.
func update(cfg Config, st Store, cmd Command) (plan, []Issue, error) {
	sc, iss := checkScope(cfg, cmd.Source, cmd.AccountID, false)
	if iss != nil {
		return fail(*iss)
	}
	orig, iss, err := live(st, cmd.Org, cmd.CustomerID)
	if err != nil || iss != nil {
		return failOrErr(iss, err)
	}
	in, errs := readBody(cfg, cmd.Update)
	if in.LoyaltyType == NonLoyalty && orig.LoyaltyType != NonLoyalty {
		errs = append(errs, NewIssue(CodeLoyaltyDowngrade, ""))
	}
	var notAdded []Identifier
	for _, id := range in.Identifiers {
		owner, ok, err := st.OwnerInScope(cmd.Org, sc.Source, sc.AccountID, id)
		if err != nil {
			return plan{}, nil, fmt.Errorf("looking up %s %q in %s: %w", id.Type, id.Value, sc, err)
		}
		switch {
		case ok && owner != orig.ID:
			errs = append(errs, Issuef(CodeHeldByOtherOnUpdate, "Different profiles are identified in the same source: %s %q is held by customer %d in %s", id.Type, id.Value, owner, sc))
		case !ok:
			notAdded = append(notAdded, id)
		}
	}
	if len(errs) > 0 {
		return plan{}, errs, nil
	}

	c := orig.Clone()
	now := cmd.Time.UTC()
	if i := profileIn(c, sc); i < 0 {
		addProfile(c, newProfile(sc, in, now, now))
	} else {
		p := &c.Profiles[i]
		if in.FirstName != "" {
			p.FirstName = in.FirstName
		}
		if in.LastName != "" {
			p.LastName = in.LastName
		}
		if p.Fields == nil {
			p.Fields = map[string]string{}
		}
		for k, v := range in.Fields {
			p.Fields[k] = v
		}
		replaceChannels(p, in.Channels)
		p.ModifiedDate = now
	}
	if c.ExtendedFields == nil {
		c.ExtendedFields = map[string]string{}
	}
	for k, v := range in.ExtendedFields {
		c.ExtendedFields[k] = v
	}
	if in.LoyaltyType == Loyalty {
		c.LoyaltyType = Loyalty
	}
	c.ModifiedDate = now

	pl := plan{puts: []*Customer{c}, before: []*Customer{orig}, createdID: c.ID}
	if len(notAdded) > 0 {
		pl.warnings = append(pl.warnings, Issuef(CodeIdentifierNotAdded, "%s: %s", CodeIdentifierNotAdded.Message(), describe(notAdded)))
	}
	return pl, nil, nil
}

// replaceChannels sets each of add on p: it replaces the channel of the same
// type and value in place, or is appended.
func replaceChannels(p *Profile, add []CommChannel) {
	for _, ch := range add {
		replaced := false
		for i := range p.CommChannels {
			if channelKey(p.CommChannels[i]) == channelKey(ch) {
				p.CommChannels[i] = ch
				replaced = true
				break
			}
		}
		if !replaced {
			p.CommChannels = append(p.CommChannels, ch)
		}
	}
}

// failOrErr returns a store error, else a one-issue failure.
func failOrErr(iss *Issue, err error) (plan, []Issue, error) {
	if err != nil {
		return plan{}, nil, err
	}
	return fail(*iss)
}
