package customer

// subscriptions sets channel × priority (× account) subscription states of a
// customer (DOMAIN.md, "subscriptions"). The API call names no source, so
// only the command's source is checked, not its account. Entries are applied
// in order (a later entry for the same subscription wins); the result echoes,
// in request order, the subscriptions whose state changed. A subscription
// the customer never had counts as changed by any state.
func subscriptions(cfg Config, st Store, cmd Command) (plan, []Issue, error) {
	if iss := checkWriteSource(cfg, cmd.Source); iss != nil {
		return fail(*iss)
	}
	orig, iss, err := live(st, cmd.Org, cmd.CustomerID)
	if err != nil || iss != nil {
		return failOrErr(iss, err)
	}
	if n := len(cmd.Subscriptions.Subscriptions); n > MaxSubscriptionsPerBody {
		return plan{}, overCount(nil, "subscriptions", n, MaxSubscriptionsPerBody), nil
	}
	var errs []Issue
	var order []subsKey
	want := map[subsKey]Subscription{}
	for _, raw := range cmd.Subscriptions.Subscriptions {
		s, iss := normaliseSubscription(raw)
		if iss != nil {
			errs = append(errs, *iss)
			continue
		}
		k := subKey(s)
		if _, ok := want[k]; !ok {
			order = append(order, k)
		}
		want[k] = s
	}
	if len(errs) > 0 {
		return plan{}, errs, nil
	}

	have := map[subsKey]int{}
	for i, s := range orig.Subscriptions {
		have[subKey(s)] = i
	}
	// Decide on orig, and clone only when something changes: a request
	// repeating the stored states writes nothing.
	var changed []Subscription
	for _, k := range order {
		s := want[k]
		if i, ok := have[k]; ok && orig.Subscriptions[i].Type == s.Type {
			continue
		}
		changed = append(changed, s)
	}
	pl := plan{createdID: orig.ID, subs: changed}
	if len(changed) > 0 {
		c := orig.Clone()
		for _, s := range changed {
			if i, ok := have[subKey(s)]; ok {
				c.Subscriptions[i].Type = s.Type
			} else {
				c.Subscriptions = append(c.Subscriptions, s)
			}
		}
		sortedSubscriptions(c.Subscriptions)
		c.ModifiedDate = cmd.Time.UTC()
		pl.puts, pl.before = []*Customer{c}, []*Customer{orig}
	}
	return pl, nil, nil
}
